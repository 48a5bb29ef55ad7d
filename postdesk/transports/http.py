"""``POST /inbound/mime``: raw mail over HTTP (SPEC §4).

The body is the raw message (``Content-Type: message/rfc822``); the envelope comes from
``X-Postdesk-Envelope-To`` (comma-separated) and ``X-Postdesk-Envelope-From``. Callers
authenticate with an admin's API token, or with an HMAC of the body under a key derived from
the desk's secret (``X-Postdesk-Signature: t=<unix time>,v1=<hex>``) — what local tools use.
``202`` means the mail is stored durably.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from postdesk import keys
from postdesk.channels.addresses import accepts_recipient
from postdesk.mail.envelope import Envelope, Transport
from postdesk.spool.accept import MessageTooLarge, accept
from postdesk.tickets.api_tokens import user_from_authorization

SIGNATURE_MAX_AGE = 300


def sign(body: bytes, key: bytes, timestamp: int | None = None) -> str:
    """The ``X-Postdesk-Signature`` value for ``body``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(key, f"{timestamp}.".encode() + hashlib.sha256(body).digest(), "sha256")
    return f"t={timestamp},v1={mac.hexdigest()}"


def signature_valid(header: str, body: bytes, key: bytes, now: float | None = None) -> bool:
    fields = dict(part.partition("=")[::2] for part in header.split(","))
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > SIGNATURE_MAX_AGE:
        return False
    expected = sign(body, key, timestamp).partition("v1=")[2]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def _error(status: int, title: str, description: str) -> JsonResponse:
    return JsonResponse({"error": title, "description": description}, status=status)


def _authorized(request: HttpRequest, body: bytes) -> bool:
    signature = request.headers.get("X-Postdesk-Signature")
    if signature:
        return signature_valid(signature, body, keys.inbound_hmac_key())
    user = user_from_authorization(request.headers.get("Authorization", ""))
    return user is not None and user.is_admin


@csrf_exempt
@require_POST
def inbound_mime(request: HttpRequest) -> HttpResponse:
    max_size = settings.POSTDESK.max_message_size
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return _error(400, "InvalidLength", "Content-Length is not a number")
    if length > max_size:
        return _error(413, "TooLarge", f"the message is over the {max_size} byte limit")
    content_type = request.content_type or ""
    if content_type not in ("message/rfc822", "application/octet-stream"):
        return _error(415, "UnsupportedMediaType", "send the raw message as message/rfc822")
    body = request.body
    if not _authorized(request, body):
        return _error(401, "Unauthorized", "an admin API token or a valid signature is required")
    if not body.strip():
        return _error(422, "EmptyMessage", "the body holds no message")
    rcpts = [
        r.strip() for r in request.headers.get("X-Postdesk-Envelope-To", "").split(",") if r.strip()
    ] or [settings.POSTDESK.system_address]
    unknown = [r for r in rcpts if not accepts_recipient(r)]
    if unknown:
        return _error(
            422, "UnknownRecipient", f"not a recipient of this desk: {', '.join(unknown)}"
        )
    transport = Transport.HTTP
    if request.headers.get("X-Postdesk-Transport") == Transport.PIPE and request.headers.get(
        "X-Postdesk-Signature"
    ):
        transport = Transport.PIPE
    envelope = Envelope(
        transport=transport,
        rcpt_tos=tuple(rcpts),
        mail_from=request.headers.get("X-Postdesk-Envelope-From", "")[:998],
        peer_ip=request.META.get("REMOTE_ADDR", ""),
        tls=request.is_secure(),
    )
    try:
        accepted = accept(body, envelope, max_size=max_size)
    except MessageTooLarge as exc:
        return _error(413, "TooLarge", str(exc))
    return HttpResponse(
        json.dumps({"id": accepted.message_id, "duplicate": accepted.duplicate}),
        status=202,
        content_type="application/json",
    )
