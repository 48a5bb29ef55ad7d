"""The background task that turns a spooled mail into a ticket, with retries.

Processing is one transaction: a mail is either fully applied (ticket, comment, attachments
rows, status) or not at all. The task is idempotent, so running it twice (a retry racing a
re-queued task, a worker killed after commit but before the task was marked done) changes
nothing the second time. Errors in our code or our database are retried with backoff; after
the last attempt the mail is marked ``failed`` with its error and waits for an admin to
reprocess it. A mail whose processing kills the worker itself is noticed through the task's
claim count, so it cannot crash workers in a loop.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.tasks import TaskContext, task
from django.utils import timezone

from postdesk.inbound import rows
from postdesk.jobs.bulk import enqueue_many
from postdesk.jobs.groups import Run, groupable, mark_done
from postdesk.jobs.retry import INBOUND
from postdesk.spool.models import InboundMessage, InboundStatus

logger = logging.getLogger(__name__)

# A task claimed this many times never finished: each claim was a worker that died under it.
MAX_CRASHES = 3
# How long one batch transaction may hold the database (see process_inbound_batch).
BATCH_TRANSACTION_SECONDS = 0.05
# Most single-mail tasks a worker claims at once. Small enough that a second worker (on
# PostgreSQL) still finds work in a burst.
GROUP_SIZE = 16
# What processing changes on the spooled mail.
PROCESSED_FIELDS = (
    "status",
    "attempts",
    "finished_at",
    "last_error",
    "next_attempt_at",
    "diagnostics",
    "ticket",
)


@task(queue_name="inbound", takes_context=True)
def process_inbound(context: TaskContext[[int], str], message_id: int) -> str:
    if context.attempt > MAX_CRASHES:
        record_failure(
            message_id,
            f"processing stopped the worker {context.attempt - 1} times",
            retry=False,
        )
        return "crashed"
    try:
        return run_pipeline(message_id)
    except Exception as exc:
        logger.exception("inbound %s failed", message_id)
        record_failure(message_id, "".join(traceback.format_exception(exc))[-8000:])
        return "error"


@task(queue_name="inbound", takes_context=True)
def process_inbound_batch(context: TaskContext[[list[int]], str], message_ids: list[int]) -> str:
    """The mails the SMTP server stored in one group commit, processed together: several
    mails per transaction, each in a savepoint of its own, so a batch costs a few commits
    instead of one per mail (and one task claim instead of many).

    A transaction is closed after ``BATCH_TRANSACTION_SECONDS`` so the SQLite write lock is
    never held long enough to delay another process's ``250``. If a worker died under this
    batch, the mails go on one by one, each with a crash count of its own, so one poisonous
    mail can't take its neighbours down with it.
    """
    if context.attempt > 1:
        enqueue_many(process_inbound, [(message_id,) for message_id in message_ids])
        return "split"
    _process_in_short_transactions([(None, message_id) for message_id in message_ids])
    return "done"


@groupable(process_inbound, size=GROUP_SIZE)
def process_inbound_group(runs: list[Run], keep_going: Callable[[], bool]) -> None:
    """``process_inbound`` runs claimed together by the worker (``postdesk.jobs.groups``):
    mail accepted one at a time gets the batch's few commits. Each run is marked done in the
    transaction that processed its mail."""
    _process_in_short_transactions(
        [(run.task_id, int(run.args[0])) for run in runs], mark_done, keep_going
    )


def _process_in_short_transactions(
    pending: list[tuple[Any, int]],
    done: Callable[[list[tuple[Any, str]]], None] | None = None,
    keep_going: Callable[[], bool] = lambda: True,
) -> None:
    """``(key, message_id)`` pairs, several mails per transaction, each in a savepoint of its
    own; a transaction is closed after ``BATCH_TRANSACTION_SECONDS``. ``done`` gets the
    ``(key, outcome)`` of every mail the transaction settled (processed, or its failure
    recorded), inside that transaction."""
    while pending and keep_going():
        with transaction.atomic():
            started = time.monotonic()
            settled: list[tuple[Any, str]] = []
            # At least one mail per transaction, however long it takes.
            while pending and (
                not settled or time.monotonic() - started < BATCH_TRANSACTION_SECONDS
            ):
                key, message_id = pending.pop(0)
                try:
                    outcome = run_pipeline(message_id)  # nested: a savepoint
                except Exception as exc:
                    logger.exception("inbound %s failed", message_id)
                    record_failure(message_id, "".join(traceback.format_exception(exc))[-8000:])
                    outcome = "error"
                settled.append((key, outcome))
            if done is not None:
                done(settled)


# The mail, locked (PostgreSQL) so a second run of its task waits and then sees it finished.
_LOCKED_MESSAGE = rows.Prepared(
    InboundMessage,
    lambda pk: InboundMessage.objects.select_for_update().filter(pk=pk).order_by(),
    pk=int,
)


def run_pipeline(message_id: int) -> str:
    from postdesk.inbound.pipeline import process

    with transaction.atomic():
        found = _LOCKED_MESSAGE.instances(pk=message_id)
        if not found:
            raise InboundMessage.DoesNotExist(f"no inbound message {message_id}")
        message = found[0]
        if message.status in InboundStatus.finished():
            return "already-finished"
        process(message)
        message.attempts += 1
        message.finished_at = timezone.now()
        message.last_error = ""
        message.next_attempt_at = None
        # Not the raw bytes: they never change, and rewriting them costs as much as the mail.
        rows.update(message, PROCESSED_FIELDS)
        return str(message.status)


def record_failure(message_id: int, error: str, *, retry: bool = True) -> None:
    """Count the failed attempt; schedule the next one or give up (``failed``)."""
    with transaction.atomic():
        message = InboundMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None or message.status in InboundStatus.finished():
            return
        message.attempts += 1
        message.last_error = error
        now = timezone.now()
        next_at = INBOUND.next_attempt_at(message.attempts, now) if retry else None
        if next_at is None:
            message.status = InboundStatus.FAILED
            message.next_attempt_at = None
            logger.error(
                "inbound %s failed for good after %d attempts", message_id, message.attempts
            )
        else:
            message.status = InboundStatus.RETRYING
            message.next_attempt_at = next_at
            process_inbound.using(run_after=next_at).enqueue(message_id)
        message.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])


def reprocess(message_id: int) -> bool:
    """Queue a failed (or stuck) mail again, as an admin asks. False if it is finished."""
    with transaction.atomic():
        updated = (
            InboundMessage.objects.filter(pk=message_id)
            .exclude(status__in=InboundStatus.finished())
            .update(status=InboundStatus.QUEUED, next_attempt_at=None, attempts=0)
        )
        if updated:
            process_inbound.enqueue(message_id)
    return bool(updated)
