"""The IMAP connector (SPEC F17) against a real Dovecot: ``postdesk mailbox add``, polls,
mail left unread on the server, UIDVALIDITY changes, TLS with a private CA.

The worker's tasks run in the test process (``run_queued_tasks``); a poll is ``postdesk
mailbox poll``, what the periodic task runs for every mailbox.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from postdesk import cli
from postdesk.channels.models import AddressKind, SupportAddress, VerificationStatus
from postdesk.mailboxes.connect import CAFILE_ENV
from postdesk.mailboxes.models import Mailbox
from postdesk.spool.models import InboundMessage
from postdesk.tickets.models import Ticket
from tests.conftest import make_mail, run_queued_tasks

from .servers.dovecot import DovecotInstance

pytestmark = pytest.mark.django_db

USER = "alice@mycompany.test"
PASSWORD = "secret"


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    return path


def add(capsys: pytest.CaptureFixture[str], server: DovecotInstance, *extra: str) -> int:
    """``postdesk mailbox add`` with the test user; returns the exit code."""
    argv = ["mailbox", "add", "--host", server.host, "--username", USER, *extra]
    if "--port" not in extra:
        argv += ["--port", str(server.port)]
    if "--tls" not in extra:
        argv += ["--tls", "none"]
    return cli.main(argv)


def added_address(capsys: pytest.CaptureFixture[str], *args: Any) -> SupportAddress:
    assert add(capsys, *args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.strip().isdigit(), out  # just the id
    return SupportAddress.objects.get(pk=int(out))


def poll(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["mailbox", "poll"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    run_queued_tasks()


def mail(subject: str) -> bytes:
    return make_mail(subject=subject, to=USER, sender="Grace Hopper <grace@example.com>")


def unseen_uids(server: DovecotInstance, folder: str = "INBOX") -> list[int]:
    client = server.connect(USER)
    try:
        client.select(folder, readonly=True)
        status, data = client.uid("SEARCH", "UNSEEN")
        assert status == "OK"
        return [int(uid) for uid in data[0].split()]
    finally:
        client.logout()


def subjects() -> list[str]:
    return sorted(Ticket.objects.values_list("subject", flat=True))


def test_mail_after_connecting_becomes_a_ticket_once_and_stays_unread_on_the_server(
    capsys: pytest.CaptureFixture[str], dovecot: DovecotInstance, password_file: Path
) -> None:
    dovecot.append(USER, mail("Old mail before connecting"))
    address = added_address(capsys, dovecot, "--password-file", str(password_file))
    assert address.email == USER
    assert address.kind == AddressKind.EXTERNAL
    assert address.forwarding_status == VerificationStatus.VERIFIED
    assert address.may_send

    uid = dovecot.append(USER, mail("Printer on fire"))
    dovecot.deliver(USER, mail("Delivered by the MDA"))
    poll(capsys)
    assert subjects() == ["Delivered by the MDA", "Printer on fire"]
    ticket = Ticket.objects.get(subject="Printer on fire")
    assert ticket.received_at_id == address.pk
    spooled = InboundMessage.objects.get(ticket=ticket)
    assert spooled.transport == "imap" and spooled.rcpt_tos == [USER]
    assert spooled.peer_ip == dovecot.host and spooled.tls is False
    assert spooled.envelope_extra["uid"] == uid

    # BODY.PEEK[] on a read-only folder: still unread, still there.
    assert uid in unseen_uids(dovecot)
    assert len(dovecot.fetch_all(USER)) == 3

    poll(capsys)
    assert InboundMessage.objects.count() == 2
    assert Ticket.objects.count() == 2

    mailbox = Mailbox.objects.get(address=address)
    assert mailbox.last_error == "" and mailbox.last_polled_at is not None
    # Sealed at rest: the password is nowhere in the row.
    assert PASSWORD.encode() not in bytes(mailbox.secret_sealed)


def test_mail_read_on_the_server_before_the_poll_is_not_imported(
    capsys: pytest.CaptureFixture[str], dovecot: DovecotInstance, password_file: Path
) -> None:
    added_address(capsys, dovecot, "--password-file", str(password_file))
    dovecot.append(USER, mail("Already read"), flags=["\\Seen"])
    dovecot.append(USER, mail("Still unread"))
    poll(capsys)
    assert subjects() == ["Still unread"]


def test_import_last_imports_the_latest_messages_on_connect(
    capsys: pytest.CaptureFixture[str], dovecot: DovecotInstance, password_file: Path
) -> None:
    for n in range(1, 5):
        dovecot.append(USER, mail(f"Message {n}"))
    added_address(capsys, dovecot, "--password-file", str(password_file), "--import-last", "2")
    run_queued_tasks()
    assert subjects() == ["Message 3", "Message 4"]
    poll(capsys)
    assert subjects() == ["Message 3", "Message 4"]


def test_a_new_uidvalidity_starts_over_without_importing_the_folder_again(
    capsys: pytest.CaptureFixture[str], dovecot: DovecotInstance, password_file: Path
) -> None:
    dovecot.append(USER, mail("Before"), folder="Support")
    address = added_address(
        capsys, dovecot, "--password-file", str(password_file), "--folder", "Support"
    )
    dovecot.append(USER, mail("First"), folder="Support")
    poll(capsys)
    assert subjects() == ["First"]
    before = Mailbox.objects.get(address=address).uidvalidity

    client = dovecot.connect(USER)
    try:
        assert client.delete("Support")[0] == "OK"
    finally:
        client.logout()
    # Recreated: the same mails again and one more, all unread, under a new UIDVALIDITY.
    dovecot.append(USER, mail("Before"), folder="Support")
    dovecot.append(USER, mail("Re-filed after the rebuild"), folder="Support")
    poll(capsys)
    mailbox = Mailbox.objects.get(address=address)
    assert mailbox.uidvalidity != before
    assert subjects() == ["First"]

    client = dovecot.connect(USER)
    try:
        client.append("Support", None, None, mail("After the rebuild"))
    finally:
        client.logout()
    poll(capsys)
    assert subjects() == ["After the rebuild", "First"]


def test_wrong_password_exits_1_and_saves_nothing(
    capsys: pytest.CaptureFixture[str], dovecot: DovecotInstance, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    assert add(capsys, dovecot, "--password-file", str(wrong)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "login as alice@mycompany.test" in captured.err
    assert "nothing was saved" in captured.err
    assert not SupportAddress.objects.filter(email=USER).exists()
    assert not Mailbox.objects.exists()


def test_missing_folder_and_unreachable_host_exit_1(
    capsys: pytest.CaptureFixture[str], dovecot: DovecotInstance, password_file: Path
) -> None:
    assert add(capsys, dovecot, "--password-file", str(password_file), "--folder", "Nope") == 1
    assert "can't open folder 'Nope'" in capsys.readouterr().err
    dovecot.stop()
    assert add(capsys, dovecot, "--password-file", str(password_file)) == 1
    assert "can't reach" in capsys.readouterr().err
    assert not Mailbox.objects.exists()


def test_a_failing_poll_records_the_error_and_the_next_one_recovers(
    capsys: pytest.CaptureFixture[str], dovecot: DovecotInstance, password_file: Path
) -> None:
    added_address(capsys, dovecot, "--password-file", str(password_file))
    time.sleep(1.1)  # Dovecot notices a rewritten passwd-file by its mtime, in seconds
    dovecot.add_user(USER, "changed")
    assert cli.main(["mailbox", "poll"]) == 1
    assert "login as" in Mailbox.objects.get().last_error
    capsys.readouterr()
    time.sleep(1.1)
    dovecot.add_user(USER, PASSWORD)
    dovecot.append(USER, mail("After the fix"))
    poll(capsys)
    assert subjects() == ["After the fix"]
    assert Mailbox.objects.get().last_error == ""


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_with_a_private_ca(
    mode: str,
    capsys: pytest.CaptureFixture[str],
    make_dovecot: Callable[..., DovecotInstance],
    tls_ca: Any,
    password_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = make_dovecot(tls=tls_ca)
    port = str(server.imaps_port if mode == "ssl" else server.port)
    args = ("--password-file", str(password_file), "--tls", mode, "--port", port)

    # Without the CA the certificate is not trusted: refused, nothing saved.
    monkeypatch.delenv(CAFILE_ENV, raising=False)
    assert add(capsys, server, *args) == 1
    assert CAFILE_ENV in capsys.readouterr().err
    assert not Mailbox.objects.exists()

    monkeypatch.setenv(CAFILE_ENV, str(server.ca_file))
    address = added_address(capsys, server, *args)
    server.append(USER, mail(f"Over {mode}"))
    poll(capsys)
    assert subjects() == [f"Over {mode}"]
    assert InboundMessage.objects.get().tls is True
    assert Mailbox.objects.get(address=address).tls == mode
