"""``/api/v2/tickets``: list, show, show_many, create, update (with a ``comment`` that mails
like a reply in the UI), delete; and ``/api/v2/tickets/{id}/comments`` (SPEC F16).

Writes go through ``postdesk.web.actions``, the same code the agent UI uses, so a public
comment by API is enqueued for mail exactly like a reply typed in the browser.
"""

from __future__ import annotations

from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from postdesk.api.auth import require_admin, require_agent
from postdesk.api.errors import ErrorOut, RecordInvalid, RecordNotFound
from postdesk.api.pagination import PageParams, paginate
from postdesk.api.shapes import DbId, iso
from postdesk.api.ticket_shapes import (
    CommentListResponse,
    TicketListResponse,
    TicketResponse,
    comment_json,
    comment_queryset,
    ticket_json,
    ticket_queryset,
    via_json,
)
from postdesk.search import search_tickets
from postdesk.tickets.models import Comment, Ticket, User, Via
from postdesk.web import actions
from postdesk.web.actions import UNSET, ActionError, NewComment, TicketChanges

router = Router(tags=["Tickets"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}

SORT_FIELDS = {
    "id": "id",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "status": "status",
}


class TicketListParams(PageParams):
    sort_by: Literal["id", "created_at", "updated_at", "status"] | None = None
    sort_order: Literal["asc", "desc"] | None = None
    sort: str | None = Field(
        None,
        pattern=r"^-?(id|created_at|updated_at|status)$",
        description="Cursor pagination order, e.g. -updated_at",
    )
    status: str | None = Field(None, pattern=r"^(new|open|pending|hold|solved|closed)$")
    assignee_id: DbId | None = None
    group_id: DbId | None = None
    requester_id: DbId | None = None
    query: str | None = Field(None, max_length=500, description="Postdesk: text search")


class ShowManyParams(Schema):
    ids: str = Field(..., max_length=2000, pattern=r"^\d+(,\d+)*$")


class CommentIn(Schema):
    body: str | None = Field(None, max_length=1_000_000)
    html_body: str | None = Field(None, max_length=1_000_000)
    public: bool = True
    author_id: DbId | None = None


class RequesterIn(Schema):
    email: str = Field(..., max_length=254)
    name: str = Field("", max_length=255)
    locale_id: int | None = None


class EmailCcIn(Schema):
    user_id: DbId | None = None
    user_email: str | None = Field(None, max_length=254)
    action: Literal["put", "delete"] = "put"


class TicketFields(Schema):
    subject: str | None = Field(None, max_length=998)
    comment: CommentIn | None = None
    status: Literal["new", "open", "pending", "hold", "solved", "closed"] | None = None
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    group_id: DbId | None = None
    assignee_id: DbId | None = None
    requester_id: DbId | None = None
    requester: RequesterIn | None = None
    submitter_id: DbId | None = None
    tags: list[str] | None = Field(None, max_length=100)
    additional_tags: list[str] | None = Field(None, max_length=100)
    remove_tags: list[str] | None = Field(None, max_length=100)
    collaborator_ids: list[DbId] | None = Field(None, max_length=48)
    email_ccs: list[EmailCcIn] | None = Field(None, max_length=48)


class TicketWrite(Schema):
    ticket: TicketFields


def _get_ticket(ticket_id: DbId) -> Ticket:
    ticket = ticket_queryset().filter(pk=ticket_id).first()
    if ticket is None:
        raise RecordNotFound()
    return ticket


def _invalid(error: ActionError) -> RecordInvalid:
    return RecordInvalid.field(error.field, f"{error.field}: {error.message}")


def _user(user_id: DbId, field_name: str) -> User:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise RecordInvalid.field(field_name, f"{field_name}: user {user_id} not found")
    return user


def _changes(fields: TicketFields, current_tags: list[str]) -> TicketChanges:
    """The payload as ``TicketChanges``: only the keys the client sent."""
    sent = fields.model_fields_set
    changes = TicketChanges()
    if "subject" in sent:
        changes.subject = fields.subject or ""
    for name in ("status", "priority", "group_id", "assignee_id"):
        if name in sent:
            setattr(changes, name, getattr(fields, name))
    if fields.status is None and "status" in sent:
        changes.status = UNSET  # null status means "leave it"
    tags: list[str] | None = None
    if fields.tags is not None:
        tags = actions.normalize_tags(fields.tags)
    if fields.additional_tags or fields.remove_tags:
        tags = list(tags if tags is not None else current_tags)
        tags += actions.normalize_tags(fields.additional_tags or [])
        removed = set(actions.normalize_tags(fields.remove_tags or []))
        tags = [t for t in dict.fromkeys(tags) if t not in removed]
    if tags is not None:
        changes.tags = tags
    if fields.requester_id is not None:
        changes.requester = _user(fields.requester_id, "requester_id")
    elif fields.requester is not None:
        changes.requester = actions.user_for_email(fields.requester.email, fields.requester.name)
    if fields.collaborator_ids is not None:
        changes.cc_ids = fields.collaborator_ids
    for cc in fields.email_ccs or []:
        if cc.action == "delete" and cc.user_id is not None:
            changes.remove_cc_ids.append(cc.user_id)
        elif cc.action == "delete" and cc.user_email:
            user = User.objects.filter(identities__email=cc.user_email.strip().lower()).first()
            if user is not None:
                changes.remove_cc_ids.append(user.pk)
        elif cc.user_email:
            changes.add_cc_emails.append(cc.user_email)
        elif cc.user_id is not None:
            changes.add_cc_emails.append(_user(cc.user_id, "email_ccs").email)
    return changes


def _new_comment(comment: CommentIn | None, actor: User) -> NewComment | None:
    if comment is None:
        return None
    author = None
    if comment.author_id is not None and comment.author_id != actor.pk:
        author = _user(comment.author_id, "comment.author_id")
    return NewComment(
        body=comment.body or "",
        html_body=comment.html_body or "",
        public=comment.public,
        author=author,
    )


def _audit(
    request: HttpRequest,
    ticket: Ticket,
    actor: User,
    before: dict[str, Any],
    comment: Comment | None,
) -> dict[str, Any]:
    events: list[dict[str, Any]] = []
    if comment is not None:
        events.append(
            {
                "id": comment.pk,
                "type": "Comment",
                "author_id": comment.author_id,
                "body": comment.body,
                "html_body": comment.html_body,
                "public": comment.public,
            }
        )
    after = _field_values(ticket)
    for name, value in after.items():
        if before.get(name) != value:
            event_type = "Create" if not before else "Change"
            event: dict[str, Any] = {"type": event_type, "field_name": name, "value": value}
            if before:
                event["previous_value"] = before.get(name)
            events.append(event)
    return {
        "id": None,
        "ticket_id": ticket.pk,
        "author_id": actor.pk,
        "created_at": iso(ticket.updated_at),
        "via": via_json(Via.API),
        "events": events,
    }


def _field_values(ticket: Ticket) -> dict[str, Any]:
    return {
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority or None,
        "group_id": ticket.group_id,
        "assignee_id": ticket.assignee_id,
        "requester_id": ticket.requester_id,
        "tags": list(ticket.tags or []),
    }


def _order(params: TicketListParams) -> tuple[str, ...]:
    if params.sort:
        column = SORT_FIELDS[params.sort.lstrip("-")]
        prefix = "-" if params.sort.startswith("-") else ""
    else:
        column = SORT_FIELDS[params.sort_by or "id"]
        prefix = "-" if params.sort_order == "desc" else ""
    if column == "id":
        return (f"{prefix}id",)
    return (f"{prefix}{column}", f"{prefix}id")


def _filtered(params: TicketListParams) -> QuerySet[Ticket]:
    # Plain rows: the page is chosen first, then only its tickets are loaded in full (an
    # OFFSET would otherwise compute every skipped row's description too).
    tickets = Ticket.objects.only("id", "created_at", "updated_at", "status")
    if params.status:
        tickets = tickets.filter(status=params.status)
    if params.assignee_id is not None:
        tickets = tickets.filter(assignee_id=params.assignee_id)
    if params.group_id is not None:
        tickets = tickets.filter(group_id=params.group_id)
    if params.requester_id is not None:
        tickets = tickets.filter(requester_id=params.requester_id)
    if params.query:
        tickets = search_tickets(tickets, params.query)
    return tickets


@router.get("", response={200: TicketListResponse, **ERRORS}, exclude_unset=True)
def list_tickets(request: HttpRequest, params: Query[TicketListParams]) -> dict[str, Any]:
    require_agent(request)
    page = paginate(request, _filtered(params), params, _order(params))
    full = ticket_queryset().in_bulk([row.pk for row in page.rows])
    # A ticket deleted between the two queries is left out rather than failing the page.
    rows = [full[row.pk] for row in page.rows if row.pk in full]
    return {"tickets": [ticket_json(request, t) for t in rows], **page.body}


@router.get("/show_many", response={200: TicketListResponse, **ERRORS}, exclude_unset=True)
def show_many(request: HttpRequest, params: Query[ShowManyParams]) -> dict[str, Any]:
    require_agent(request)
    ids = [int(i) for i in params.ids.split(",") if len(i) < 19][:100]
    tickets = ticket_queryset().filter(pk__in=ids).order_by("id")
    rows = [ticket_json(request, t) for t in tickets]
    return {"tickets": rows, "next_page": None, "previous_page": None, "count": len(rows)}


@router.get("/{int:ticket_id}", response={200: TicketResponse, **ERRORS}, exclude_unset=True)
def show_ticket(request: HttpRequest, ticket_id: DbId) -> dict[str, Any]:
    require_agent(request)
    return {"ticket": ticket_json(request, _get_ticket(ticket_id))}


@router.post("", response={201: TicketResponse, **ERRORS}, exclude_unset=True)
def create_ticket(request: HttpRequest, payload: TicketWrite) -> Status[dict[str, Any]]:
    actor = require_agent(request)
    fields = payload.ticket
    if fields.comment is None or not (fields.comment.body or fields.comment.html_body):
        raise RecordInvalid.field("comment", "Comment: cannot be blank", "BlankValue")
    try:
        changes = _changes(fields, [])
        requester = changes.requester if changes.requester is not UNSET else actor
        changes.requester = UNSET
        if fields.submitter_id is not None:
            submitter = _user(fields.submitter_id, "submitter_id")
        else:
            submitter = actor
        comment = _new_comment(fields.comment, actor)
        assert comment is not None
        if comment.author is None:
            comment.author = submitter
        ticket, first = actions.create_ticket(actor, requester, comment, changes, via=Via.API)
    except ActionError as error:
        raise _invalid(error) from None
    ticket = _get_ticket(ticket.pk)
    return Status(
        201,
        {
            "ticket": ticket_json(request, ticket),
            "audit": _audit(request, ticket, actor, {}, first),
        },
    )


@router.put("/{int:ticket_id}", response={200: TicketResponse, **ERRORS}, exclude_unset=True)
def update_ticket(request: HttpRequest, ticket_id: DbId, payload: TicketWrite) -> dict[str, Any]:
    actor = require_agent(request)
    current = _get_ticket(ticket_id)
    before = _field_values(current)
    try:
        changes = _changes(payload.ticket, list(current.tags or []))
        comment = _new_comment(payload.ticket.comment, actor)
        _ticket, new_comment = actions.update_ticket(
            ticket_id, actor, changes, comment, via=Via.API
        )
    except ActionError as error:
        raise _invalid(error) from None
    ticket = _get_ticket(ticket_id)
    return {
        "ticket": ticket_json(request, ticket),
        "audit": _audit(request, ticket, actor, before, new_comment),
    }


@router.delete("/{int:ticket_id}", response={204: None, **ERRORS})
def delete_ticket(request: HttpRequest, ticket_id: DbId) -> Status[None]:
    require_admin(request)
    if not Ticket.objects.filter(pk=ticket_id).exists():
        raise RecordNotFound()
    actions.delete_ticket(ticket_id)
    return Status(204, None)


class CommentListParams(PageParams):
    sort_order: Literal["asc", "desc"] | None = None
    include_inline_images: bool | None = None


@router.get(
    "/{int:ticket_id}/comments", response={200: CommentListResponse, **ERRORS}, exclude_unset=True
)
def list_comments(
    request: HttpRequest, ticket_id: DbId, params: Query[CommentListParams]
) -> dict[str, Any]:
    require_agent(request)
    if not Ticket.objects.filter(pk=ticket_id).exists():
        raise RecordNotFound()
    order = ("-created_at", "-id") if params.sort_order == "desc" else ("created_at", "id")
    page = paginate(request, comment_queryset().filter(ticket_id=ticket_id), params, order)
    return {"comments": [comment_json(request, c) for c in page.rows], **page.body}
