"""Enqueue many runs of one task with one INSERT.

``Task.enqueue`` writes one row per call through the ORM's per-object save path; the SMTP
server's group commit stores dozens of mails per transaction and would spend most of its
time there. This writes the same rows django-tasks-db's backend writes, in bulk.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.tasks import Task, task_backends
from django.utils import timezone
from django.utils.json import normalize_json
from django_tasks_db.models import DBTaskResult, get_date_max

from postdesk.db.fast_insert import insert_rows

COLUMNS = (
    "id", "status", "enqueued_at", "args_kwargs", "priority", "task_path", "worker_ids",
    "queue_name", "backend_name", "run_after", "return_value", "exception_class_path",
    "traceback",
)  # fmt: skip


def enqueue_many(task: Task[Any, Any], calls: list[tuple[Any, ...]]) -> None:
    backend = task_backends[task.backend]
    backend.validate_task(task)
    run_after = task.run_after or get_date_max()
    now = timezone.now()
    insert_rows(
        DBTaskResult,
        COLUMNS,
        [
            [
                uuid.uuid4(), "READY", now, normalize_json({"args": list(args), "kwargs": {}}),
                task.priority, task.module_path, [], task.queue_name, backend.alias, run_after,
                None, "", "",
            ]
            for args in calls
        ],
    )  # fmt: skip
