"""``kill -9`` of smtpd and of a worker in the middle of a 500-mail load: every mail that got
``250`` ends as exactly one ticket after restart (SPEC §5 reliability)."""

from __future__ import annotations

import smtplib
import threading
import time
from email.utils import make_msgid

import pytest

from tests.conftest import make_mail
from tests.processes.harness import Desk, query, wait_for

pytestmark = pytest.mark.slow

MAILS = 500
CLIENTS = 10
RETRY_FOR = 90.0


class Sender:
    """An MTA in miniature: keeps retrying a mail until it gets 250 or gives up."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.acknowledged: set[str] = set()
        self.sent = 0
        self.lock = threading.Lock()
        self.errors: list[str] = []

    def send(self, subject: str) -> None:
        # One customer per mail: a single sender of 500 mails is a flood, which protection
        # rightly suspends; this test is about crashes.
        number = subject.rpartition(" ")[2]
        raw = make_mail(
            sender=f"Customer {number} <customer{number}@load.example>",
            subject=subject,
            message_id=make_msgid(domain="load.example"),
        )
        deadline = time.monotonic() + RETRY_FOR
        while time.monotonic() < deadline:
            try:
                with smtplib.SMTP("127.0.0.1", self.desk.smtp_port, timeout=10) as client:
                    client.sendmail(
                        f"customer{subject[-4:]}@load.example", ["support@desk.test"], raw
                    )
                with self.lock:
                    self.acknowledged.add(subject)
                    self.sent += 1
                return
            except (OSError, smtplib.SMTPException):
                time.sleep(0.1)
        with self.lock:
            self.errors.append(subject)

    def run(self, subjects: list[str]) -> None:
        for subject in subjects:
            self.send(subject)


def test_kill_9_of_smtpd_and_worker_loses_nothing_and_duplicates_nothing(desk: Desk):
    desk.start_smtpd()
    desk.start("worker", "worker")
    desk.start("scheduler", "scheduler")
    sender = Sender(desk)
    subjects = [f"load {n:04d}" for n in range(MAILS)]
    threads = [
        threading.Thread(target=sender.run, args=(subjects[i::CLIENTS],)) for i in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()

    wait_for(lambda: sender.sent >= MAILS * 0.3, 120, "the first third of the load")
    desk.kill("smtpd")
    time.sleep(0.5)
    desk.start_smtpd()

    wait_for(lambda: sender.sent >= MAILS * 0.6, 120, "the second third of the load")
    desk.kill("worker")
    time.sleep(0.5)
    desk.start("worker", "worker")

    for thread in threads:
        thread.join(timeout=300)
    assert not sender.errors, f"mails never acknowledged: {sender.errors[:5]}"
    assert len(sender.acknowledged) == MAILS

    def all_processed() -> bool:
        inbound = desk.status()["inbound"]
        finished = inbound["processed"] + inbound["dropped"] + inbound["suspended"]
        return finished + inbound["failed"] >= inbound["received"]

    wait_for(all_processed, 180, "every spooled mail to be processed", interval=1)
    status = desk.status()
    assert status["inbound"]["failed"] == 0, desk.log("worker")[-3000:]
    assert status["inbound"]["suspended"] == 0

    per_subject = dict(query(desk, "SELECT subject, COUNT(*) FROM tickets_ticket GROUP BY subject"))
    missing = sender.acknowledged - per_subject.keys()
    duplicated = {s: n for s, n in per_subject.items() if n > 1}
    assert not missing, f"acknowledged but no ticket: {sorted(missing)[:5]}"
    assert not duplicated, f"duplicate tickets: {duplicated}"
    assert status["tickets"] == MAILS
