"""The agent's ticket views ("queues"): which tickets each shows, their counts, sorting.

A queue is a named filter: all unsolved (the default), *assigned to me* and *unassigned*
(both unsolved), by status (new, open, pending, on hold, solved), *all*, and one per group
(unsolved tickets of that group).
``counts(user)`` computes every count in one query, whatever the number of queues; the
pager reuses the count of the queue it shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from postdesk.tickets.models import Group, Priority, Status, Ticket, User

UNSOLVED = (Status.NEW, Status.OPEN, Status.PENDING, Status.HOLD)


@dataclass(frozen=True)
class Queue:
    slug: str
    label: str | Promise
    condition: Callable[[User], Q]


QUEUES: tuple[Queue, ...] = (
    Queue("unsolved", _("All unsolved"), lambda u: Q(status__in=UNSOLVED)),
    Queue("mine", _("Assigned to me"), lambda u: Q(assignee=u, status__in=UNSOLVED)),
    Queue("unassigned", _("Unassigned"), lambda u: Q(assignee__isnull=True, status__in=UNSOLVED)),
    Queue("new", _("New"), lambda u: Q(status=Status.NEW)),
    Queue("open", _("Open"), lambda u: Q(status=Status.OPEN)),
    Queue("pending", _("Pending"), lambda u: Q(status=Status.PENDING)),
    Queue("hold", _("On hold"), lambda u: Q(status=Status.HOLD)),
    Queue("solved", _("Solved"), lambda u: Q(status=Status.SOLVED)),
    Queue("all", _("All tickets"), lambda u: Q()),
)
BY_SLUG = {queue.slug: queue for queue in QUEUES}
DEFAULT = "unsolved"

# Sort keys shown as column links; "-" prefix = descending. Every order ends in id.
_PRIORITY_RANK = Case(
    When(priority=Priority.URGENT, then=Value(4)),
    When(priority=Priority.HIGH, then=Value(3)),
    When(priority=Priority.NORMAL, then=Value(2)),
    When(priority=Priority.LOW, then=Value(1)),
    default=Value(0),
    output_field=IntegerField(),
)
SORTS: dict[str, tuple[str, ...]] = {
    "updated": ("updated_at", "id"),
    "created": ("created_at", "id"),
    "id": ("id",),
    "status": ("status", "-updated_at", "-id"),
    "priority": ("priority_rank", "-updated_at", "-id"),
    "subject": ("subject", "id"),
    "requester": ("requester__email", "id"),
}
DEFAULT_SORT = "-updated"


def ordering(sort: str) -> tuple[str, tuple[str, ...]]:
    """The accepted sort key and its ORDER BY fields (unknown keys fall back to newest)."""
    key = sort.lstrip("-")
    if key not in SORTS:
        sort, key = DEFAULT_SORT, DEFAULT_SORT.lstrip("-")
    fields = SORTS[key]
    if sort.startswith("-"):
        fields = tuple(f[1:] if f.startswith("-") else f"-{f}" for f in fields)
    return sort, fields


def tickets_for(slug: str, user: User) -> tuple[str, QuerySet[Ticket]]:
    """The tickets of a queue (``group-<id>`` for a group's), with what the list shows."""
    base = Ticket.objects.select_related("requester", "group", "assignee").annotate(
        priority_rank=_PRIORITY_RANK
    )
    if slug.startswith("group-") and slug[6:].isdigit():
        return slug, base.filter(group_id=int(slug[6:]), status__in=UNSOLVED)
    queue = BY_SLUG.get(slug) or BY_SLUG[DEFAULT]
    return queue.slug, base.filter(queue.condition(user))


def counts(user: User) -> dict[str, int]:
    """The number of tickets in every queue, for the sidebar and the pager, from ONE pass
    over the tickets: grouped by status and group, with the agent's own and the unassigned
    ones counted alongside. At most (statuses x groups) rows come back."""
    rows = (
        Ticket.objects.order_by()
        .values("status", "group_id")
        .annotate(
            n=Count("id"),
            mine=Count("id", filter=Q(assignee=user)),
            unassigned=Count("id", filter=Q(assignee__isnull=True)),
        )
    )
    result: dict[str, int] = dict.fromkeys(BY_SLUG, 0)
    for row in rows:
        status, n = row["status"], row["n"]
        result["all"] += n
        if status in result:
            result[status] += n
        if status in UNSOLVED:
            result["unsolved"] += n
            result["mine"] += row["mine"]
            result["unassigned"] += row["unassigned"]
            if row["group_id"] is not None:
                key = f"group-{row['group_id']}"
                result[key] = result.get(key, 0) + n
    return result


def group_queues() -> list[Group]:
    return list(Group.objects.order_by("name"))
