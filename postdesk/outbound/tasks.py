"""The ``send_outbound`` task (queue ``outbound``): send a stored mail and drain the outbox.

Storing a mail queues this task unless one is already waiting (``composer.store``); the task
sends its own mail and every other due one in batches (``delivery.deliver``). Retries of
temporary failures are new tasks with ``run_after``; the task never sleeps. A mail whose
sending killed the worker itself is given up as failed after ``MAX_CRASHES`` claims of its
task, or once its attempts are used up, so one poisonous mail can't take workers down in a
loop. After a crash the task retries its own mail alone, not a whole batch.
"""

from __future__ import annotations

import logging
import traceback

from django.tasks import TaskContext, task

from postdesk.outbound import delivery

logger = logging.getLogger(__name__)

MAX_CRASHES = 3


@task(queue_name="outbound", takes_context=True)
def send_outbound(context: TaskContext[[int], str], outbound_id: int) -> str:
    """Send mail ``outbound_id`` (0: none in particular) and whatever else is due."""
    if context.attempt > MAX_CRASHES and outbound_id:
        delivery.give_up(outbound_id, f"sending stopped the worker {context.attempt - 1} times")
        return "crashed"
    try:
        size = 1 if context.attempt > 1 else delivery.BATCH_SIZE
        return delivery.deliver(outbound_id or None, batch_size=size)
    except delivery.BatchFailed:
        logger.exception("outbound %s: attempt failed, claims released", outbound_id)
        return "error"
    except Exception as exc:
        logger.exception("outbound %s: attempt failed", outbound_id)
        delivery.release(outbound_id, "".join(traceback.format_exception(exc)))
        return "error"
