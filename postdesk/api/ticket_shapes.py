"""Zendesk's JSON shapes of tickets, comments and attachments, and the querysets that load
them in a fixed number of queries however long the page (SPEC F16)."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from ninja import Schema

from postdesk.api.pagination import CursorLinks, CursorMeta
from postdesk.api.shapes import iso, resource_url
from postdesk.tickets.models import Attachment, Comment, Ticket, User


class ViaOut(Schema):
    channel: str
    source: dict[str, Any]


class TicketOut(Schema):
    id: int
    url: str
    external_id: str | None
    type: str | None
    subject: str
    raw_subject: str
    description: str
    priority: str | None
    status: str
    recipient: str | None
    requester_id: int
    submitter_id: int | None
    assignee_id: int | None
    organization_id: int | None
    group_id: int | None
    collaborator_ids: list[int]
    email_cc_ids: list[int]
    follower_ids: list[int]
    followup_ids: list[int]
    via_followup_source_id: int | None
    problem_id: int | None
    has_incidents: bool
    is_public: bool
    due_at: str | None
    tags: list[str]
    custom_fields: list[dict[str, Any]]
    via: ViaOut
    allow_channelback: bool
    allow_attachments: bool
    created_at: str | None
    updated_at: str | None


class AttachmentOut(Schema):
    id: int
    file_name: str
    content_url: str
    mapped_content_url: str
    content_type: str
    size: int
    inline: bool
    deleted: bool
    thumbnails: list[dict[str, Any]]


class CommentOut(Schema):
    id: int
    type: str
    author_id: int
    body: str
    html_body: str
    plain_body: str
    public: bool
    attachments: list[AttachmentOut]
    audit_id: int | None
    via: ViaOut
    metadata: dict[str, Any]
    created_at: str | None


class TicketListResponse(Schema):
    tickets: list[TicketOut]
    next_page: str | None = None
    previous_page: str | None = None
    count: int | None = None
    meta: CursorMeta | None = None
    links: CursorLinks | None = None


class CommentListResponse(Schema):
    comments: list[CommentOut]
    next_page: str | None = None
    previous_page: str | None = None
    count: int | None = None
    meta: CursorMeta | None = None
    links: CursorLinks | None = None


class AuditOut(Schema):
    """What one change did. Postdesk keeps no audit log, so ``id`` is null; the events list
    the changes and the comment this request made."""

    id: int | None
    ticket_id: int
    author_id: int
    created_at: str | None
    via: ViaOut
    events: list[dict[str, Any]]


class TicketResponse(Schema):
    ticket: TicketOut
    audit: AuditOut | None = None


def ticket_queryset() -> QuerySet[Ticket]:
    """Tickets with everything their JSON needs, in three queries per page."""
    first_comment = Comment.objects.filter(ticket=OuterRef("pk")).order_by("created_at", "id")
    return (
        Ticket.objects.select_related("requester")
        .annotate(first_comment_body=Subquery(first_comment.values("body")[:1]))
        .prefetch_related(Prefetch("ccs", queryset=User.objects.only("id")))
    )


def via_json(channel: str, requester: User | None = None, recipient: str = "") -> dict[str, Any]:
    if channel == "email" and requester is not None:
        return {
            "channel": "email",
            "source": {
                "from": {"address": requester.email, "name": requester.name or requester.email},
                "to": {"address": recipient or None, "name": None},
                "rel": None,
            },
        }
    return {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}}


def ticket_json(request: HttpRequest, ticket: Ticket) -> dict[str, Any]:
    cc_ids = [user.pk for user in ticket.ccs.all()]
    description = getattr(ticket, "first_comment_body", None)
    if description is None and not hasattr(ticket, "first_comment_body"):
        first = ticket.comments.order_by("created_at", "id").values_list("body", flat=True)[:1]
        description = next(iter(first), "")
    return {
        "id": ticket.pk,
        "url": resource_url(request, "tickets", ticket.pk),
        "external_id": None,
        "type": None,
        "subject": ticket.subject,
        "raw_subject": ticket.subject,
        "description": description or "",
        "priority": ticket.priority or None,
        "status": ticket.status,
        "recipient": ticket.recipient or None,
        "requester_id": ticket.requester_id,
        "submitter_id": ticket.submitter_id,
        "assignee_id": ticket.assignee_id,
        "organization_id": None,
        "group_id": ticket.group_id,
        "collaborator_ids": cc_ids,
        "email_cc_ids": cc_ids,
        "follower_ids": [],
        "followup_ids": [],
        "via_followup_source_id": ticket.followup_of_id,
        "problem_id": None,
        "has_incidents": False,
        "is_public": True,
        "due_at": None,
        "tags": list(ticket.tags or []),
        "custom_fields": [],
        "via": via_json(ticket.via, ticket.requester, ticket.recipient),
        "allow_channelback": False,
        "allow_attachments": True,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
    }


def comment_queryset() -> QuerySet[Comment]:
    return Comment.objects.select_related("author", "ticket").prefetch_related(
        Prefetch("attachments", queryset=Attachment.objects.order_by("id"))
    )


def attachment_json(request: HttpRequest, attachment: Attachment) -> dict[str, Any]:
    url = request.build_absolute_uri(
        reverse("attachment", args=[attachment.pk, attachment.filename or "attachment"])
    )
    return {
        "id": attachment.pk,
        "file_name": attachment.filename,
        "content_url": url,
        "mapped_content_url": url,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "inline": attachment.inline,
        "deleted": False,
        "thumbnails": [],
    }


def comment_json(request: HttpRequest, comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.pk,
        "type": "Comment",
        "author_id": comment.author_id,
        "body": comment.body,
        "html_body": comment.html_body,
        "plain_body": comment.body,
        "public": comment.public,
        "attachments": [attachment_json(request, a) for a in comment.attachments.all()],
        "audit_id": None,
        "via": via_json(comment.via, comment.author, comment.ticket.recipient),
        "metadata": {"system": {}, "custom": {}, "flags": list(comment.flags or [])},
        "created_at": iso(comment.created_at),
    }
