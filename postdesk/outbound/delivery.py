"""The worker's side of the outbox: claim a mail, sign it, hand it to the relay, record.

One attempt is three steps, each in its own transaction or none:

1. **claim** (short transaction): lock the row, skip it if it is finished, count the attempt
   and set ``claimed_at``; collect the recipients still pending.
2. **send** (no transaction, no lock held while talking to the network): DKIM-sign the stored
   bytes with the domain's current keys, then one SMTP transaction per recipient, because
   each has its own VERP return path (``bounces+<id>-<tag>@<desk domain>``).
3. **record** (short transaction): each recipient's reply: 2xx ``sent``, 4xx or no reply
   ``deferred`` (tried again with backoff, ``failed`` after the last attempt), 5xx ``failed``.
   The message is ``sent`` when nobody is pending any more and somebody got it, ``failed``
   when nobody did; the exact signature that was prepended is stored beside the bytes.

Duplicates. A worker killed with ``kill -9`` after the relay accepted a mail but before step
3 committed leaves the mail claimed and its recipients pending; the reaper re-queues the
task and the mail is sent once more. That is at most one duplicate per crash, the same
window SMTP itself has when a ``250`` is lost (RFC 1047), and it carries the same signed
Message-ID, so the receiving side can drop it. A claim younger than ``CLAIM_LEASE`` is
respected by other tasks for the same mail, so a stray second task can't send in parallel
with a live worker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from postdesk.jobs.retry import RetryPolicy
from postdesk.mail import dkim
from postdesk.outbound import dkim_keys
from postdesk.outbound.models import (
    OutboundMessage,
    OutboundRecipient,
    OutboundStatus,
    RecipientStatus,
)
from postdesk.outbound.relays import Relay, RelayUnavailable, Reply, relay_from_url

logger = logging.getLogger(__name__)

# Temporary failures are retried for about a day: 1, 2, 4 … minutes, then every two hours.
RETRY = RetryPolicy(max_attempts=16, base_delay=60.0, max_delay=7200.0)
CLAIM_LEASE = timedelta(seconds=120)
NO_REPLY_CODE = 421  # what a lost connection counts as: RFC 5321's "service not available"

_relays: dict[str, Relay] = {}


def current_relay() -> Relay:
    """The relay ``POSTDESK_RELAY`` names (one instance per URL and process)."""
    url = settings.POSTDESK.relay
    relay = _relays.get(url)
    if relay is None:
        relay = _relays[url] = relay_from_url(url)
    return relay


@dataclass(frozen=True)
class Claim:
    message_id: int
    from_address: str
    raw: bytes
    smtputf8: bool
    recipients: tuple[tuple[int, str, str], ...]  # (row id, address, return path)


@dataclass(frozen=True)
class Outcome:
    """What one attempt ended with: ``status`` of the message and when it is tried next."""

    status: str
    retry_at: datetime | None = None


def claim(outbound_id: int) -> Claim | str:
    """Step 1. A :class:`Claim`, or why there is nothing to send now."""
    now = timezone.now()
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().filter(pk=outbound_id).first()
        if message is None:
            return "missing"
        if message.status != OutboundStatus.QUEUED:
            return f"already-{message.status}"
        if message.claimed_at is not None and now - message.claimed_at < CLAIM_LEASE:
            return "claimed"
        pending = list(
            message.recipients.filter(status__in=RecipientStatus.pending()).values_list(
                "id", "address", "return_path"
            )
        )
        if not pending:
            return "nothing-pending"
        message.attempts += 1
        message.claimed_at = now
        message.save(update_fields=["attempts", "claimed_at"])
        return Claim(
            message_id=message.pk,
            from_address=message.from_address,
            raw=bytes(message.raw),
            smtputf8=message.smtputf8,
            recipients=tuple(pending),
        )


def sign(from_address: str, raw: bytes) -> bytes:
    """The ``DKIM-Signature`` fields for mail From ``from_address`` (empty: unsigned)."""
    signing = dkim_keys.signing_keys(from_address.rpartition("@")[2])
    if not signing:
        return b""
    signed = dkim.sign_message(raw, signing)
    return signed[: len(signed) - len(raw)]


def send(claimed: Claim, relay: Relay) -> tuple[bytes, dict[int, Reply]]:
    """Step 2. The signature used and a reply for every pending recipient."""
    signature = sign(claimed.from_address, claimed.raw)
    data = signature + claimed.raw
    replies: dict[int, Reply] = {}
    try:
        with relay.session() as session:
            for row_id, address, return_path in claimed.recipients:
                answer = session.send(return_path, [address], data, smtputf8=claimed.smtputf8)
                replies[row_id] = answer[address]
    except RelayUnavailable as error:
        lost = Reply(NO_REPLY_CODE, f"no reply: {error}")
        for row_id, _address, _path in claimed.recipients:
            replies.setdefault(row_id, lost)
    return signature, replies


def _recipient_status(reply: Reply, last_attempt: bool) -> str:
    if reply.accepted:
        return RecipientStatus.SENT
    if reply.permanent or last_attempt:
        return RecipientStatus.FAILED
    return RecipientStatus.DEFERRED


def record(claimed: Claim, relay_name: str, signature: bytes, replies: dict[int, Reply]) -> Outcome:
    """Step 3. Store every reply and decide what happens to the message next."""
    from postdesk.outbound.tasks import send_outbound

    now = timezone.now()
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().get(pk=claimed.message_id)
        retry_at = RETRY.next_attempt_at(message.attempts, now)
        rows = {r.pk: r for r in message.recipients.filter(pk__in=list(replies))}
        for row_id, reply in replies.items():
            row = rows[row_id]
            row.status = _recipient_status(reply, last_attempt=retry_at is None)
            row.reply_code = reply.code
            row.reply_text = reply.text[:2000]
            row.attempts += 1
        OutboundRecipient.objects.bulk_update(
            rows.values(), ["status", "reply_code", "reply_text", "attempts", "updated_at"]
        )
        statuses = list(message.recipients.values_list("status", flat=True))
        message.claimed_at = None
        message.relay = relay_name
        message.dkim_signature = signature.decode("ascii")
        problems = [f"{rows[i].address}: {r}" for i, r in replies.items() if not r.accepted]
        message.last_error = "\n".join(problems)[:8000]
        if any(s in RecipientStatus.pending() for s in statuses):
            message.next_attempt_at = retry_at
            send_outbound.using(run_after=retry_at).enqueue(message.pk)
        else:
            delivered = any(s in (RecipientStatus.SENT, RecipientStatus.BOUNCED) for s in statuses)
            message.status = OutboundStatus.SENT if delivered else OutboundStatus.FAILED
            message.next_attempt_at = None
            if delivered:
                message.sent_at = now
        message.save()
    if message.status == OutboundStatus.FAILED:
        logger.warning("outbound %s failed: %s", message.pk, message.last_error[:500])
    return Outcome(status=message.status, retry_at=message.next_attempt_at)


def deliver(outbound_id: int, relay: Relay | None = None) -> str:
    """One attempt at sending a stored mail; returns what became of it."""
    claimed = claim(outbound_id)
    if isinstance(claimed, str):
        if claimed == "claimed":
            # Another worker holds it, or one died holding it: look again once the lease ends.
            from postdesk.outbound.tasks import send_outbound

            send_outbound.using(run_after=timezone.now() + CLAIM_LEASE).enqueue(outbound_id)
        return claimed
    relay = relay or current_relay()
    signature, replies = send(claimed, relay)
    outcome = record(claimed, relay.name, signature, replies)
    return outcome.status


def give_up(outbound_id: int, reason: str) -> None:
    """Mark a mail failed for every pending recipient (it keeps crashing the worker)."""
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().filter(pk=outbound_id).first()
        if message is None or message.status != OutboundStatus.QUEUED:
            return
        _fail_pending(message, reason)


def _fail_pending(message: OutboundMessage, reason: str) -> None:
    message.recipients.filter(status__in=RecipientStatus.pending()).update(
        status=RecipientStatus.FAILED, reply_text=reason[:2000]
    )
    delivered = message.recipients.filter(status=RecipientStatus.SENT).exists()
    message.status = OutboundStatus.SENT if delivered else OutboundStatus.FAILED
    message.last_error = reason
    message.claimed_at = None
    message.next_attempt_at = None
    message.save()


def release(outbound_id: int, error: str) -> None:
    """An attempt failed on our side (not the relay's): free the claim and try again later,
    or give up after the last attempt."""
    from postdesk.outbound.tasks import send_outbound

    now = timezone.now()
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().filter(pk=outbound_id).first()
        if message is None or message.status != OutboundStatus.QUEUED:
            return
        retry_at = RETRY.next_attempt_at(max(message.attempts, 1), now)
        if retry_at is None:
            _fail_pending(message, error[-8000:])
            return
        message.claimed_at = None
        message.last_error = error[-8000:]
        message.next_attempt_at = retry_at
        message.save(update_fields=["claimed_at", "last_error", "next_attempt_at"])
        send_outbound.using(run_after=retry_at).enqueue(outbound_id)
