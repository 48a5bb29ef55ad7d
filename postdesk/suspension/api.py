"""``/api/v2/suspended_tickets``: Zendesk's suspended tickets (SPEC F16), for agents.

List (``sort_by`` author_email / cause / created_at / subject, ``sort_order``, offset or cursor
pagination), show, ``PUT {id}/recover``, ``PUT recover_many?ids=``, ``DELETE {id}``,
``DELETE destroy_many?ids=``. Shapes as Zendesk's: ``cause`` is Zendesk's description of the
cause ("Detected as mail loop"), ``cause_id`` its number where Zendesk has one, and
``cause_name`` the machine name. Recovering keeps the original requester (Zendesk's single
recover would make the calling agent the requester; Postdesk never does). A failed recovery
answers ``422`` with the ``suspended_tickets`` that failed, each with its ``error_messages``.
Only live entries are visible: recovered and deleted ones answer ``404``.
"""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from postdesk.api.auth import require_agent
from postdesk.api.errors import ErrorOut, RecordInvalid, RecordNotFound
from postdesk.api.pagination import CursorLinks, CursorMeta, PageParams, paginate
from postdesk.api.shapes import iso, resource_url
from postdesk.suspension import services
from postdesk.suspension.models import SuspendedMail
from postdesk.tickets.models import UserIdentity

router = Router(tags=["Suspended tickets"])

# Zendesk's words for each cause (its "Cause of suspension reference"); ours where it has none.
CAUSE_DESCRIPTIONS: dict[str, str] = {
    "spam": "Detected as spam",
    "auto_mailer": "Automated response mail",
    "loop": "Detected as mail loop",
    "auto_delivery_failure": "Automated response mail, delivery failed",
    "auto_vacation": "Automated response mail, out of office",
    "system_user": "Detected email as being from a system user",
    "blocklisted": "Email is from a blocklisted sender or domain",
    "from_support_address": "Received from support address",
    "failed_authentication": "Email failed authentication checks",
    "too_many_ccs": "Email was sent to too many recipients",
    "malformed": "Email could not be read",
    "too_large": "Email is too large",
}
SORT_FIELDS = {
    "author_email": "sender",
    "cause": "cause",
    "created_at": "created_at",
    "subject": "subject",
}


class AuthorOut(Schema):
    id: int | None
    name: str
    email: str


class ViaOut(Schema):
    channel: str
    source: dict[str, Any]


class SuspendedTicketOut(Schema):
    id: int
    url: str
    author: AuthorOut
    subject: str
    content: str
    cause: str
    cause_id: int | None
    cause_name: str
    message_id: str
    recipient: str
    ticket_id: int | None
    brand_id: int | None
    attachments: list[dict[str, Any]]
    error_messages: list[str] | None
    created_at: str | None
    updated_at: str | None
    via: ViaOut


class SuspendedTicketResponse(Schema):
    suspended_ticket: SuspendedTicketOut


class SuspendedTicketListResponse(Schema):
    suspended_tickets: list[SuspendedTicketOut]
    next_page: str | None = None
    previous_page: str | None = None
    count: int | None = None
    meta: CursorMeta | None = None
    links: CursorLinks | None = None


class RecoverOneResponse(Schema):
    # Zendesk wraps a single recovery's result in a list under "ticket".
    ticket: list[SuspendedTicketOut]


class RecoverManyResponse(Schema):
    tickets: list[SuspendedTicketOut]


class RecoveryFailedResponse(Schema):
    error: str
    description: str
    suspended_tickets: list[SuspendedTicketOut]


class SortParams(Schema):
    sort_by: Literal["author_email", "cause", "created_at", "subject"] = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"


class IdsParams(Schema):
    ids: str = Field(..., max_length=2000, description="Comma-separated ids, at most 100")


def suspended_json(
    request: HttpRequest,
    item: SuspendedMail,
    author_id: int | None = None,
    errors: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "id": item.pk,
        "url": resource_url(request, "suspended_tickets", item.pk),
        "author": {"id": author_id, "name": item.sender_name, "email": item.sender},
        "subject": item.subject,
        "content": item.preview,
        "cause": CAUSE_DESCRIPTIONS.get(item.cause, item.cause),
        "cause_id": item.cause_id,
        "cause_name": item.cause,
        "message_id": item.message_id,
        "recipient": item.recipient,
        "ticket_id": item.ticket_id or item.thread_ticket_id,
        "brand_id": None,
        "attachments": [],
        "error_messages": errors,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "via": {"channel": "email", "source": {"from": {"address": item.sender}, "rel": None}},
    }


def _author_ids(items: list[SuspendedMail]) -> dict[str, int]:
    senders = {item.sender for item in items if item.sender}
    return dict(UserIdentity.objects.filter(email__in=senders).values_list("email", "user_id"))


def _many_json(request: HttpRequest, items: list[SuspendedMail]) -> list[dict[str, Any]]:
    authors = _author_ids(items)
    return [suspended_json(request, item, authors.get(item.sender)) for item in items]


def _live(suspended_id: int) -> SuspendedMail:
    item = SuspendedMail.objects.pending().filter(pk=suspended_id).first()
    if item is None:
        raise RecordNotFound()
    return item


def _ids(raw: str) -> list[int]:
    try:
        ids = services.parse_ids([raw])
    except services.SuspensionError as error:
        raise RecordInvalid.field("ids", str(error)) from None
    if not ids:
        raise RecordInvalid.field("ids", "Give at least one id")
    return ids


@router.get("", response=SuspendedTicketListResponse, summary="List suspended tickets")
def list_suspended(
    request: HttpRequest, page: Query[PageParams], sort: Query[SortParams]
) -> dict[str, Any]:
    require_agent(request)
    sign = "-" if sort.sort_order == "desc" else ""
    order = (f"{sign}{SORT_FIELDS[sort.sort_by]}", f"{sign}id")
    result = paginate(request, SuspendedMail.objects.pending(), page, order)
    return {"suspended_tickets": _many_json(request, result.rows), **result.body}


@router.put(
    "recover_many",
    response={200: RecoverManyResponse, 422: RecoveryFailedResponse},
    summary="Recover suspended tickets",
)
def recover_many(request: HttpRequest, ids: Query[IdsParams]) -> Any:
    agent = require_agent(request)
    result = services.recover_many(_ids(ids.ids), agent)
    recovered = [recovery.suspended for recovery in result.done]
    if result.failed:
        return Status(422, _failure_body(request, result.failed))
    return Status(200, {"tickets": _many_json(request, recovered)})


@router.delete(
    "destroy_many", response={204: None, 422: ErrorOut}, summary="Delete suspended tickets"
)
def destroy_many(request: HttpRequest, ids: Query[IdsParams]) -> Any:
    agent = require_agent(request)
    wanted = _ids(ids.ids)
    # Check every id first so that a typo deletes nothing.
    found = set(SuspendedMail.objects.pending().filter(pk__in=wanted).values_list("pk", flat=True))
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise RecordInvalid.field(
            "ids", "No suspended ticket with id " + ", ".join(str(pk) for pk in missing)
        )
    result = services.delete_many(wanted, agent)
    if result.failed:
        raise RecordInvalid.field("ids", "; ".join(str(error) for error in result.failed))
    return Status(204, None)


@router.get(
    "{int:suspended_id}",
    response={200: SuspendedTicketResponse, 404: ErrorOut},
    summary="Show a suspended ticket",
)
def show_suspended(request: HttpRequest, suspended_id: int) -> dict[str, Any]:
    require_agent(request)
    item = _live(suspended_id)
    return {"suspended_ticket": _many_json(request, [item])[0]}


@router.put(
    "{int:suspended_id}/recover",
    response={200: RecoverOneResponse, 404: ErrorOut, 422: RecoveryFailedResponse},
    summary="Recover a suspended ticket",
)
def recover_one(request: HttpRequest, suspended_id: int) -> Any:
    agent = require_agent(request)
    if not SuspendedMail.objects.filter(pk=suspended_id).exists():
        raise RecordNotFound()
    try:
        recovery = services.recover(suspended_id, agent)
    except services.SuspensionError as error:
        return Status(422, _failure_body(request, [error]))
    return Status(200, {"ticket": _many_json(request, [recovery.suspended])})


@router.delete(
    "{int:suspended_id}", response={204: None, 404: ErrorOut}, summary="Delete a suspended ticket"
)
def delete_suspended(request: HttpRequest, suspended_id: int) -> Any:
    agent = require_agent(request)
    _live(suspended_id)
    try:
        services.delete(suspended_id, agent)
    except services.SuspensionError:
        # Recovered or deleted by someone else in the meantime.
        raise RecordNotFound() from None
    return Status(204, None)


def _failure_body(request: HttpRequest, failures: list[services.SuspensionError]) -> dict[str, Any]:
    known = {
        item.pk: item
        for item in SuspendedMail.objects.filter(
            pk__in=[error.suspended_id for error in failures if error.suspended_id is not None]
        )
    }
    shapes: list[dict[str, Any]] = []
    for error in failures:
        item = known.get(error.suspended_id) if error.suspended_id is not None else None
        if item is not None:
            shapes.append(suspended_json(request, item, errors=[str(error)]))
        else:
            shapes.append(_unknown_json(request, error))
    return {
        "error": "RecordInvalid",
        "description": "; ".join(str(error) for error in failures),
        "suspended_tickets": shapes,
    }


def _unknown_json(request: HttpRequest, error: services.SuspensionError) -> dict[str, Any]:
    """An id that names nothing still gets a row in the failure list, so a client can tell
    which of its ids failed."""
    pk = error.suspended_id if error.suspended_id is not None else 0
    return {
        "id": pk,
        "url": resource_url(request, "suspended_tickets", pk),
        "author": {"id": None, "name": "", "email": ""},
        "subject": "",
        "content": "",
        "cause": "",
        "cause_id": None,
        "cause_name": "",
        "message_id": "",
        "recipient": "",
        "ticket_id": None,
        "brand_id": None,
        "attachments": [],
        "error_messages": [str(error)],
        "created_at": None,
        "updated_at": None,
        "via": {"channel": "email", "source": {}},
    }
