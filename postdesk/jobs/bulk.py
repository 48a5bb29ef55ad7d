"""Enqueue many runs of one task with one INSERT.

``Task.enqueue`` writes one row per call through the ORM's per-object save path; the SMTP
server's group commit stores dozens of mails per transaction and would spend most of its
time there. This writes the same rows django-tasks-db's backend writes, in bulk.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.tasks import Task, task_backends
from django.utils.json import normalize_json
from django_tasks_db.models import DBTaskResult, get_date_max


def enqueue_many(task: Task[Any, Any], calls: list[tuple[Any, ...]]) -> None:
    backend = task_backends[task.backend]
    backend.validate_task(task)
    run_after = task.run_after or get_date_max()
    DBTaskResult.objects.bulk_create(
        [
            DBTaskResult(
                id=uuid.uuid4(),
                args_kwargs=normalize_json({"args": list(args), "kwargs": {}}),
                priority=task.priority,
                task_path=task.module_path,
                queue_name=task.queue_name,
                run_after=run_after,
                backend_name=backend.alias,
            )
            for args in calls
        ]
    )
