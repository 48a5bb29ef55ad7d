"""What agents and the scheduler do with suspended mail: recover, delete, purge, count.

Recovering runs the normal inbound pipeline again on the kept raw mail, in one transaction
with the mail locked, after marking it (`postdesk.inbound.protection.RECOVERY_MARK`) so the
protection step lets it through. The mail therefore becomes exactly the ticket or comment it
would have been, with its original requester, threading and attachments; automation still
keeps notifications off. Each failure is a `SuspensionError` with a code a UI or API can show;
nothing is written when one is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from postdesk.inbound import protection
from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.suspension import policy
from postdesk.suspension.models import DroppedMail, SuspendedMail
from postdesk.suspension.ratestore import DatabaseWindowStore
from postdesk.tickets.models import Comment, Ticket, User

__all__ = [
    "BULK_LIMIT",
    "BulkResult",
    "Recovery",
    "SuspensionError",
    "delete",
    "delete_many",
    "metrics",
    "parse_ids",
    "purge_expired",
    "recover",
    "recover_many",
]

logger = logging.getLogger(__name__)

# As Zendesk: bulk calls take at most 100 ids.
BULK_LIMIT = 100


class SuspensionError(Exception):
    """A recover or delete that can't be done; ``code`` is stable, the message is for people."""

    MESSAGES: dict[str, Any] = {
        "not_found": _("No such suspended mail."),
        "already_recovered": _("This mail was already recovered."),
        "deleted": _("This mail was deleted."),
        "ticket_deleted": _(
            "The ticket this mail answered (#%(ticket)s) was deleted, so there is nothing to add "
            "it to."
        ),
        "not_recoverable": _("This mail could not be turned into a ticket: %(detail)s"),
        "too_many_ids": _("At most %(limit)s ids at once."),
        "bad_id": _("Not an id: %(value)s"),
    }

    def __init__(self, code: str, suspended_id: int | None = None, **params: Any) -> None:
        self.code = code
        self.suspended_id = suspended_id
        self.params = params
        super().__init__(str(self.MESSAGES[code] % params if params else self.MESSAGES[code]))


@dataclass(frozen=True)
class Recovery:
    suspended: SuspendedMail
    ticket: Ticket
    comment: Comment | None


@dataclass(frozen=True)
class BulkResult:
    done: list[Any]
    failed: list[SuspensionError]


def _locked(suspended_id: int | None) -> SuspendedMail:
    suspended = (
        SuspendedMail.objects.select_for_update().filter(pk=suspended_id).first()
        if isinstance(suspended_id, int) and suspended_id >= 0
        else None
    )
    if suspended is None:
        raise SuspensionError("not_found", suspended_id)
    return suspended


def recover(suspended: SuspendedMail | int | None, by: User | None) -> Recovery:
    """Turn a suspended mail into the ticket or comment it would have been."""
    from postdesk.inbound import pipeline

    with transaction.atomic():
        item = _locked(_id_of(suspended))
        if item.recovered_at is not None:
            raise SuspensionError("already_recovered", item.pk)
        if item.deleted_at is not None:
            raise SuspensionError("deleted", item.pk)
        if (
            item.thread_ticket_id is not None
            and not Ticket.objects.filter(pk=item.thread_ticket_id).exists()
        ):
            raise SuspensionError("ticket_deleted", item.pk, ticket=item.thread_ticket_id)
        message = InboundMessage.objects.select_for_update().get(pk=item.inbound_id)
        message.diagnostics = {
            **(message.diagnostics or {}),
            protection.RECOVERY_MARK: {"suspended": item.pk, "by": by.pk if by else None},
        }
        pipeline.process(message)
        comment = _comment_of(message)
        ticket = message.ticket
        if ticket is None or message.status not in (
            InboundStatus.PROCESSED,
            InboundStatus.DROPPED,  # a duplicate of a comment made meanwhile: that is it
        ):
            detail = message.diagnostics.get("parse_error") or message.status
            # Raising rolls back whatever the pipeline wrote.
            raise SuspensionError("not_recoverable", item.pk, detail=detail)
        now = timezone.now()
        message.finished_at = now
        message.save()
        item.recovered_at = now
        item.recovered_by = by
        item.ticket_id = message.ticket_id
        item.comment = comment
        item.save(update_fields=["recovered_at", "recovered_by", "ticket", "comment", "updated_at"])
        logger.info("suspended %s recovered into ticket %s", item.pk, message.ticket_id)
        return Recovery(suspended=item, ticket=ticket, comment=comment)


def _id_of(suspended: SuspendedMail | int | None) -> int | None:
    return suspended.pk if isinstance(suspended, SuspendedMail) else suspended


def _comment_of(message: InboundMessage) -> Comment | None:
    duplicate_of = (message.diagnostics or {}).get("duplicate_of_comment")
    if duplicate_of is not None:
        return Comment.objects.filter(pk=duplicate_of).first()
    return Comment.objects.filter(inbound=message).first()


def delete(suspended: SuspendedMail | int | None, by: User | None) -> SuspendedMail:
    """Mark a suspended mail deleted; its raw mail goes with the next retention purge."""
    with transaction.atomic():
        item = _locked(_id_of(suspended))
        if item.recovered_at is not None:
            raise SuspensionError("already_recovered", item.pk)
        if item.deleted_at is not None:
            raise SuspensionError("deleted", item.pk)
        item.deleted_at = timezone.now()
        item.deleted_by = by
        item.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
        return item


def parse_ids(values: Iterable[object]) -> list[int]:
    """Ids from a request ("1,2,3" strings or numbers), each once, in order."""
    ids: list[int] = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            if not (part.isascii() and part.isdigit()) or len(part) > 18:
                raise SuspensionError("bad_id", value=part[:40])
            number = int(part)
            if number not in ids:
                ids.append(number)
    if len(ids) > BULK_LIMIT:
        raise SuspensionError("too_many_ids", limit=BULK_LIMIT)
    return ids


def recover_many(ids: Iterable[int], by: User | None) -> BulkResult:
    """Recover each id on its own: one failure (unknown id, already recovered) spoils nothing
    for the others."""
    return _each(ids, lambda pk: recover(pk, by))


def delete_many(ids: Iterable[int], by: User | None) -> BulkResult:
    return _each(ids, lambda pk: delete(pk, by))


def _each(ids: Iterable[int], action: Any) -> BulkResult:
    done: list[Any] = []
    failed: list[SuspensionError] = []
    for pk in dict.fromkeys(ids):
        try:
            done.append(action(pk))
        except SuspensionError as error:
            error.suspended_id = pk
            failed.append(error)
    return BulkResult(done=done, failed=failed)


def purge_expired(now: datetime | None = None) -> dict[str, int]:
    """The retention job (default 14 days): suspended mail nobody recovered goes with its raw
    mail; the records of recovered and dropped mail go, their tickets and spool rows stay."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=policy.retention_days())
    unrecovered = SuspendedMail.objects.filter(created_at__lt=cutoff, recovered_at__isnull=True)
    with transaction.atomic():
        inbound_ids = list(unrecovered.values_list("inbound_id", flat=True))
        # Deleting the spool row deletes the queue entry with it (cascade).
        InboundMessage.objects.filter(pk__in=inbound_ids, status=InboundStatus.SUSPENDED).delete()
        unrecovered.delete()
        recovered, _ = SuspendedMail.objects.filter(
            created_at__lt=cutoff, recovered_at__isnull=False
        ).delete()
        drops, _ = DroppedMail.objects.filter(created_at__lt=cutoff).delete()
        blocks = DatabaseWindowStore.purge_expired(policy.CLOCK())
    counts = {
        "suspended": len(inbound_ids),
        "recovered_records": recovered,
        "drop_records": drops,
        "rate_blocks": blocks,
    }
    if any(counts.values()):
        logger.info("retention purge: %s", counts)
    return counts


def metrics() -> dict[str, dict[str, int]]:
    """Counts for the status command and the metrics endpoint: the queue by cause (what agents
    still have to review), all suspensions kept by cause, and drops by rule (within the
    retention period)."""
    return {
        "suspended_pending_by_cause": _counts(SuspendedMail.objects.pending(), "cause"),
        "suspended_by_cause": _counts(SuspendedMail.objects.all(), "cause"),
        "dropped_by_rule": _counts(DroppedMail.objects.all(), "rule"),
    }


def _counts(queryset: Any, field: str) -> dict[str, int]:
    return dict(queryset.values_list(field).annotate(n=Count("id")).order_by(field))
