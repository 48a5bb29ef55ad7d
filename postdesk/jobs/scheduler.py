"""The ``postdesk scheduler`` process: runs periodic jobs, one scheduler at a time.

Any number of scheduler processes may run (one per host, say); a database lease lets only
one of them act. If it dies, another takes over once its lease expires.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from django.db import close_old_connections
from django.utils.module_loading import import_string

from postdesk.jobs import leases

logger = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
LEASE_TTL = 30.0


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: float  # seconds
    function: str  # dotted path, imported when first run

    def load(self) -> Callable[[], object]:
        return import_string(self.function)  # type: ignore[no-any-return]


JOBS: list[PeriodicJob] = [
    PeriodicJob("reap-stuck-tasks", 10, "postdesk.jobs.reaper.reap_stuck_tasks"),
    PeriodicJob("prune-finished-tasks", 3600, "postdesk.jobs.housekeeping.prune_finished_tasks"),
    PeriodicJob("verification-timeouts", 5, "postdesk.channels.verification.check_pending"),
    PeriodicJob("purge-suspended-mail", 3600, "postdesk.suspension.services.purge_expired"),
    PeriodicJob("wake-outbox", 15, "postdesk.outbound.delivery.wake_if_due"),
    PeriodicJob("poll-mailboxes", 60, "postdesk.mailboxes.tasks.queue_poll"),
    PeriodicJob("watch-mailboxes", 30, "postdesk.mailboxes.idle.reconcile"),
]

# Called when this scheduler stops acting (it stops, or another one took the lease): jobs
# that leave something running between ticks (the IMAP IDLE watcher threads) end it here.
STAND_DOWN: list[str] = ["postdesk.mailboxes.idle.stop_all"]


class Scheduler:
    def __init__(self, jobs: list[PeriodicJob], tick: float = 1.0) -> None:
        self.jobs = jobs
        self.tick = tick
        self.holder = f"{socket.gethostname()}-{os.getpid()}"
        self.last_run: dict[str, float] = {}
        self.running = True
        self.acting = False

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.running = False

    def run_due(self, now: float) -> None:
        for job in self.jobs:
            if now - self.last_run.get(job.name, 0.0) < job.every:
                continue
            self.last_run[job.name] = now
            try:
                job.load()()
            except Exception:
                logger.exception("periodic job %s failed", job.name)

    def tick_once(self, now: float) -> bool:
        """Run the due jobs if this scheduler holds the lease; True if it does."""
        if not leases.acquire(LEASE_NAME, self.holder, LEASE_TTL):
            if self.acting:
                self.stand_down()
            return False
        self.acting = True
        self.run_due(now)
        return True

    def stand_down(self) -> None:
        self.acting = False
        for path in STAND_DOWN:
            try:
                import_string(path)()
            except Exception:
                logger.exception("stopping %s failed", path)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        logger.info("scheduler %s started", self.holder)
        try:
            while self.running:
                close_old_connections()
                self.tick_once(time.monotonic())
                time.sleep(self.tick)
        finally:
            self.stand_down()
            leases.release(LEASE_NAME, self.holder)
