"""Tasks a worker may claim several at a time and run as one group.

Mail accepted one at a time (the pipe and HTTP transports, a quiet SMTP server) gives one
``process_inbound`` task per mail. Run one by one, each costs its own claim commit, its own
processing commit and its own result commit: three fsyncs on SQLite for a few milliseconds of
work. A task registered here is claimed together with other ready runs of the same task (one
claim commit), and its runner processes them several per transaction, marking each run done
inside the transaction that did its work: the result commits with the work, or neither does.

Only runs never claimed before join a group. A run claimed before belonged to a worker that
died, perhaps because of this very run: it goes on alone, through the task itself, so its
claim count (the crash count the task reads from its context) is its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.tasks import Task
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

# A runner gets the group's runs and a ``keep_going()`` it must ask before each transaction
# it starts; runs it leaves unstarted are given back to the queue by the worker.
Runner = Callable[[list["Run"], Callable[[], bool]], None]


@dataclass(frozen=True)
class Run:
    """One claimed run of a grouped task."""

    task_id: Any
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Group:
    runner: Runner
    size: int


_GROUPS: dict[str, Group] = {}


def groupable(task: Task[Any, Any], *, size: int) -> Callable[[Runner], Runner]:
    """Register ``runner`` for claimed runs of ``task``, at most ``size`` per group."""

    def register(runner: Runner) -> Runner:
        _GROUPS[task.module_path] = Group(runner=runner, size=size)
        return runner

    return register


def group_for(task_path: str) -> Group | None:
    return _GROUPS.get(task_path)


def mark_done(outcomes: Sequence[tuple[Any, Any]]) -> None:
    """Record grouped runs, ``(task id, return value)`` each, as successful inside the
    caller's transaction: the columns django-tasks-db writes for a run that returned, one
    UPDATE per distinct return value."""
    by_value: dict[str, tuple[Any, list[Any]]] = {}
    for task_id, value in outcomes:
        by_value.setdefault(json.dumps(value, sort_keys=True), (value, []))[1].append(task_id)
    now = timezone.now()
    for value, task_ids in by_value.values():
        DBTaskResult.objects.filter(pk__in=task_ids).update(
            status="SUCCESSFUL",
            finished_at=now,
            return_value=value,
            exception_class_path="",
            traceback="",
        )


def claim_more(
    first: DBTaskResult[..., Any], worker_id: str, limit: int
) -> list[DBTaskResult[..., Any]]:
    """Claim up to ``limit`` more ready, never-claimed runs of ``first``'s task, in queue
    order. The caller holds the claiming transaction (exclusive on SQLite)."""
    if limit <= 0:
        return []
    candidates = (
        DBTaskResult.objects.ready()
        .filter(
            backend_name=first.backend_name,
            queue_name=first.queue_name,
            task_path=first.task_path,
        )
        .filter(worker_ids=[])  # never claimed (see the module docstring)
        .exclude(pk=first.pk)
        .select_for_update(skip_locked=True)[:limit]
    )
    fresh = list(candidates)
    if fresh:
        now = timezone.now()
        DBTaskResult.objects.filter(pk__in=[row.pk for row in fresh]).update(
            status="RUNNING", started_at=now, worker_ids=[worker_id]
        )
        for row in fresh:
            row.status, row.started_at, row.worker_ids = "RUNNING", now, [worker_id]
    return fresh


def unclaim(task_ids: list[Any], worker_id: str) -> int:
    """Give back runs this worker claimed but never started: as if never claimed, so no
    crash is counted against them."""
    return DBTaskResult.objects.filter(
        pk__in=task_ids, status="RUNNING", worker_ids=[worker_id]
    ).update(status="READY", started_at=None, worker_ids=[])


def requeue(task_ids: list[Any]) -> int:
    """Put runs of a group that broke off back in the queue, their claim counted: they go on
    one by one, as after a crash (what the reaper would do once this worker is gone)."""
    return DBTaskResult.objects.filter(pk__in=task_ids, status="RUNNING").update(
        status="READY", started_at=None
    )
