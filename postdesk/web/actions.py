"""What an agent does to a ticket — change its fields, reply, add a note, create one — in one
place shared by the agent UI (``postdesk.web``) and the API (``postdesk.api``).

Each action runs in one transaction holding the ticket's row lock, so two agents saving at
once can't interleave half-updates. A public reply by an agent ends in
``postdesk.outbound.services.send_public_reply(comment)``, which only *enqueues* the mail
(the outbox row and its task commit with the comment); nothing is sent inside the request.
Bad input raises ``ActionError(field, message)`` for the caller to show (a form error, a
``422 RecordInvalid``).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps as django_apps
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from postdesk.inbound import people
from postdesk.mail import html as mail_html
from postdesk.mail.parse import Address
from postdesk.tickets import blobs
from postdesk.tickets.models import (
    Attachment,
    Comment,
    Group,
    Priority,
    Status,
    Ticket,
    User,
    Via,
)

logger = logging.getLogger("postdesk.web.actions")

MAX_TAGS = 100
MAX_TAG_LENGTH = 80
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MAX_BODY_CHARS = 1_000_000
MAX_CCS = 48


class ActionError(ValueError):
    """Input the agent must correct; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class NewComment:
    body: str = ""
    html_body: str = ""
    public: bool = True
    uploads: Sequence[Upload] = ()
    author: User | None = None  # default: the acting agent


@dataclass
class TicketChanges:
    """Fields to change; ``UNSET`` leaves a field alone, ``None`` clears a nullable one."""

    subject: Any = UNSET
    status: Any = UNSET
    priority: Any = UNSET
    group_id: Any = UNSET
    assignee_id: Any = UNSET
    tags: Any = UNSET
    requester: Any = UNSET
    cc_ids: Any = UNSET  # replaces the CC list (user ids)
    add_cc_emails: list[str] = field(default_factory=list)
    remove_cc_ids: list[int] = field(default_factory=list)


def normalize_tags(raw: Iterable[str]) -> list[str]:
    """Zendesk's tags: lower case, no blanks inside (a space separates two tags), unique."""
    tags: list[str] = []
    for item in raw:
        for word in str(item).replace(",", " ").split():
            tag = word.strip().lower()[:MAX_TAG_LENGTH]
            if tag and tag not in tags:
                tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ActionError("tags", _("At most %(n)d tags.") % {"n": MAX_TAGS})
    return tags


def user_for_email(email: str, name: str = "") -> User:
    """The user owning ``email`` (any identity), or a new end user."""
    email = email.strip()
    if not people.usable_email(email.lower()):
        raise ActionError("email", _("%(email)s is not a valid email address.") % {"email": email})
    return people.user_for(Address(name, email))


def _check_agent(user_id: int | None, field_name: str) -> int | None:
    if user_id is None:
        return None
    user = User.objects.filter(pk=user_id).first()
    if user is None or not user.is_agent or not user.is_active:
        raise ActionError(field_name, _("The assignee must be an active agent."))
    return user.pk


def _apply(ticket: Ticket, changes: TicketChanges) -> list[str]:
    changed: list[str] = []
    if changes.subject is not UNSET:
        subject = str(changes.subject or "").replace("\r", " ").replace("\n", " ").strip()
        ticket.subject = subject[:998]
        changed.append("subject")
    if changes.status is not UNSET:
        if changes.status not in Status.values:
            raise ActionError("status", _("Unknown status."))
        ticket.status = changes.status
        changed.append("status")
    if changes.priority is not UNSET:
        priority = changes.priority or ""
        if priority and priority not in Priority.values:
            raise ActionError("priority", _("Unknown priority."))
        ticket.priority = priority
        changed.append("priority")
    if changes.group_id is not UNSET:
        if changes.group_id is not None and not Group.objects.filter(pk=changes.group_id).exists():
            raise ActionError("group_id", _("Unknown group."))
        ticket.group_id = changes.group_id
        changed.append("group")
    if changes.assignee_id is not UNSET:
        ticket.assignee_id = _check_agent(changes.assignee_id, "assignee_id")
        changed.append("assignee")
    if changes.tags is not UNSET:
        ticket.tags = normalize_tags(changes.tags or [])
        changed.append("tags")
    if changes.requester is not UNSET:
        if changes.requester is None:
            raise ActionError("requester", _("A ticket needs a requester."))
        ticket.requester = changes.requester
        changed.append("requester")
    return changed


def _apply_ccs(ticket: Ticket, changes: TicketChanges) -> None:
    if changes.cc_ids is not UNSET:
        ids = list(dict.fromkeys(int(i) for i in changes.cc_ids or []))
        found = list(User.objects.filter(pk__in=ids).values_list("pk", flat=True))
        if len(found) != len(ids):
            raise ActionError("collaborator_ids", _("Unknown user."))
        ticket.ccs.set(found)
    if changes.remove_cc_ids:
        ticket.ccs.remove(*changes.remove_cc_ids)
    if changes.add_cc_emails:
        users = [user_for_email(email) for email in changes.add_cc_emails]
        ticket.ccs.add(*[u for u in users if u.pk != ticket.requester_id])
    if ticket.ccs.count() > MAX_CCS:
        raise ActionError("email_ccs", _("At most %(n)d CCs.") % {"n": MAX_CCS})


def _store_comment(ticket: Ticket, author: User, new: NewComment, via: str) -> Comment:
    html_body = mail_html.sanitize(new.html_body) if new.html_body else ""
    body = new.body or (mail_html.html_to_text(html_body) if html_body else "")
    if not body.strip() and not html_body and not new.uploads:
        raise ActionError("comment", _("The comment is empty."))
    if len(body) > MAX_BODY_CHARS or len(html_body) > MAX_BODY_CHARS:
        raise ActionError("comment", _("The comment is too long."))
    for upload in new.uploads:
        if len(upload.data) > MAX_UPLOAD_BYTES:
            raise ActionError(
                "attachments", _("%(name)s is larger than 25 MB.") % {"name": upload.filename}
            )
    comment = Comment.objects.create(
        ticket=ticket,
        author=author,
        body=body,
        html_body=html_body,
        public=new.public,
        via=via,
        created_at=timezone.now(),
    )
    Attachment.objects.bulk_create(
        Attachment(
            comment=comment,
            filename=_safe_filename(upload.filename),
            content_type=_safe_content_type(upload.content_type),
            size=len(upload.data),
            sha256=blobs.store(upload.data),
        )
        for upload in new.uploads
    )
    return comment


def _safe_filename(name: str) -> str:
    # Only the last path component, without control characters: it ends up in a header.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f").strip()
    return (name or "attachment")[:255]


def _safe_content_type(value: str) -> str:
    value = (value or "").split(";", 1)[0].strip().lower()
    kind, _slash, sub = value.partition("/")
    if not kind or not sub or any(ch.isspace() or ch in '"\\' for ch in value):
        return "application/octet-stream"
    return value[:255]


def outbound_available() -> bool:
    """Whether this tree has the outbound service that mails replies."""
    try:
        return importlib.util.find_spec("postdesk.outbound.services") is not None
    except ModuleNotFoundError:
        return False


def send_public_reply(comment: Comment) -> bool:
    """Hand a public agent comment to the outbound app (which enqueues the mail). False when
    the outbound app is not part of this installation."""
    if not django_apps.is_installed("postdesk.outbound") or not outbound_available():
        logger.warning("outbound app not installed: comment %s recorded, not mailed", comment.pk)
        return False
    from postdesk.outbound import services  # an optional app: imported only when installed

    services.send_public_reply(comment)
    return True


def update_ticket(
    ticket_id: int,
    actor: User,
    changes: TicketChanges,
    comment: NewComment | None = None,
    *,
    via: str = Via.WEB,
) -> tuple[Ticket, Comment | None]:
    """Apply ``changes`` and add ``comment`` (if any) as ``actor``, atomically."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        if ticket.status == Status.CLOSED:
            raise ActionError("status", _("A closed ticket can't be changed."))
        changed = _apply(ticket, changes)
        new_comment = None
        if comment is not None:
            author = comment.author or actor
            new_comment = _store_comment(ticket, author, comment, via)
        # An agent working a new ticket opens it, unless they chose a status themselves.
        if "status" not in changed and ticket.status == Status.NEW and actor.is_agent:
            ticket.status = Status.OPEN
        ticket.updated_at = timezone.now()
        ticket.save()
        _apply_ccs(ticket, changes)
        if new_comment is not None and new_comment.public and new_comment.author.is_agent:
            send_public_reply(new_comment)
    return ticket, new_comment


def create_ticket(
    actor: User,
    requester: User,
    comment: NewComment,
    changes: TicketChanges,
    *,
    via: str = Via.WEB,
) -> tuple[Ticket, Comment]:
    """A ticket opened by an agent (a proactive ticket) with its first comment; a public
    first comment by an agent is mailed to the requester."""
    with transaction.atomic():
        now = timezone.now()
        ticket = Ticket(
            requester=requester,
            submitter=comment.author or actor,
            via=via,
            status=Status.NEW,
            created_at=now,
            updated_at=now,
        )
        _apply(ticket, changes)
        if not ticket.subject:
            ticket.subject = (comment.body or "").strip().split("\n", 1)[0][:80]
        ticket.save()
        first = _store_comment(ticket, comment.author or actor, comment, via)
        _apply_ccs(ticket, changes)
        if first.public and first.author.is_agent:
            send_public_reply(first)
    return ticket, first


def delete_ticket(ticket_id: int) -> None:
    """Delete a ticket with its comments (their attachment files stay: they are shared)."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
        if ticket is None:
            return
        ticket.followups.update(followup_of=None)
        ticket.delete()
