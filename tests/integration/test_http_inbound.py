"""POST /inbound/mime: raw mail over HTTP, by admin token or HMAC signature."""

from __future__ import annotations

import base64
import time

import pytest

from postdesk import keys
from postdesk.operations import create_admin
from postdesk.spool.models import InboundMessage
from postdesk.tickets import api_tokens
from postdesk.tickets.models import Role, User
from postdesk.transports.http import sign, signature_valid

pytestmark = pytest.mark.django_db

URL = "/inbound/mime"


@pytest.fixture
def admin_token() -> str:
    create_admin("root@desk.test", "correct horse battery", api_token="t" * 32)
    return "t" * 32


def post(client, body: bytes, **headers: str):
    return client.generic("POST", URL, body, content_type="message/rfc822", headers=headers)


def test_admin_token_as_bearer_stores_the_mail(client, mail, admin_token):
    raw = mail()
    response = post(
        client,
        raw,
        Authorization=f"Bearer {admin_token}",
        **{
            "X-Postdesk-Envelope-To": "support@desk.test, billing@desk.test",
            "X-Postdesk-Envelope-From": "ada@example.com",
        },
    )
    assert response.status_code == 202
    stored = InboundMessage.objects.get(pk=response.json()["id"])
    assert bytes(stored.raw) == raw
    assert stored.transport == "http"
    assert stored.rcpt_tos == ["support@desk.test", "billing@desk.test"]
    assert stored.mail_from == "ada@example.com"


def test_zendesk_style_basic_token_auth(client, mail, admin_token):
    credentials = base64.b64encode(f"root@desk.test/token:{admin_token}".encode()).decode()
    response = post(client, mail(), Authorization=f"Basic {credentials}")
    assert response.status_code == 202
    assert InboundMessage.objects.get().rcpt_tos == ["support@desk.test"]


def test_hmac_signature_is_accepted_and_can_mark_the_pipe(client, mail):
    raw = mail()
    signature = sign(raw, keys.inbound_hmac_key())
    response = post(
        client, raw, **{"X-Postdesk-Signature": signature, "X-Postdesk-Transport": "pipe"}
    )
    assert response.status_code == 202
    assert InboundMessage.objects.get().transport == "pipe"


def test_stale_or_forged_signatures_are_refused(client, mail):
    raw = mail()
    key = keys.inbound_hmac_key()
    old = sign(raw, key, timestamp=int(time.time()) - 3600)
    assert post(client, raw, **{"X-Postdesk-Signature": old}).status_code == 401
    forged = sign(raw, b"not the key")
    assert post(client, raw, **{"X-Postdesk-Signature": forged}).status_code == 401
    other_body = sign(b"another mail", key)
    assert not signature_valid(other_body, raw, key)
    assert InboundMessage.objects.count() == 0


def test_anonymous_and_non_admin_tokens_are_refused(client, mail):
    assert post(client, mail()).status_code == 401
    agent = User.objects.create_user("agent@desk.test", "pw", role=Role.AGENT)
    token = api_tokens.create(agent)
    assert post(client, mail(), Authorization=f"Bearer {token}").status_code == 401
    assert InboundMessage.objects.count() == 0


def test_unknown_recipient_is_refused_with_a_clear_error(client, mail, admin_token):
    response = post(
        client,
        mail(),
        Authorization=f"Bearer {admin_token}",
        **{"X-Postdesk-Envelope-To": "victim@example.org"},
    )
    assert response.status_code == 422
    assert "victim@example.org" in response.json()["description"]
    assert InboundMessage.objects.count() == 0


def test_wrong_content_type_and_empty_body(client, mail, admin_token):
    response = client.post(URL, {"a": "b"}, headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code == 415
    response = post(client, b"  \r\n", Authorization=f"Bearer {admin_token}")
    assert response.status_code == 422


def test_oversize_is_413(client, mail, admin_token, settings):
    settings.POSTDESK = type(settings.POSTDESK)(
        **{**settings.POSTDESK.__dict__, "max_message_size": 100}
    )
    response = post(client, mail(), Authorization=f"Bearer {admin_token}")
    assert response.status_code == 413
    assert InboundMessage.objects.count() == 0


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405
