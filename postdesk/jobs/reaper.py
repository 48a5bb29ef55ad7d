"""Put tasks left RUNNING by a dead worker back in the queue.

django-tasks-db marks a task RUNNING when a worker claims it and never looks at it again; a
worker killed with ``kill -9`` leaves it RUNNING for ever. Every live worker writes a
heartbeat; a RUNNING task whose worker's heartbeat is older than ``HEARTBEAT_TIMEOUT`` (or
whose worker process is gone from this very host) is reset to READY. The tasks themselves are
idempotent, so running one again after a crash is safe.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from postdesk.jobs.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 5.0
HEARTBEAT_TIMEOUT = 30.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_worker_ids() -> set[str]:
    """Workers whose heartbeat is fresh, less those known dead on this host."""
    fresh_after = timezone.now() - timedelta(seconds=HEARTBEAT_TIMEOUT)
    here = socket.gethostname()
    live = set()
    for beat in WorkerHeartbeat.objects.filter(last_seen__gte=fresh_after):
        if beat.hostname == here and not _pid_alive(beat.pid):
            continue
        live.add(beat.worker_id)
    return live


def reap_stuck_tasks() -> int:
    """Re-queue RUNNING tasks of dead workers; returns how many."""
    live = live_worker_ids()
    reaped = 0
    running = DBTaskResult.objects.running().values_list("id", "worker_ids", "started_at")
    for task_id, worker_ids, started_at in running:
        owner = worker_ids[-1] if worker_ids else None
        if owner in live:
            continue
        with transaction.atomic():
            # Conditional update: the task may have finished while we looked.
            reaped += DBTaskResult.objects.filter(
                id=task_id, status="RUNNING", started_at=started_at
            ).update(status="READY", started_at=None)
        logger.warning("re-queued task %s left running by dead worker %s", task_id, owner)
    forget_dead_workers()
    return reaped


def forget_dead_workers() -> None:
    cutoff = timezone.now() - timedelta(seconds=HEARTBEAT_TIMEOUT * 10)
    WorkerHeartbeat.objects.filter(last_seen__lt=cutoff).delete()
