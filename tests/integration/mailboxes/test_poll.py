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


class FakeClient:
    """Answers FETCH and SEARCH from ``messages`` (UID → bytes); ``sizes`` overrides the
    announced RFC822.SIZE; UIDs in ``withheld`` exist but FETCH leaves them out."""

    def __init__(
        self,
        messages: dict[int, bytes],
        sizes: dict[int, int] | None = None,
        withheld: frozenset[int] = frozenset(),
    ) -> None:
        self.messages = messages
        self.sizes = sizes or {}
        self.withheld = withheld
        self.body_fetches: list[list[int]] = []

    def socket(self) -> None:
        raise OSError

    def fetch(self, uids: list[int], items: list[str]) -> dict[int, dict[bytes, object]]:
        present = [u for u in uids if u in self.messages]
        if items == ["RFC822.SIZE"]:
            return {u: {b"RFC822.SIZE": self.sizes.get(u, len(self.messages[u]))} for u in present}
        self.body_fetches.append(list(uids))
        return {u: {b"BODY[]": self.messages[u]} for u in present if u not in self.withheld}

    def search(self, criteria: list[str]) -> list[int]:
        assert criteria[0] == "UID"
        return [u for u in self.messages if str(u) == criteria[1]]


def mail(n: int, body: bytes = b"hello") -> bytes:
    return (
        (
            f"From: a@example.org\r\nTo: help@example.com\r\nSubject: {n}\r\n"
            f"Message-ID: <{n}@example.org>\r\n\r\n"
        ).encode()
        + body
        + b"\r\n"
    )


def test_a_message_the_server_withholds_stops_the_poll_before_it() -> None:
    from postdesk.mailboxes.connect import ConnectError
    from postdesk.mailboxes.poll import import_uids

    mailbox = saved_mailbox(b"unused")
    client = FakeClient({1: mail(1), 2: mail(2), 3: mail(3)}, withheld=frozenset({2}))
    with pytest.raises(ConnectError, match="no message for UID 2"):
        import_uids(client, mailbox, 1, [1, 2, 3])  # type: ignore[arg-type]
    mailbox.refresh_from_db()
    assert mailbox.last_uid == 1  # 2 is asked for again next time, and 3 after it


def test_an_expunged_message_is_passed_over() -> None:
    from postdesk.mailboxes.poll import import_uids

    mailbox = saved_mailbox(b"unused")
    client = FakeClient({1: mail(1), 3: mail(3)})
    assert import_uids(client, mailbox, 1, [1, 2, 3]) == 2  # type: ignore[arg-type]
    mailbox.refresh_from_db()
    assert mailbox.last_uid == 3


def test_a_message_over_the_size_limit_is_never_fetched(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from django.conf import settings as django_settings

    from postdesk.mailboxes.poll import import_uids

    limit = django_settings.POSTDESK.max_message_size
    mailbox = saved_mailbox(b"unused")
    # UID 2 announces its true size; UID 3 understates it.
    client = FakeClient(
        {1: mail(1), 2: mail(2), 3: mail(3, b"x" * limit), 4: mail(4)},
        sizes={2: limit + 1, 3: 10},
    )
    with caplog.at_level(logging.WARNING, logger="postdesk.mailboxes.poll"):
        assert import_uids(client, mailbox, 1, [1, 2, 3, 4]) == 2  # type: ignore[arg-type]
    assert client.body_fetches == [[1, 3, 4]]
    mailbox.refresh_from_db()
    assert mailbox.last_uid == 4
    assert sum("over the" in r.getMessage() for r in caplog.records) == 2


@pytest.mark.parametrize("status", [{}, {b"UIDVALIDITY": b"garbage"}, {b"UIDVALIDITY": 0}])
def test_a_folder_without_a_usable_uidvalidity_is_a_protocol_error(
    status: dict[bytes, object],
) -> None:
    from postdesk.mailboxes.connect import ConnectError, Server, uidvalidity_of

    server = Server(host="imap.example.com", port=993, tls="ssl", username="help")
    with pytest.raises(ConnectError, match="no usable UIDVALIDITY") as raised:
        uidvalidity_of(server, status)
    assert raised.value.reason == "protocol"
    assert uidvalidity_of(server, {b"UIDVALIDITY": 7}) == 7
