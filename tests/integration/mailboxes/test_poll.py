"""The poll's handling of what can go wrong without a server misbehaving on the wire: a
secret that no longer opens. The Dovecot-backed cases are in tests/e2e/test_imap.py."""

from __future__ import annotations

import logging

import pytest

from postdesk.channels.models import SupportAddress
from postdesk.mailboxes import sealed
from postdesk.mailboxes.models import Mailbox
from postdesk.mailboxes.poll import poll_all
from tests.conftest import free_port

pytestmark = pytest.mark.django_db


def saved_mailbox(secret_sealed: bytes) -> Mailbox:
    address = SupportAddress.objects.create(email="help@example.com", kind="external")
    return Mailbox.objects.create(
        address=address,
        host="127.0.0.1",
        port=free_port(),
        tls="none",
        username="help@example.com",
        secret_sealed=secret_sealed,
        uidvalidity=1,
    )


@pytest.mark.parametrize(
    "blob",
    [
        # Sealed under other associated data: what a changed POSTDESK_SECRET_KEY looks like.
        sealed.seal("s3cret", host="other.example", username="help@example.com", kind="password"),
        b"short",
    ],
    ids=["other-key", "truncated"],
)
def test_a_secret_that_no_longer_opens_is_a_plain_error(
    blob: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    mailbox = saved_mailbox(blob)
    with caplog.at_level(logging.WARNING, logger="postdesk.mailboxes.poll"):
        assert poll_all() == 0
    mailbox.refresh_from_db()
    assert "can't be decrypted" in mailbox.last_error
    assert "POSTDESK_SECRET_KEY" in mailbox.last_error
    assert mailbox.last_uid == 0
    # A warning each poll, not a traceback each minute.
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert all(r.exc_info is None for r in caplog.records)
