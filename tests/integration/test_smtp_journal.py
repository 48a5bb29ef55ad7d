"""smtpd with its journal (how it runs on a SQLite desk): ``250`` once the mail is durable in
the journal, then the mail reaches the spool; what a crash left in the journal is spooled at
the next start, once."""

from __future__ import annotations

import smtplib
import time
from pathlib import Path

from postdesk.mail.envelope import Envelope, Transport
from postdesk.spool.models import InboundMessage
from postdesk.transports.smtp_journal import Journal, waiting_in
from tests.conftest import LiveSMTP


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_250_from_the_journal_then_spooled_with_the_envelope(transactional_db, tmp_path, mail):
    journal = tmp_path / "journal"
    raw = mail()
    with LiveSMTP(journal=journal) as server, smtplib.SMTP("127.0.0.1", server.port) as client:
        client.ehlo("mx.example.com")
        client.mail("ada@example.com")
        client.rcpt("support@desk.test")
        code, reply = client.data(raw)
        assert code == 250
        assert reply.decode().startswith("2.0.0 Ok: queued as J")
        # The journal forgets a mail only after the spool committed it. (Polling the spool
        # itself here would race the mover on the in-memory test database's table locks.)
        wait_until(lambda: waiting_in(journal) == 0)
    stored = InboundMessage.objects.get()
    assert bytes(stored.raw) == raw
    assert (stored.transport, stored.helo, stored.peer_ip, stored.mail_from) == (
        "smtp",
        "mx.example.com",
        "127.0.0.1",
        "ada@example.com",
    )
    assert stored.rcpt_tos == ["support@desk.test"]
    assert waiting_in(journal) == 0


def test_mail_left_in_the_journal_by_a_crash_is_spooled_once(transactional_db, tmp_path, mail):
    journal_path = tmp_path / "journal"
    raw = mail(subject="acknowledged just before the crash")
    envelope = Envelope(transport=Transport.SMTP, rcpt_tos=("support@desk.test",))
    journal = Journal(journal_path)
    # The same bytes twice: the crash came after the spool's commit and before the journal
    # forgot the mail, and the client also sent it again.
    journal.append([(raw, envelope), (raw, envelope)])
    journal.close()

    with LiveSMTP(journal=journal_path):
        wait_until(lambda: waiting_in(journal_path) == 0)
    assert InboundMessage.objects.count() == 1
    assert bytes(InboundMessage.objects.get().raw) == raw


def test_every_acknowledged_mail_of_concurrent_sessions_is_spooled(
    transactional_db, tmp_path: Path, mail
):
    journal = tmp_path / "journal"
    with LiveSMTP(journal=journal) as server:
        clients = [smtplib.SMTP("127.0.0.1", server.port) for _ in range(4)]
        for n in range(40):
            client = clients[n % 4]
            client.sendmail("ada@example.com", ["support@desk.test"], mail(subject=f"mail {n}"))
        for client in clients:
            client.quit()
        wait_until(lambda: waiting_in(journal) == 0)
    assert InboundMessage.objects.count() == 40
