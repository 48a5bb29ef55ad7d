"""IMAP IDLE watchers (SPEC F17) against a real Dovecot: mail reaches the spool without
waiting for the minute poll, a restarted server is reconnected to, a refused login backs
off and recovers, stopping is prompt.

No poll runs in these tests except the watcher's own: whatever reaches the spool got there
because Dovecot announced it in IDLE (or the watcher's catch-up import after entering IDLE).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from postdesk import cli
from postdesk.mailboxes.idle import Watchers
from postdesk.mailboxes.models import Mailbox
from postdesk.spool.models import InboundMessage
from tests.conftest import make_mail

from .servers.dovecot import DovecotInstance

# The watcher threads read and write the database on their own connections.
pytestmark = pytest.mark.django_db(transaction=True)

USER = "alice@mycompany.test"
PASSWORD = "secret"
# Generous: an announced mail takes well under a second; this only bounds a failing test.
DEADLINE = 30.0


def wait_for(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    give_up = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < give_up, f"gave up waiting: {what}"
        time.sleep(0.05)


def spooled() -> int:
    return InboundMessage.objects.count()


def mail(subject: str) -> bytes:
    return make_mail(subject=subject, to=USER, sender="Grace Hopper <grace@example.com>")


def connect_mailbox(server: DovecotInstance, tmp_path: Path) -> Mailbox:
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    argv = [
        "mailbox", "add", "--host", server.host, "--port", str(server.port), "--tls", "none",
        "--username", USER, "--password-file", str(password_file),
    ]  # fmt: skip
    assert cli.main(argv) == 0
    return Mailbox.objects.get()


@pytest.fixture
def watchers() -> Iterator[Watchers]:
    made = Watchers(backoff_first=0.2)
    yield made
    made.stop_all(timeout=10)


def test_mail_is_spooled_within_seconds_of_arriving(
    dovecot: DovecotInstance, tmp_path: Path, watchers: Watchers
) -> None:
    mailbox = connect_mailbox(dovecot, tmp_path)
    watchers.reconcile()
    watcher = watchers.running[mailbox.pk]
    assert watcher.idling.wait(DEADLINE)
    assert spooled() == 0

    uid = dovecot.append(USER, mail("Printer on fire"))
    wait_for(lambda: spooled() == 1, "the appended mail in the spool")
    message = InboundMessage.objects.get()
    assert message.transport == "imap"
    assert message.envelope_extra["uid"] == uid

    # Written into the Maildir by a delivery agent: Dovecot notices the new file itself.
    dovecot.deliver(USER, mail("Delivered by the MDA"))
    wait_for(lambda: spooled() == 2, "the delivered mail in the spool", deadline=60)

    # Nothing twice, still the one connection.
    assert watcher.connections == 1 and watcher.failures == 0
    assert InboundMessage.objects.count() == 2
    assert Mailbox.objects.get(pk=mailbox.pk).last_uid >= uid + 1


def test_idle_is_renewed_on_the_same_connection(dovecot: DovecotInstance, tmp_path: Path) -> None:
    mailbox = connect_mailbox(dovecot, tmp_path)
    watchers = Watchers(refresh=0.2)  # instead of 25 minutes
    try:
        watchers.reconcile()
        watcher = watchers.running[mailbox.pk]
        wait_for(lambda: watcher.renewals >= 3, "IDLE renewed three times")
        dovecot.append(USER, mail("After renewing"))
        wait_for(lambda: spooled() == 1, "the mail in the spool")
        assert watcher.connections == 1 and watcher.failures == 0
    finally:
        watchers.stop_all(timeout=10)


def test_the_watcher_reconnects_after_the_server_restarts(
    dovecot: DovecotInstance, tmp_path: Path, watchers: Watchers
) -> None:
    mailbox = connect_mailbox(dovecot, tmp_path)
    watchers.reconcile()
    watcher = watchers.running[mailbox.pk]
    assert watcher.idling.wait(DEADLINE)

    # Same port, fresh mail store (a new UIDVALIDITY, which the catch-up import records).
    dovecot.stop()
    dovecot.start()
    wait_for(lambda: watcher.connections >= 2 and watcher.idling.is_set(), "a new IDLE")
    assert watcher.failures >= 1
    assert watcher.alive

    dovecot.append(USER, mail("After the restart"))
    wait_for(lambda: spooled() == 1, "the mail in the spool after the restart")


def test_stopping_is_prompt_and_closes_the_connection(
    dovecot: DovecotInstance, tmp_path: Path, watchers: Watchers
) -> None:
    mailbox = connect_mailbox(dovecot, tmp_path)
    watchers.reconcile()
    watcher = watchers.running[mailbox.pk]
    assert watcher.idling.wait(DEADLINE)
    watchers.stop_all()  # waits two seconds at most
    assert not watcher.alive
    assert not watcher.idling.is_set()
    # Mail arriving now waits for the minute poll.
    dovecot.append(USER, mail("After stopping"))
    assert spooled() == 0


def test_a_refused_login_backs_off_and_recovers(
    dovecot: DovecotInstance,
    tmp_path: Path,
    watchers: Watchers,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    mailbox = connect_mailbox(dovecot, tmp_path)
    time.sleep(1.1)  # Dovecot notices a rewritten passwd-file by its mtime, in seconds
    dovecot.add_user(USER, "changed")
    # ``mailbox add`` configured logging afresh, without pytest's handler on the root.
    logger = logging.getLogger("postdesk.mailboxes.idle")
    logger.addHandler(caplog.handler)
    request.addfinalizer(lambda: logger.removeHandler(caplog.handler))
    caplog.set_level(logging.INFO, logger="postdesk.mailboxes.idle")
    watchers.reconcile()
    watcher = watchers.running[mailbox.pk]
    wait_for(lambda: watcher.failures >= 2, "two refused logins")
    assert watcher.alive and not watcher.idling.is_set()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "login as" in warnings[0]
    assert PASSWORD not in warnings[0]

    time.sleep(1.1)
    dovecot.add_user(USER, PASSWORD)
    # The backoff has grown to a few seconds by now; well inside the deadline.
    assert watcher.idling.wait(DEADLINE)
    assert any("connected again" in r.getMessage() for r in caplog.records)
    dovecot.append(USER, mail("After the fix"))
    wait_for(lambda: spooled() == 1, "the mail in the spool after the fix")
