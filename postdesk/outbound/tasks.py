"""The ``send_outbound`` task (queue ``outbound``): one delivery attempt of a stored mail.

Retries of temporary failures are scheduled by ``delivery.record`` as new tasks with
``run_after``; this task never sleeps. A mail whose sending killed the worker itself
(``MAX_CRASHES`` claims of the task that never finished) is given up as failed, so one
poisonous mail can't take workers down in a loop.
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
    if context.attempt > MAX_CRASHES:
        delivery.give_up(outbound_id, f"sending stopped the worker {context.attempt - 1} times")
        return "crashed"
    try:
        return delivery.deliver(outbound_id)
    except Exception as exc:
        logger.exception("outbound %s: attempt failed", outbound_id)
        delivery.release(outbound_id, "".join(traceback.format_exception(exc)))
        return "error"
