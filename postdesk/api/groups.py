"""``/api/v2/groups``: Zendesk's groups (list, show; create, update and delete for admins)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from postdesk.api.auth import require_admin, require_agent
from postdesk.api.errors import ErrorOut, RecordInvalid, RecordNotFound
from postdesk.api.pagination import CursorLinks, CursorMeta, PageParams, paginate
from postdesk.api.shapes import DbId, iso, resource_url
from postdesk.tickets.models import Group

router = Router(tags=["Groups"])


class GroupOut(Schema):
    id: int
    url: str
    name: str
    description: str
    default: bool
    deleted: bool
    is_public: bool
    created_at: str | None
    updated_at: str | None


class GroupResponse(Schema):
    group: GroupOut


class GroupListResponse(Schema):
    groups: list[GroupOut]
    next_page: str | None = None
    previous_page: str | None = None
    count: int | None = None
    meta: CursorMeta | None = None
    links: CursorLinks | None = None


class GroupFields(Schema):
    name: str | None = Field(None, max_length=255)
    description: str | None = Field(None, max_length=10_000)


class GroupWrite(Schema):
    group: GroupFields


def group_json(request: HttpRequest, group: Group) -> dict[str, object]:
    return {
        "id": group.pk,
        "url": resource_url(request, "groups", group.pk),
        "name": group.name,
        "description": group.description,
        "default": False,
        "deleted": False,
        "is_public": True,
        "created_at": iso(group.created_at),
        "updated_at": iso(group.updated_at),
    }


def _get(group_id: DbId) -> Group:
    group = Group.objects.filter(pk=group_id).first()
    if group is None:
        raise RecordNotFound()
    return group


ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}


@router.get("", response={200: GroupListResponse, **ERRORS}, exclude_unset=True)
def list_groups(request: HttpRequest, page: Query[PageParams]) -> dict[str, object]:
    require_agent(request)
    result = paginate(request, Group.objects.all(), page)
    return {"groups": [group_json(request, g) for g in result.rows], **result.body}


@router.get("/{int:group_id}", response={200: GroupResponse, **ERRORS}, exclude_unset=True)
def show_group(request: HttpRequest, group_id: DbId) -> dict[str, object]:
    require_agent(request)
    return {"group": group_json(request, _get(group_id))}


def _save(group: Group, fields: GroupFields) -> None:
    if fields.name is not None:
        if not fields.name.strip():
            raise RecordInvalid.field("name", "Name: cannot be blank", "BlankValue")
        group.name = fields.name.strip()
    if fields.description is not None:
        group.description = fields.description
    if not group.name:
        raise RecordInvalid.field("name", "Name: cannot be blank", "BlankValue")
    try:
        with transaction.atomic():
            group.save()
    except IntegrityError:
        raise RecordInvalid.field(
            "name", "Name: has already been taken", "DuplicateValue"
        ) from None


@router.post("", response={201: GroupResponse, **ERRORS}, exclude_unset=True)
def create_group(request: HttpRequest, payload: GroupWrite) -> Status[dict[str, object]]:
    require_admin(request)
    group = Group()
    _save(group, payload.group)
    return Status(201, {"group": group_json(request, group)})


@router.put("/{int:group_id}", response={200: GroupResponse, **ERRORS}, exclude_unset=True)
def update_group(request: HttpRequest, group_id: DbId, payload: GroupWrite) -> dict[str, object]:
    require_admin(request)
    group = _get(group_id)
    _save(group, payload.group)
    return {"group": group_json(request, group)}


@router.delete("/{int:group_id}", response={204: None, **ERRORS})
def delete_group(request: HttpRequest, group_id: DbId) -> Status[None]:
    require_admin(request)
    _get(group_id).delete()
    return Status(204, None)
