"""Background polling of IMAP mailboxes: a task the worker runs, queued every minute.

The scheduler only queues ``poll_mailboxes`` (network reads don't belong in the scheduler's
loop); a poll still waiting or running means the next one isn't queued, so a slow server
never piles polls up.
"""

from __future__ import annotations

from django.tasks import task

from postdesk.mailboxes.models import Mailbox
from postdesk.mailboxes.poll import poll_all

QUEUE = "periodic"


@task(queue_name=QUEUE)
def poll_mailboxes() -> int:
    return poll_all()


def queue_poll() -> bool:
    """Periodic job: queue a poll of every enabled mailbox unless one is already queued or
    running. True when a task was queued."""
    from django_tasks_db.models import DBTaskResult

    if not Mailbox.objects.filter(enabled=True).exists():
        return False
    waiting = DBTaskResult.objects.filter(task_path=poll_mailboxes.module_path, queue_name=QUEUE)
    if waiting.ready().exists() or waiting.running().exists():
        return False
    poll_mailboxes.enqueue()
    return True
