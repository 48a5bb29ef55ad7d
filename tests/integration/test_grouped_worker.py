"""The worker claims ready ``process_inbound`` runs together (``postdesk.jobs.groups``):
every mail still ends as exactly one ticket, a run claimed before goes on alone with its
crash count, a stop gives unstarted runs back unclaimed, and a group that breaks off is
finished one run at a time."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

from postdesk.jobs.worker import GroupingWorker
from postdesk.mail.envelope import Envelope
from postdesk.spool import tasks
from postdesk.spool.accept import accept
from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.tickets.models import Comment, Ticket
from tests.conftest import make_mail

pytestmark = pytest.mark.django_db

WORKER_ID = "grouping-worker"


def spool(count: int) -> list[int]:
    """``count`` mails accepted one at a time, as the pipe and HTTP transports do."""
    return [
        accept(
            make_mail(sender=f"Customer {n} <customer{n}@example.com>", subject=f"mail {n}"),
            Envelope(transport="pipe", rcpt_tos=("support@desk.test",)),
        ).message_id
        for n in range(count)
    ]


def worker() -> GroupingWorker:
    return GroupingWorker(
        queue_names=["inbound"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=WORKER_ID,
        excluded_queue_names=[],
    )


def run(grouping: GroupingWorker) -> None:
    # The worker closes "old" connections between tasks; inside a test's transaction that
    # would close the test's own PostgreSQL connection.
    with mock.patch.object(db_worker, "close_old_connections", lambda: None):
        grouping.run()


def inbound_runs() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=tasks.process_inbound.module_path))


def test_mails_spooled_one_by_one_are_claimed_and_processed_as_groups():
    message_ids = spool(tasks.GROUP_SIZE + 3)
    grouping = worker()
    with mock.patch.object(
        GroupingWorker, "_run_group", autospec=True, side_effect=GroupingWorker._run_group
    ) as run_group:
        run(grouping)
    # Two claims in all: a full group, then the rest.
    assert [len(call.args[2]) for call in run_group.call_args_list] == [tasks.GROUP_SIZE, 3]
    statuses = InboundMessage.objects.filter(pk__in=message_ids).values_list("status", flat=True)
    assert set(statuses) == {InboundStatus.PROCESSED}
    assert Ticket.objects.count() == len(message_ids)
    runs = inbound_runs()
    assert {run.status for run in runs} == {"SUCCESSFUL"}
    assert {run.return_value for run in runs} == {InboundStatus.PROCESSED}
    assert all(run.worker_ids == [WORKER_ID] for run in runs)  # each claimed once


def test_a_run_claimed_before_goes_on_alone_with_its_claim_count():
    (message_id,) = spool(1)
    (run_row,) = inbound_runs()
    # A worker died under it: the reaper put it back with its claim counted.
    DBTaskResult.objects.filter(pk=run_row.pk).update(worker_ids=["dead-worker"])
    spool(2)
    run(worker())
    run_row.refresh_from_db()
    assert run_row.status == "SUCCESSFUL"
    assert run_row.worker_ids == ["dead-worker", WORKER_ID]
    assert InboundMessage.objects.get(pk=message_id).status == InboundStatus.PROCESSED
    assert Ticket.objects.count() == 3


def test_a_run_that_crashed_workers_three_times_is_failed_not_grouped():
    (message_id,) = spool(1)
    DBTaskResult.objects.update(worker_ids=["w1", "w2", "w3"])
    spool(1)
    run(worker())
    message = InboundMessage.objects.get(pk=message_id)
    assert message.status == InboundStatus.FAILED
    assert "stopped the worker 3 times" in message.last_error
    assert Ticket.objects.count() == 1  # its neighbour was processed


def test_a_stop_gives_the_unstarted_runs_back_unclaimed():
    spool(4)
    grouping = worker()
    grouping.running = False  # SIGTERM arrived before the group's first transaction
    first = DBTaskResult.objects.ready().order_by("enqueued_at").first()
    assert first is not None
    first.claim(WORKER_ID)
    grouping.run_task(first)
    runs = inbound_runs()
    assert {run.status for run in runs} == {"READY"}
    assert all(run.worker_ids == [] for run in runs)  # no crash counted against them
    assert not Ticket.objects.exists()


def test_a_group_that_breaks_off_is_finished_one_run_at_a_time(monkeypatch):
    message_ids = spool(5)
    calls: list[Any] = []

    def mark_done_then_break(outcomes: list[tuple[Any, str]]) -> None:
        calls.append(outcomes)
        if len(calls) == 2:
            raise RuntimeError("the group's bookkeeping failed")
        tasks_mark_done(outcomes)

    tasks_mark_done = tasks.mark_done
    monkeypatch.setattr(tasks, "mark_done", mark_done_then_break)
    monkeypatch.setattr(tasks, "BATCH_TRANSACTION_SECONDS", 0)  # one mail per transaction
    run(worker())
    assert len(calls) == 2  # the group broke off in its second transaction
    # Whatever the broken transaction held rolled back and ran again; nothing twice.
    statuses = InboundMessage.objects.filter(pk__in=message_ids).values_list("status", flat=True)
    assert set(statuses) == {InboundStatus.PROCESSED}
    assert Comment.objects.count() == 5
    assert Ticket.objects.count() == 5
    runs = inbound_runs()
    assert {run.status for run in runs} == {"SUCCESSFUL"}
    # The first mail's run committed in the group; the other four went on alone.
    assert sorted(len(run.worker_ids) for run in runs) == [1, 2, 2, 2, 2]
