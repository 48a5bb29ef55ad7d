"""``/api/v2/recipient_addresses``: Zendesk's support addresses (SPEC F16, F1, F3).

List (offset or cursor pagination), show, create, update, delete, and
``PUT /{id}/verify`` with ``{"type": "forwarding"}`` (the default when no body is sent), which
starts the forwarding verification exactly as the Admin Center's Verify button does;
``"spf"`` and ``"dns"`` run the live DNS check of the address's domain (``postdesk.dns``) and
store what it found: ``"spf"`` the SPF status of the domain's addresses, ``"dns"`` that and
DKIM (the keys' status, so signing follows the DNS). A hosted address is on the desk's own
domain, whose DNS Postdesk doesn't ask its customers to publish: it answers its statuses.
Objects carry Zendesk's fields and status values (``forwarding_status``, ``spf_status``,
``cname_status`` for DKIM, ``domain_verification_status``), plus Postdesk's own (``kind``,
``forwarding_target``, ``group_id``, ``last_verified_at``, ``last_mail_at``,
``failure_reason``). Reading needs an agent, changing an admin. Broken rules answer ``422``
in Zendesk's error format; nothing is half-created.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from postdesk.api.auth import require_admin, require_agent
from postdesk.api.errors import ErrorOut, RecordInvalid, RecordNotFound, TooManyRequests
from postdesk.api.pagination import CursorLinks, CursorMeta, PageParams, paginate
from postdesk.api.shapes import iso, resource_url
from postdesk.channels import services, verification
from postdesk.channels.models import SupportAddress
from postdesk.channels.services import AddressError
from postdesk.dns.names import InvalidDomain, normalise_domain
from postdesk.dns.report import apply_report, check_domain
from postdesk.tickets.models import Group

router = Router(tags=["Support addresses"])

VERIFY_TYPES = ("forwarding", "spf", "dns")


class RecipientAddressOut(Schema):
    id: int
    url: str
    brand_id: int | None
    email: str
    name: str
    default: bool
    forwarding_status: str
    spf_status: str
    cname_status: str
    domain_verification_status: str
    domain_verification_code: str | None
    dns_results: str | None
    created_at: str | None
    updated_at: str | None
    kind: str
    forwarding_target: str | None
    group_id: int | None
    last_verified_at: str | None
    last_mail_at: str | None
    failure_reason: str | None


class RecipientAddressResponse(Schema):
    recipient_address: RecipientAddressOut


class RecipientAddressListResponse(Schema):
    recipient_addresses: list[RecipientAddressOut]
    next_page: str | None = None
    previous_page: str | None = None
    count: int | None = None
    meta: CursorMeta | None = None
    links: CursorLinks | None = None


class RecipientAddressFields(Schema):
    email: str | None = Field(None, max_length=320)
    name: str | None = Field(None, max_length=255)
    default: bool | None = None
    group_id: int | None = None
    forwarding_target: str | None = Field(None, max_length=320)


class RecipientAddressWrite(Schema):
    recipient_address: RecipientAddressFields


def _dns_results(address: SupportAddress) -> str | None:
    statuses = {address.spf_status, address.dkim_status}
    if statuses == {"verified"}:
        return "verified"
    return "failed" if "failed" in statuses else None


def address_json(request: HttpRequest, address: SupportAddress) -> dict[str, Any]:
    target = address.forwarding_target
    return {
        "id": address.pk,
        "url": resource_url(request, "recipient_addresses", address.pk),
        "brand_id": None,
        "email": address.email,
        "name": address.name,
        "default": address.default,
        "forwarding_status": address.forwarding_status,
        "spf_status": address.spf_status,
        "cname_status": address.dkim_status,
        "domain_verification_status": address.domain_verification_status,
        "domain_verification_code": None,
        "dns_results": _dns_results(address),
        "created_at": iso(address.created_at),
        "updated_at": iso(address.updated_at),
        "kind": address.kind,
        "forwarding_target": target.email if target is not None else None,
        "group_id": address.group_id,
        "last_verified_at": iso(address.last_verified_at),
        "last_mail_at": iso(address.last_mail_at),
        "failure_reason": address.failure_reason or None,
    }


def _invalid(error: AddressError) -> RecordInvalid:
    label = error.field.replace("_", " ").capitalize()
    return RecordInvalid.field(error.field, f"{label}: {error.message}", error.code)


def _get(address_id: int) -> SupportAddress:
    address = (
        SupportAddress.objects.select_related("forwarding_target").filter(pk=address_id).first()
    )
    if address is None:
        raise RecordNotFound()
    return address


def _group(group_id: int | None) -> Group | None:
    if group_id is None:
        return None
    group = Group.objects.filter(pk=group_id).first()
    if group is None:
        raise RecordInvalid.field("group_id", "Group: does not exist", "InvalidValue")
    return group


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}


@router.get("", response={200: RecipientAddressListResponse, **ERRORS})
def list_addresses(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    require_agent(request)
    result = paginate(request, SupportAddress.objects.select_related("forwarding_target"), page)
    return {
        "recipient_addresses": [address_json(request, a) for a in result.rows],
        **result.body,
    }


@router.get("/{int:address_id}", response={200: RecipientAddressResponse, **ERRORS})
def show_address(request: HttpRequest, address_id: int) -> dict[str, Any]:
    require_agent(request)
    return {"recipient_address": address_json(request, _get(address_id))}


@router.post("", response={201: RecipientAddressResponse, **ERRORS})
def create_address(request: HttpRequest, payload: RecipientAddressWrite) -> Status[dict[str, Any]]:
    require_admin(request)
    fields = payload.recipient_address
    if not fields.email:
        raise RecordInvalid.field("email", "Email: cannot be blank", "BlankValue")
    group = _group(fields.group_id)
    try:
        with transaction.atomic():
            if fields.forwarding_target:
                address = services.connect_external(
                    fields.email,
                    name=fields.name or "",
                    target=fields.forwarding_target,
                    group=group,
                )
            else:
                address = services.create_address(fields.email, name=fields.name or "", group=group)
            if fields.default:
                services.make_default(address)
    except AddressError as error:
        raise _invalid(error) from None
    return Status(201, {"recipient_address": address_json(request, _get(address.pk))})


@router.put("/{int:address_id}", response={200: RecipientAddressResponse, **ERRORS})
def update_address(
    request: HttpRequest, address_id: int, payload: RecipientAddressWrite
) -> dict[str, Any]:
    require_admin(request)
    address = _get(address_id)
    fields = payload.recipient_address
    changes: dict[str, Any] = {"email": fields.email, "name": fields.name}
    if "group_id" in fields.model_fields_set:
        changes["group"] = _group(fields.group_id)
    if fields.default is not None:
        changes["default"] = fields.default
    try:
        with transaction.atomic():
            if fields.forwarding_target:
                services.set_forwarding_target(address, fields.forwarding_target)
            services.update_address(address, **changes)
    except AddressError as error:
        raise _invalid(error) from None
    return {"recipient_address": address_json(request, _get(address.pk))}


@router.delete("/{int:address_id}", response={204: None, **ERRORS})
def delete_address(request: HttpRequest, address_id: int) -> Status[None]:
    require_admin(request)
    try:
        services.delete_address(_get(address_id))
    except AddressError as error:
        raise _invalid(error) from None
    return Status(204, None)


def _verify_type(request: HttpRequest) -> str:
    """``type`` from an optional JSON body; Zendesk defaults it to ``forwarding``."""
    if not request.body.strip():
        return "forwarding"
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise RecordInvalid.field("base", "Base: the body is not JSON", "InvalidValue") from None
    if not isinstance(body, dict):
        raise RecordInvalid.field("base", "Base: the body must be a JSON object", "InvalidValue")
    kind = body.get("type", "forwarding")
    if kind not in VERIFY_TYPES:
        raise RecordInvalid.field(
            "type", "Type: must be one of forwarding, spf, dns", "InvalidValue"
        )
    return str(kind)


@router.put(
    "/{int:address_id}/verify",
    response={200: RecipientAddressResponse, **ERRORS},
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"type": {"type": "string", "enum": list(VERIFY_TYPES)}},
                    }
                }
            },
        }
    },
)
def verify_address(request: HttpRequest, address_id: int) -> dict[str, Any]:
    user = require_admin(request)
    address = _get(address_id)
    kind = _verify_type(request)
    if kind == "forwarding":
        try:
            verification.start(address, requested_by=user)
        except verification.VerificationRateLimited as limited:
            raise TooManyRequests(limited.retry_after) from None
        except AddressError as error:
            raise _invalid(error) from None
    elif address.is_external:
        _check_dns(address.domain, kind)
    return {"recipient_address": address_json(request, _get(address.pk))}


def _check_dns(domain: str, kind: str) -> None:
    try:
        name = normalise_domain(domain)
    except InvalidDomain as error:
        raise RecordInvalid.field("email", f"Email: {error}", "InvalidValue") from None
    apply_report(check_domain(name), spf=True, dkim=kind == "dns")
