"""Periodic clean-ups of bookkeeping rows."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_tasks_db.models import DBTaskResult

FINISHED_TASK_RETENTION = timedelta(days=7)


def prune_finished_tasks() -> int:
    """Finished task rows are only a log; the mail's own row keeps its outcome."""
    cutoff = timezone.now() - FINISHED_TASK_RETENTION
    deleted, _ = DBTaskResult.objects.finished().filter(finished_at__lt=cutoff).delete()
    return deleted
