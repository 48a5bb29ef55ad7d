"""smtpd's journal and its mover, on real SQLite files: nothing appended is lost, whatever
the store in front of the spool does."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from postdesk.mail.envelope import Envelope, Transport
from postdesk.transports.smtp_journal import Journal, Mover, waiting_in


def envelope(n: int) -> Envelope:
    return Envelope(
        transport=Transport.SMTP,
        rcpt_tos=(f"support+{n}@desk.test",),
        mail_from=f"ada{n}@example.com",
        peer_ip="192.0.2.7",
        helo="mx.example.com",
        tls=True,
        extra={"proto": "ESMTP"},
    )


class Store:
    """Collects what the mover hands over; fails while ``failing`` says so."""

    def __init__(self) -> None:
        self.stored: list[tuple[bytes, Envelope]] = []
        self.failing: set[bytes] = set()
        self.calls = 0

    def __call__(self, mails: list[tuple[bytes, Envelope]]) -> list[object]:
        self.calls += 1
        if any(raw in self.failing for raw, _ in mails):
            raise RuntimeError("database unavailable")
        self.stored.extend(mails)
        return [None] * len(mails)


def test_appended_mail_survives_reopening_with_its_envelope(tmp_path: Path):
    path = tmp_path / "journal"
    journal = Journal(path)
    first = envelope(1)
    ids = journal.append([(b"first", first), (b"second", envelope(2))])
    journal.close()

    assert ids == sorted(ids) and len(set(ids)) == 2
    reopened = Journal(path)
    pending = reopened.pending(10)
    assert [(i, raw) for i, raw, _ in pending] == list(zip(ids, [b"first", b"second"], strict=True))
    assert pending[0][2] == first
    assert waiting_in(path) == 2
    reopened.close()


def test_ids_are_never_reused_after_forgetting(tmp_path: Path):
    journal = Journal(tmp_path / "journal")
    first = journal.append([(b"a", envelope(1))])
    journal.forget(first)
    second = journal.append([(b"b", envelope(1))])
    assert second[0] > first[0]
    journal.close()


def test_the_mover_hands_everything_over_in_order_and_forgets_it(tmp_path: Path):
    journal = Journal(tmp_path / "journal")
    journal.append([(f"mail {n}".encode(), envelope(n)) for n in range(150)])
    store = Store()

    assert Mover(journal, store).move_once() is True
    assert [raw for raw, _ in store.stored] == [f"mail {n}".encode() for n in range(150)]
    assert journal.count() == 0
    journal.close()


def test_a_mail_that_cannot_be_stored_stays_and_its_neighbours_move(tmp_path: Path):
    journal = Journal(tmp_path / "journal")
    journal.append([(b"good 1", envelope(1)), (b"poison", envelope(2)), (b"good 2", envelope(3))])
    store = Store()
    store.failing.add(b"poison")
    mover = Mover(journal, store)
    mover.max_backoff = 0.0  # its own retry is due at once here

    assert mover.move_once() is False
    assert [raw for raw, _ in store.stored] == [b"good 1", b"good 2"]
    assert [raw for _, raw, _ in journal.pending(10)] == [b"poison"]

    store.failing.clear()  # the database is back
    assert mover.move_once() is True
    assert journal.count() == 0
    journal.close()


def test_the_running_mover_retries_after_an_outage(tmp_path: Path):
    journal = Journal(tmp_path / "journal")
    store = Store()
    store.failing.add(b"during outage")
    mover = Mover(journal, store)
    mover.max_backoff = 0.05
    mover.start()
    try:
        journal.append([(b"during outage", envelope(1))])
        mover.wake()
        # Fails at least twice while the database is "down", and keeps the mail.
        deadline = threading.Event()
        while store.calls < 2 and not deadline.wait(0.01):
            pass
        assert journal.count() == 1
        store.failing.clear()
        mover.wake()
        assert mover.wait_idle(5)
        assert journal.count() == 0
        assert [raw for raw, _ in store.stored] == [b"during outage"]
    finally:
        mover.stop()
        journal.close()


def test_stopping_hands_over_what_is_left(tmp_path: Path):
    journal = Journal(tmp_path / "journal")
    store = Store()
    mover = Mover(journal, store)
    mover.start()
    journal.append([(b"late", envelope(1))])  # appended without a wake-up
    mover.stop()
    assert [raw for raw, _ in store.stored] == [b"late"]
    journal.close()


def test_waiting_in_a_missing_or_foreign_file_is_zero(tmp_path: Path):
    assert waiting_in(tmp_path / "absent") == 0
    foreign = tmp_path / "foreign"
    sqlite3.connect(foreign).execute("CREATE TABLE other (x)").connection.commit()
    assert waiting_in(foreign) == 0


def test_a_failing_mail_waits_for_its_own_retry_and_holds_up_nothing(tmp_path: Path):
    journal = Journal(tmp_path / "journal")
    journal.append([(b"poison", envelope(1))])
    store = Store()
    store.failing.add(b"poison")
    mover = Mover(journal, store)

    assert mover.move_once() is False
    calls = store.calls
    journal.append([(b"next", envelope(2))])
    assert mover.move_once() is False  # the poison mail is not due yet: not tried again
    assert store.calls == calls + 1
    assert [raw for raw, _ in store.stored] == [b"next"]
    assert [raw for _, raw, _ in journal.pending(10)] == [b"poison"]
    journal.close()


def test_a_mail_with_an_unreadable_envelope_stays_and_the_rest_move(tmp_path: Path):
    path = tmp_path / "journal"
    journal = Journal(path)
    journal.append([(b"first", envelope(1)), (b"damaged", envelope(2)), (b"third", envelope(3))])
    with sqlite3.connect(path) as raw_connection:
        raw_connection.execute("UPDATE mail SET envelope = '{broken' WHERE raw = ?", (b"damaged",))
    store = Store()

    assert Mover(journal, store).move_once() is False
    assert [raw for raw, _ in store.stored] == [b"first", b"third"]
    assert [raw for _, raw, _ in journal.pending(10)] == [b"damaged"]
    journal.close()
