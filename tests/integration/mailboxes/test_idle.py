"""IMAP IDLE watchers without an IMAP server: the watcher set follows the mailbox table, a
failing connection backs off and is logged once, the scheduler stops watchers when it stands
down. Every mailbox here points at a closed port on loopback, so each real connection
attempt fails with "can't reach"; IDLE against a real server is in tests/e2e/test_imap_idle.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import pytest

from postdesk.channels.models import SupportAddress
from postdesk.jobs import leases
from postdesk.jobs.scheduler import JOBS, LEASE_NAME, Scheduler
from postdesk.mailboxes import idle, sealed
from postdesk.mailboxes.idle import Watcher, Watchers, next_delay
from postdesk.mailboxes.models import Mailbox
from tests.conftest import free_port

# The watcher threads read the mailbox table on their own connections: they must see it.
pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "pa55-word"
DEADLINE = 30.0


def make_mailbox(email: str, *, secret: str = SECRET) -> Mailbox:
    address = SupportAddress.objects.create(email=email, kind="external")
    return Mailbox.objects.create(
        address=address,
        host="127.0.0.1",
        port=free_port(),  # nothing listens there
        tls="none",
        username=email,
        secret_sealed=sealed.seal(secret, host="127.0.0.1", username=email, kind="password"),
    )


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.02)


@pytest.fixture
def watchers() -> Iterator[Watchers]:
    # A long first backoff: after the first refused connection each watcher just waits.
    made = Watchers(backoff_first=60.0)
    yield made
    made.stop_all(timeout=10)


def test_backoff_doubles_up_to_five_minutes() -> None:
    delays = [5.0]
    while len(delays) < 10:
        delays.append(next_delay(delays[-1]))
    assert delays == [5, 10, 20, 40, 80, 160, 300, 300, 300, 300]


def test_the_scheduler_runs_the_reconciliation_next_to_the_minute_poll() -> None:
    job = next(job for job in JOBS if job.function == "postdesk.mailboxes.idle.reconcile")
    assert job.every <= 60  # a new mailbox gets its watcher within a minute


def test_watchers_follow_the_mailbox_table(watchers: Watchers) -> None:
    first = make_mailbox("help@example.com")
    second = make_mailbox("sales@example.com")
    watchers.reconcile()
    assert set(watchers.running) == {first.pk, second.pk}
    started = dict(watchers.running)
    assert all(w.alive for w in started.values())

    # Nothing changed: the same threads go on.
    watchers.reconcile()
    assert watchers.running == started

    Mailbox.objects.filter(pk=first.pk).update(enabled=False)
    second.address.delete()  # cascades to the mailbox
    third = make_mailbox("billing@example.com")
    watchers.reconcile()
    assert set(watchers.running) == {third.pk}
    for old in started.values():
        old.join(10)
        assert not old.alive

    # A new password means a new connection: the old watcher ends, then a new one starts.
    replaced = watchers.running[third.pk]
    Mailbox.objects.filter(pk=third.pk).update(
        secret_sealed=sealed.seal(
            "new", host="127.0.0.1", username="billing@example.com", kind="password"
        )
    )
    watchers.reconcile()
    replaced.join(10)
    assert not replaced.alive
    watchers.reconcile()
    assert watchers.running[third.pk] is not replaced
    assert watchers.running[third.pk].alive

    Mailbox.objects.filter(pk=first.pk).update(enabled=True)
    watchers.reconcile()
    assert set(watchers.running) == {first.pk, third.pk}

    running = list(watchers.running.values())
    watchers.stop_all(timeout=10)
    assert watchers.running == {}
    assert not any(w.alive for w in running)


def test_a_failing_connection_is_retried_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    mailbox = make_mailbox("help@example.com")
    watcher = Watcher(mailbox.pk, idle.fingerprint(mailbox), backoff_first=0.01)
    caplog.set_level(logging.DEBUG, logger="postdesk.mailboxes.idle")
    watcher.start()
    try:
        wait_for(lambda: watcher.failures >= 4, "four failed connection attempts")
        assert watcher.alive
        assert not watcher.idling.is_set()
    finally:
        watcher.stop()
        watcher.join(10)
    assert not watcher.alive
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "can't reach 127.0.0.1" in warnings[0].getMessage()
    assert f"mailbox {mailbox.pk}" in warnings[0].getMessage()
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    # The minute poll keeps its own error; the watcher doesn't write the mailbox.
    assert Mailbox.objects.get(pk=mailbox.pk).last_error == ""


def test_a_watcher_of_a_deleted_mailbox_ends_by_itself() -> None:
    mailbox = make_mailbox("help@example.com")
    watcher = Watcher(mailbox.pk, idle.fingerprint(mailbox), backoff_first=0.01)
    watcher.start()
    try:
        wait_for(lambda: watcher.failures >= 1, "a failed connection attempt")
        mailbox.address.delete()
        watcher.join(DEADLINE)
        assert not watcher.alive
    finally:
        watcher.stop()


def test_the_scheduler_stops_the_watchers_when_another_takes_its_lease() -> None:
    mailbox = make_mailbox("help@example.com")
    scheduler = Scheduler([])
    scheduler.holder = "host-a-1"
    try:
        assert scheduler.tick_once(0.0)
        idle.reconcile()
        watcher = idle.WATCHERS.running[mailbox.pk]
        assert watcher.alive

        # Another scheduler took over (this one's lease ran out): this one stands down.
        leases.release(LEASE_NAME, scheduler.holder)
        assert leases.acquire(LEASE_NAME, "host-b-2", 60)
        assert not scheduler.tick_once(1.0)
        assert idle.WATCHERS.running == {}
        watcher.join(10)
        assert not watcher.alive
    finally:
        idle.stop_all()
