"""``/api/v2/users``: Zendesk's users — show, ``me``, search by email, create end users.

Agents may create end users (customers); only admins may create agents or admins. Every
email a user writes from is a ``UserIdentity``; a search by email looks at all of them.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from postdesk.api.auth import require_admin, require_agent
from postdesk.api.errors import ErrorOut, RecordInvalid, RecordNotFound
from postdesk.api.pagination import CursorLinks, CursorMeta, PageParams, paginate
from postdesk.api.shapes import DbId, iso, resource_url
from postdesk.tickets.models import Role, User, UserIdentity, normalize_email

router = Router(tags=["Users"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}


class UserOut(Schema):
    id: int
    url: str
    name: str
    email: str
    role: str
    locale: str
    time_zone: str
    active: bool
    verified: bool
    suspended: bool
    shared: bool
    moderator: bool
    tags: list[str]
    user_fields: dict[str, str]
    photo: None = None
    created_at: str | None
    updated_at: str | None


class UserResponse(Schema):
    user: UserOut


class UserListResponse(Schema):
    users: list[UserOut]
    next_page: str | None = None
    previous_page: str | None = None
    count: int | None = None
    meta: CursorMeta | None = None
    links: CursorLinks | None = None


class UserFields(Schema):
    name: str = Field("", max_length=255)
    email: str = Field(..., max_length=254)
    role: str = Field(Role.END_USER.value, pattern=r"^(end-user|agent|admin)$")
    locale: str = Field("", max_length=8)


class UserWrite(Schema):
    user: UserFields


class UserSearch(PageParams):
    query: str | None = Field(None, max_length=320)
    email: str | None = Field(None, max_length=320)


def user_json(request: HttpRequest, user: User) -> dict[str, object]:
    return {
        "id": user.pk,
        "url": resource_url(request, "users", user.pk),
        "name": user.name or user.email.partition("@")[0],
        "email": user.email,
        "role": user.role,
        "locale": user.locale or "en-US",
        "time_zone": "UTC",
        "active": user.is_active,
        "verified": True,
        "suspended": not user.is_active,
        "shared": False,
        "moderator": user.is_agent,
        "tags": [],
        "user_fields": {},
        "photo": None,
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
    }


def get_user(user_id: DbId) -> User:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise RecordNotFound()
    return user


@router.get("/me", response={200: UserResponse, **ERRORS}, exclude_unset=True)
def me(request: HttpRequest) -> dict[str, object]:
    return {"user": user_json(request, require_agent(request))}


@router.get("/search", response={200: UserListResponse, **ERRORS}, exclude_unset=True)
def search_users(request: HttpRequest, params: Query[UserSearch]) -> dict[str, object]:
    require_agent(request)
    term = (params.email or params.query or "").strip()
    users = User.objects.all()
    if "@" in term:
        email = normalize_email(term)
        users = users.filter(Q(email=email) | Q(identities__email=email)).distinct()
    elif term:
        users = users.filter(Q(name__icontains=term) | Q(email__icontains=term))
    else:
        users = users.none()
    result = paginate(request, users, params)
    return {"users": [user_json(request, u) for u in result.rows], **result.body}


@router.get("", response={200: UserListResponse, **ERRORS}, exclude_unset=True)
def list_users(request: HttpRequest, page: Query[PageParams]) -> dict[str, object]:
    require_agent(request)
    result = paginate(request, User.objects.all(), page)
    return {"users": [user_json(request, u) for u in result.rows], **result.body}


@router.get("/{int:user_id}", response={200: UserResponse, **ERRORS}, exclude_unset=True)
def show_user(request: HttpRequest, user_id: DbId) -> dict[str, object]:
    require_agent(request)
    return {"user": user_json(request, get_user(user_id))}


@router.post("", response={201: UserResponse, **ERRORS}, exclude_unset=True)
def create_user(request: HttpRequest, payload: UserWrite) -> Status[dict[str, object]]:
    fields = payload.user
    if fields.role == Role.END_USER:
        require_agent(request)
    else:
        require_admin(request)
    email = normalize_email(fields.email)
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email):
        raise RecordInvalid.field("email", f"Email: {fields.email} is not properly formatted")
    if (
        UserIdentity.objects.filter(email=email).exists()
        or User.objects.filter(email=email).exists()
    ):
        raise RecordInvalid.field(
            "email", f"Email: {email} is already being used by another user", "DuplicateValue"
        )
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email, name=fields.name.strip(), role=fields.role, locale=fields.locale
            )
    except IntegrityError:
        raise RecordInvalid.field(
            "email", f"Email: {email} is already being used by another user", "DuplicateValue"
        ) from None
    return Status(201, {"user": user_json(request, user)})
