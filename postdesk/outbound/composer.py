"""From a :class:`Draft` (what a service wants to say) to a stored, queued outbound mail.

``store(draft)`` runs in the caller's transaction: it creates the ``OutboundMessage`` row
(its id goes into the signed Message-ID and the VERP return paths), composes the exact bytes
with ``postdesk.mail.compose``, stores them with one ``OutboundRecipient`` per envelope
recipient, records the Message-ID on the comment the mail carries, and queues the delivery
task. Either all of that commits together with the caller's work (the comment, the ticket)
or none of it does: the transactional outbox. Unsafe header input raises
``headersafe.UnsafeHeader`` before anything is written.
"""

from __future__ import annotations

import hashlib
import html
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.tasks import TaskResultStatus

from postdesk import keys
from postdesk.channels.models import SupportAddress
from postdesk.inbound import rows
from postdesk.mail import compose, headersafe
from postdesk.outbound.models import (
    OutboundKind,
    OutboundMessage,
    OutboundRecipient,
    OutboundStatus,
    RecipientKind,
)
from postdesk.tickets.models import Comment, Ticket, UserIdentity


def instance_id() -> str:
    """What this desk's loop header (``X-Postdesk-Loop``) carries, stable across restarts.

    The desk domain names the desk for a human reading headers; the digest of the secret
    tells two desks that share a domain name (staging and production) apart.
    """
    return _instance_id(settings.SECRET_KEY, settings.POSTDESK.mail_domain)


@lru_cache(maxsize=8)
def _instance_id(secret: str, domain: str) -> str:
    # Every mail in and out asks (the loop header, the loop rule); the arguments are what the
    # answer depends on, so a changed secret or domain (tests, a reconfigured desk) is a new
    # entry rather than a stale one.
    digest = hashlib.sha256(keys.derived_key("postdesk.instance-id")).hexdigest()[:12]
    return f"{domain}-{digest}"


@dataclass(frozen=True)
class Recipient:
    address: str
    name: str = ""
    kind: str = RecipientKind.TO
    identity: UserIdentity | None = None


@dataclass(frozen=True)
class Draft:
    kind: str
    sender: SupportAddress | None
    from_email: str
    recipients: Sequence[Recipient]
    subject: str
    text: str
    ticket: Ticket | None = None
    comment: Comment | None = None
    agent_name: str = ""
    address_name: str = ""
    language: str = "en"
    with_html: bool = True
    include_reply_delimiter: bool = True
    include_ticket_token: bool = True
    ticket_marker: bool = True
    auto_submitted: compose.AutoSubmitted | None = None
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    extra_headers: Sequence[tuple[str, str]] = field(default_factory=tuple)


def html_from_text(text: str) -> str:
    """A plain HTML rendering of a text body: escaped, paragraphs and line breaks kept."""
    paragraphs = [p for p in text.strip("\n").split("\n\n") if p.strip()]
    return "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


def _needs_smtputf8(recipients: Sequence[Recipient], from_email: str) -> bool:
    return any(
        not address.rpartition("@")[0].isascii()
        for address in [from_email, *(r.address for r in recipients)]
    )


def store(draft: Draft) -> OutboundMessage:
    """Compose, store and queue the mail; returns the stored ``OutboundMessage``."""
    if not draft.recipients:
        raise ValueError("an outbound mail needs at least one recipient")
    smtputf8 = _needs_smtputf8(draft.recipients, draft.from_email)
    with transaction.atomic():
        # Plain INSERTs (``inbound.rows``): every acknowledgement stores a message and its
        # recipients, and the ORM's create()/bulk_create() cost more than the database's work.
        # Nothing listens to these models' save signals.
        message = rows.insert(_message_row(draft, smtputf8=smtputf8))
        spec = compose.OutboundSpec(
            secret_key=keys.token_key(),
            desk_domain=settings.POSTDESK.mail_domain,
            instance_id=instance_id(),
            ticket_id=draft.ticket.pk if draft.ticket is not None else 0,
            outbound_id=message.pk,
            from_address=draft.from_email,
            agent_name=draft.agent_name,
            address_name=draft.address_name,
            to=[compose.Mailbox(r.address, r.name) for r in draft.recipients if r.kind == "to"],
            cc=[compose.Mailbox(r.address, r.name) for r in draft.recipients if r.kind == "cc"],
            bcc=[compose.Mailbox(r.address, r.name) for r in draft.recipients if r.kind == "bcc"],
            subject=draft.subject,
            text=draft.text,
            html=html_from_text(draft.text) if draft.with_html else None,
            language=draft.language,
            ticket_marker=draft.ticket_marker and draft.ticket is not None,
            include_reply_delimiter=draft.include_reply_delimiter,
            include_ticket_token=draft.include_ticket_token and draft.ticket is not None,
            auto_submitted=draft.auto_submitted,
            in_reply_to=draft.in_reply_to,
            references=draft.references,
            extra_headers=draft.extra_headers,
            bounce_domain=settings.POSTDESK.mail_domain,
            smtputf8=smtputf8,
        )
        composed = compose.compose_message(spec)
        _record_composed(message, composed)
        by_address = {r.address.lower(): r for r in draft.recipients}
        rows.insert_all(
            [
                OutboundRecipient(
                    message=message,
                    address=address,
                    kind=_kind_of(by_address, address),
                    identity=_identity_of(by_address, address),
                    return_path=composed.return_paths[address],
                )
                for address in composed.recipients
            ]
        )
        if draft.comment is not None and draft.kind == OutboundKind.REPLY:
            Comment.objects.filter(pk=draft.comment.pk).update(message_id=composed.message_id)
            draft.comment.message_id = composed.message_id
        _wake_worker(message.pk)
    return message


def _column(model: type[Model], name: str) -> str:
    """The quoted column of field ``name``, for the few statements written out here."""
    column = model._meta.get_field(name).column  # type: ignore[union-attr]
    return connection.ops.quote_name(column or name)


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _record_composed(message: OutboundMessage, composed: compose.ComposedMessage) -> None:
    """Store the bytes and the Message-ID on the row just created (both need its id).

    Plain SQL for the same reason as the rate windows (``suspension.ratestore``): building
    the ORM's UPDATE cost more than writing the bytes."""
    message.raw = composed.raw
    message.message_id = composed.message_id
    model = OutboundMessage
    sql = (
        f"UPDATE {_table(model)} SET {_column(model, 'raw')} = %s,"  # noqa: S608
        f" {_column(model, 'message_id')} = %s WHERE {_column(model, 'id')} = %s"
    )
    raw = model._meta.get_field("raw").get_db_prep_save(composed.raw, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [raw, composed.message_id, message.pk])


# The id of the delivery task this process last found waiting or queued: where the next
# mail's wake-up looks first (see _wake_worker).
_last_waiting: uuid.UUID | str | None = None


def _wake_worker(outbound_id: int) -> None:
    """Queue a delivery task unless one that will see this mail is already waiting.

    A waiting (ready, not yet claimed) task drains every due mail when it runs, so a burst of
    mail needs one task, not one each. The waiting task's row is locked until our commit:
    on PostgreSQL a worker skips locked task rows, so it can't start draining before this
    mail is visible; on SQLite the write lock orders the two anyway. The periodic
    ``wake_if_due`` job covers whatever slips through.

    Finding a waiting task is a query over the task table; it is asked only when the task
    this process last found or queued is no longer waiting. That one is looked up (and
    locked) by its id, which is all the wake-up costs for the second and later mails of a
    burst, or of one transaction. The check is made in our transaction every time, so a task
    that was claimed meanwhile, or queued in a savepoint that was rolled back, is not trusted.
    """
    from django_tasks_db.models import DBTaskResult

    from postdesk.outbound.tasks import send_outbound

    global _last_waiting
    if _last_waiting is not None and _still_waiting(_last_waiting):
        return
    waiting = list(
        DBTaskResult.objects.ready()
        .filter(task_path=send_outbound.module_path, queue_name="outbound")
        .select_for_update()
        .values_list("id", flat=True)[:1]
    )
    _last_waiting = waiting[0] if waiting else send_outbound.enqueue(outbound_id).id


def _still_waiting(task_id: uuid.UUID | str) -> bool:
    """Whether task ``task_id`` is still ready and unclaimed; locks its row on PostgreSQL.

    Plain SQL: the ORM's query building costs more than the rest of a mail's wake-up. A task
    that was ready and due stays due until it is claimed (a retry is a new task), so its
    status is all there is to check."""
    from django_tasks_db.models import DBTaskResult

    sql = (
        f"SELECT 1 FROM {_table(DBTaskResult)} WHERE {_column(DBTaskResult, 'id')} = %s"  # noqa: S608
        f" AND {_column(DBTaskResult, 'status')} = %s"
    )
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    task_key = DBTaskResult._meta.pk.get_db_prep_value(task_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [task_key, TaskResultStatus.READY])
        return cursor.fetchone() is not None


def store_unsendable(draft: Draft, reason: str) -> OutboundMessage:
    """Record a mail that could not go to anyone (every recipient undeliverable), so the
    ticket shows why nobody got it."""
    return rows.insert(_message_row(draft, status=OutboundStatus.FAILED, last_error=reason))


def _message_row(draft: Draft, **values: object) -> OutboundMessage:
    """The unsaved ``OutboundMessage`` of ``draft``, with ``values`` for its other columns."""
    return OutboundMessage(
        kind=draft.kind,
        ticket=draft.ticket,
        comment=draft.comment,
        sender_address=draft.sender,
        from_address=draft.from_email,
        subject=draft.subject[:998],
        **values,
    )


def _recipient_for(by_address: dict[str, Recipient], address: str) -> Recipient | None:
    # compose normalises domains (lower case, A-labels); match on the normalised form too.
    found = by_address.get(address.lower())
    if found is not None:
        return found
    for recipient in by_address.values():
        try:
            if headersafe.addr_spec(recipient.address, allow_utf8=True).lower() == address.lower():
                return recipient
        except headersafe.UnsafeHeader:
            continue
    return None


def _kind_of(by_address: dict[str, Recipient], address: str) -> str:
    found = _recipient_for(by_address, address)
    return found.kind if found is not None else RecipientKind.TO


def _identity_of(by_address: dict[str, Recipient], address: str) -> UserIdentity | None:
    found = _recipient_for(by_address, address)
    return found.identity if found is not None else None


def validated_subject(text: str) -> str:
    """A subject from inbound mail made safe to send: control and bidi characters become
    spaces and encoded-word syntax is broken up, rather than refusing the whole mail."""
    cleaned = headersafe.replace_forbidden(text)
    value = " ".join(cleaned.replace("=?", "= ?").split())
    return value[: headersafe.MAX_SUBJECT_LENGTH - 20]
