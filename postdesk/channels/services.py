"""Creating, changing and deleting support addresses, with the rules of SPEC F1.

Every change goes through here, from the Admin Center forms and from the API alike, so the
rules hold whichever way an admin comes in:

- ``email`` is validated, stored lower-case, unique, and never changes;
- a hosted address lives at the desk domain, an external one anywhere else, and names the
  hosted address it is forwarded to (by default a new one derived from its local part);
- the system address and the current default can't be deleted; nor can a hosted address that
  an external address still forwards to;
- only a hosted or a verified external address can become the default.

A rule broken raises ``AddressError`` naming the field, a Zendesk-style error code and words
for a person; each operation runs in one transaction, so nothing is left half-created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from postdesk.channels.addresses import desk_domain, is_desk_domain
from postdesk.channels.models import (
    AddressKind,
    Provider,
    SupportAddress,
    VerificationStatus,
)
from postdesk.tickets.models import Group, normalize_email

NAME_MAX = 255
# What may stand left of "@" in an address we mint ourselves (a derived hosted target).
_LOCAL_SAFE_RE = re.compile(r"[^a-z0-9._-]+")


@dataclass
class AddressError(Exception):
    """A support-address rule was broken. ``field`` is the API/form field to blame."""

    field: str
    code: str  # Zendesk's error code: InvalidValue, DuplicateValue, ...
    message: str

    def __str__(self) -> str:
        return self.message


def clean_email(value: str, field: str = "email") -> str:
    email = normalize_email(value or "")
    if not email:
        raise AddressError(field, "BlankValue", _("Enter an email address."))
    try:
        validate_email(email)
    except ValidationError:
        raise AddressError(
            field, "InvalidValue", _("%(email)s is not a valid email address.") % {"email": email}
        ) from None
    if len(email) > 254:
        raise AddressError(field, "InvalidValue", _("The email address is too long."))
    return email


def clean_name(value: str | None) -> str:
    name = (value or "").strip()
    if len(name) > NAME_MAX:
        raise AddressError("name", "InvalidValue", _("The name is too long."))
    if any(ch in name for ch in "\r\n\x00"):
        raise AddressError("name", "InvalidValue", _("The name can't contain line breaks."))
    return name


def _ensure_unused(email: str) -> None:
    if SupportAddress.objects.filter(email=email).exists():
        raise AddressError(
            "email",
            "DuplicateValue",
            _("%(email)s is already a support address.") % {"email": email},
        )


def hosted_email(value: str) -> str:
    """A full hosted address from a local part or a full address at the desk domain."""
    value = (value or "").strip()
    if value and "@" not in value:
        value = f"{value}@{desk_domain()}"
    email = clean_email(value)
    if not is_desk_domain(email.rpartition("@")[2]):
        raise AddressError(
            "email",
            "InvalidValue",
            _("A hosted address must end in @%(domain)s.") % {"domain": desk_domain()},
        )
    return email


def _save_new(address: SupportAddress) -> SupportAddress:
    try:
        with transaction.atomic():
            address.save()
    except IntegrityError:
        # Two admins adding the same address at once: the unique index decides.
        raise AddressError(
            "email",
            "DuplicateValue",
            _("%(email)s is already a support address.") % {"email": address.email},
        ) from None
    return address


@transaction.atomic
def create_hosted(
    email_or_local: str, *, name: str = "", group: Group | None = None
) -> SupportAddress:
    email = hosted_email(email_or_local)
    _ensure_unused(email)
    return _save_new(
        SupportAddress(email=email, name=clean_name(name), kind=AddressKind.HOSTED, group=group)
    )


def derived_target_email(external_email: str) -> str:
    """The hosted address an external one forwards to by default: its local part at the desk
    domain, made safe (``Billing.Team@mycompany.com`` → ``billing.team@desk``), with a
    number appended when that address is taken by something that isn't free to reuse."""
    local = _LOCAL_SAFE_RE.sub("-", external_email.rpartition("@")[0].lower()).strip(".-")
    local = (local or "support")[:56]
    candidate = f"{local}@{desk_domain()}"
    number = 2
    while not _target_reusable(candidate):
        candidate = f"{local}-{number}@{desk_domain()}"
        number += 1
    return candidate


def _target_reusable(email: str) -> bool:
    """Free, or an existing hosted address no other external address forwards to."""
    existing = SupportAddress.objects.filter(email=email).first()
    if existing is None:
        return True
    return (
        existing.kind == AddressKind.HOSTED
        and not existing.is_system
        and not existing.forwarded_from.exists()
    )


def _target(target: SupportAddress | str | None, external_email: str) -> SupportAddress:
    if isinstance(target, SupportAddress):
        if target.kind != AddressKind.HOSTED:
            raise AddressError(
                "forwarding_target",
                "InvalidValue",
                _("Mail can only be forwarded to an address at @%(domain)s.")
                % {"domain": desk_domain()},
            )
        return target
    email = hosted_email(target) if target else derived_target_email(external_email)
    existing = SupportAddress.objects.filter(email=email).first()
    if existing is not None:
        return _target(existing, external_email)
    return _save_new(SupportAddress(email=email, kind=AddressKind.HOSTED))


@transaction.atomic
def connect_external(
    email: str,
    *,
    name: str = "",
    provider: str = "",
    target: SupportAddress | str | None = None,
    group: Group | None = None,
) -> SupportAddress:
    """Add an external address (wizard step 1, F2). It is receive-only until verified."""
    email = clean_email(email)
    if is_desk_domain(email.rpartition("@")[2]):
        raise AddressError(
            "email",
            "InvalidValue",
            _(
                "%(email)s is at the desk domain: add it as a hosted address instead of "
                "connecting it as an external one."
            )
            % {"email": email},
        )
    if provider and provider not in Provider.values:
        raise AddressError("provider", "InvalidValue", _("Choose a mail provider from the list."))
    _ensure_unused(email)
    forwarding_target = _target(target, email)
    return _save_new(
        SupportAddress(
            email=email,
            name=clean_name(name),
            kind=AddressKind.EXTERNAL,
            provider=provider or Provider.OTHER,
            forwarding_target=forwarding_target,
            forwarding_status=VerificationStatus.UNKNOWN,
            group=group,
        )
    )


def create_address(email: str, *, name: str = "", group: Group | None = None) -> SupportAddress:
    """Create from an address alone (the API): hosted at the desk domain, else external."""
    cleaned = clean_email(email)
    if is_desk_domain(cleaned.rpartition("@")[2]):
        return create_hosted(cleaned, name=name, group=group)
    return connect_external(cleaned, name=name, group=group)


@transaction.atomic
def update_address(
    address: SupportAddress,
    *,
    email: str | None = None,
    name: str | None = None,
    group: Group | object | None = ...,
    default: bool | None = None,
) -> SupportAddress:
    """Rename, regroup or make default; ``email`` may be given only unchanged."""
    if email is not None and normalize_email(email) != address.email:
        raise AddressError(
            "email",
            "InvalidValue",
            _("The email of a support address can't be changed; add a new address instead."),
        )
    fields = ["updated_at"]
    if name is not None:
        address.name = clean_name(name)
        fields.append("name")
    if group is not ...:
        address.group = group if isinstance(group, Group) else None
        fields.append("group")
    address.save(update_fields=fields)
    if default is True and not address.default:
        make_default(address)
    elif default is False and address.default:
        raise AddressError(
            "default",
            "InvalidValue",
            _("Make another address the default instead; there is always one."),
        )
    return address


@transaction.atomic
def make_default(address: SupportAddress) -> SupportAddress:
    if not address.may_send:
        raise AddressError(
            "default",
            "InvalidValue",
            _("Only a hosted address or a verified external address can be the default."),
        )
    SupportAddress.objects.filter(default=True).exclude(pk=address.pk).update(default=False)
    address.default = True
    address.save(update_fields=["default", "updated_at"])
    return address


@transaction.atomic
def delete_address(address: SupportAddress) -> None:
    address = SupportAddress.objects.select_for_update().get(pk=address.pk)
    if address.is_system:
        raise AddressError("base", "InvalidValue", _("The system address can't be deleted."))
    if address.default:
        raise AddressError(
            "base",
            "InvalidValue",
            _("The default address can't be deleted; make another address the default first."),
        )
    forwarders = list(address.forwarded_from.values_list("email", flat=True))
    if forwarders:
        raise AddressError(
            "base",
            "InvalidValue",
            _("%(forwarders)s forwards to this address; delete or re-point it first.")
            % {"forwarders": ", ".join(forwarders)},
        )
    address.delete()


@transaction.atomic
def set_forwarding_target(address: SupportAddress, target: SupportAddress | str) -> SupportAddress:
    """Point an external address at another hosted target (its verification restarts)."""
    if address.kind != AddressKind.EXTERNAL:
        raise AddressError(
            "forwarding_target", "InvalidValue", _("Only external addresses are forwarded.")
        )
    new_target = _target(target, address.email)
    if new_target.pk != address.forwarding_target_id:
        address.forwarding_target = new_target
        address.forwarding_status = VerificationStatus.UNKNOWN
        address.failure_reason = ""
        address.save(
            update_fields=["forwarding_target", "forwarding_status", "failure_reason", "updated_at"]
        )
    return address
