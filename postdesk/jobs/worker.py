"""The ``postdesk worker`` process: django-tasks-db's worker loop plus a heartbeat and
grouped runs.

The heartbeat is written before the first task is claimed and then every
``HEARTBEAT_INTERVAL`` seconds from a thread, so the reaper can tell this worker's RUNNING
tasks from those of a worker that died.

A claimed task registered in ``postdesk.jobs.groups`` takes other ready runs of the same task
with it and runs them through its group runner: one claim commit for the group, and results
that commit with the work (see that module).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from django.db import close_old_connections, connection
from django.db.utils import OperationalError
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from postdesk.jobs import groups
from postdesk.jobs.models import WorkerHeartbeat
from postdesk.jobs.reaper import HEARTBEAT_INTERVAL, reap_stuck_tasks

logger = logging.getLogger(__name__)


def beat(worker_id: str) -> None:
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "last_seen": timezone.now(),
        },
    )


class _Heartbeat(threading.Thread):
    def __init__(self, worker_id: str) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.worker_id = worker_id
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(HEARTBEAT_INTERVAL):
            try:
                close_old_connections()
                beat(self.worker_id)
            except Exception:
                # A missed beat is harmless unless many are missed; keep trying.
                logger.exception("heartbeat failed")
        connection.close()


class GroupingWorker(Worker):
    """django-tasks-db's worker; a claimed run of a groupable task brings its group."""

    def run_task(self, db_task_result: DBTaskResult[..., Any]) -> None:
        group = groups.group_for(db_task_result.task_path)
        # More than one claim: a worker died under this run, which goes on alone.
        if group is None or len(db_task_result.worker_ids) > 1:
            super().run_task(db_task_result)
            return
        try:
            with exclusive_transaction(DBTaskResult.objects.db):
                more = groups.claim_more(db_task_result, self.worker_id, group.size - 1)
        except OperationalError as error:
            if not is_locked_database_exception(error):
                raise
            more = []  # the queue is busy: this run alone is still a run
        claimed = [db_task_result, *more]
        ran = len(claimed)
        try:
            self.running_task = True
            ran = self._run_group(group, claimed)
        finally:
            self.running_task = False
            self._run_tasks += ran

    def _run_group(self, group: groups.Group, claimed: list[DBTaskResult[..., Any]]) -> int:
        """Run the group; returns how many of its runs were not given back."""
        runs = [groups.Run(row.pk, tuple(row.args_kwargs["args"])) for row in claimed]
        ids = [row.pk for row in claimed]
        try:
            # A stop asked for (SIGTERM) ends the group after the transaction under way.
            group.runner(runs, lambda: self.running)
        except Exception:
            logger.exception("group of %d %s runs broke off", len(runs), claimed[0].task_path)
            # What committed is done; the rest goes on one run at a time. Should this fail
            # too (the database is gone), the reaper requeues them once this worker is gone.
            try:
                groups.requeue(ids)
            except Exception:
                logger.exception("could not requeue the group's runs")
            return len(runs)
        given_back = groups.unclaim(ids, self.worker_id)
        logger.info(
            "ran %d of %d grouped %s runs", len(runs) - given_back, len(runs), claimed[0].task_path
        )
        return len(runs) - given_back


def run_worker(*, interval: float = 0.2, batch: bool = False, max_tasks: int | None = None) -> None:
    worker_id = f"{socket.gethostname()[:40]}-{os.getpid()}-{get_random_string(8)}"
    beat(worker_id)
    # Tasks of workers that died on this host can be resumed at once rather than after the
    # heartbeat timeout.
    reap_stuck_tasks()
    heartbeat = _Heartbeat(worker_id)
    heartbeat.start()
    worker = GroupingWorker(
        queue_names=["*"],
        interval=interval,
        batch=batch,
        backend_name="default",
        startup_delay=not batch,
        max_tasks=max_tasks,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
    worker.configure_signals()
    logger.info("worker %s started", worker_id)
    try:
        worker.run()
    finally:
        heartbeat.stopped.set()
        WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()
