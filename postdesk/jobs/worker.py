"""The ``postdesk worker`` process: django-tasks-db's worker loop plus a heartbeat.

The heartbeat is written before the first task is claimed and then every
``HEARTBEAT_INTERVAL`` seconds from a thread, so the reaper can tell this worker's RUNNING
tasks from those of a worker that died.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

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


def run_worker(*, interval: float = 0.2, batch: bool = False, max_tasks: int | None = None) -> None:
    worker_id = f"{socket.gethostname()[:40]}-{os.getpid()}-{get_random_string(8)}"
    beat(worker_id)
    # Tasks of workers that died on this host can be resumed at once rather than after the
    # heartbeat timeout.
    reap_stuck_tasks()
    heartbeat = _Heartbeat(worker_id)
    heartbeat.start()
    worker = Worker(
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
