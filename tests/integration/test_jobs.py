"""The reaper, leases and the retry policy."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from postdesk.jobs import leases
from postdesk.jobs.models import WorkerHeartbeat
from postdesk.jobs.reaper import HEARTBEAT_TIMEOUT, reap_stuck_tasks
from postdesk.jobs.retry import RetryPolicy
from postdesk.spool.tasks import process_inbound

pytestmark = pytest.mark.django_db


def running_task(worker_id: str) -> DBTaskResult:
    process_inbound.enqueue(12345)
    task = DBTaskResult.objects.get()
    task.claim(worker_id)
    return task


def test_task_of_a_worker_whose_heartbeat_stopped_is_requeued():
    task = running_task("dead-worker")
    WorkerHeartbeat.objects.create(
        worker_id="dead-worker",
        hostname="elsewhere",
        pid=1,
        last_seen=timezone.now() - timedelta(seconds=HEARTBEAT_TIMEOUT + 5),
    )
    assert reap_stuck_tasks() == 1
    task.refresh_from_db()
    assert task.status == "READY"
    assert task.worker_ids == ["dead-worker"]  # the claim count survives: crash loops show


def test_task_of_a_live_worker_is_left_alone():
    task = running_task("live-worker")
    WorkerHeartbeat.objects.create(
        worker_id="live-worker", hostname=socket.gethostname(), pid=os.getpid()
    )
    assert reap_stuck_tasks() == 0
    task.refresh_from_db()
    assert task.status == "RUNNING"


def test_fresh_heartbeat_of_a_process_gone_from_this_host_does_not_count():
    task = running_task("killed-worker")
    # A pid that cannot exist: pid_max is far below 2**30 on Linux.
    WorkerHeartbeat.objects.create(
        worker_id="killed-worker", hostname=socket.gethostname(), pid=2**30
    )
    assert reap_stuck_tasks() == 1
    task.refresh_from_db()
    assert task.status == "READY"


def test_lease_is_exclusive_until_it_expires():
    assert leases.acquire("scheduler", "a", ttl=60)
    assert not leases.acquire("scheduler", "b", ttl=60)
    assert leases.acquire("scheduler", "a", ttl=60)  # renewal
    assert leases.acquire("other", "b", ttl=60)
    assert leases.acquire("short", "a", ttl=-1)  # already expired
    assert leases.acquire("short", "b", ttl=60)
    leases.release("scheduler", "a")
    assert leases.acquire("scheduler", "b", ttl=60)


def test_backoff_grows_and_stops_after_the_last_attempt():
    policy = RetryPolicy(max_attempts=4, base_delay=10, max_delay=35, jitter=0)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [10, 20, 35, 35]
    now = timezone.now()
    assert policy.next_attempt_at(3, now) == now + timedelta(seconds=35)
    assert policy.next_attempt_at(4, now) is None


def test_only_one_of_two_schedulers_runs_the_jobs():
    from postdesk.jobs.scheduler import PeriodicJob, Scheduler

    ran: list[str] = []
    job = PeriodicJob("count", 10, "builtins.print")
    first, second = Scheduler([job]), Scheduler([job])
    first.holder, second.holder = "host-a-1", "host-b-2"
    first.run_due = lambda now: ran.append("a")  # type: ignore[method-assign]
    second.run_due = lambda now: ran.append("b")  # type: ignore[method-assign]
    assert first.tick_once(0.0)
    assert not second.tick_once(0.0)
    assert first.tick_once(1.0)
    assert ran == ["a", "a"]


def test_a_periodic_job_runs_when_due_and_a_failing_job_does_not_stop_the_others():
    from postdesk.jobs.scheduler import PeriodicJob, Scheduler

    calls: list[str] = []

    class Recorder(PeriodicJob):
        def load(self):  # type: ignore[override]
            def run() -> None:
                calls.append(self.name)
                if self.name == "broken":
                    raise RuntimeError("boom")

            return run

    scheduler = Scheduler([Recorder("broken", 5, ""), Recorder("fine", 5, "")])
    scheduler.run_due(100.0)
    scheduler.run_due(102.0)  # not due yet
    scheduler.run_due(106.0)
    assert calls == ["broken", "fine", "broken", "fine"]
