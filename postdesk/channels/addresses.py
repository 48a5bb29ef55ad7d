"""Looking up support addresses: the system address, and which recipients the desk accepts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from postdesk.channels.models import AddressKind, DeskSettings, SupportAddress
from postdesk.tickets.models import normalize_email


def desk_domain() -> str:
    return str(settings.POSTDESK.mail_domain)


def ensure_system_address() -> SupportAddress:
    """The system address ``support@<desk domain>`` always exists (SPEC §2)."""
    email = settings.POSTDESK.system_address
    with transaction.atomic():
        address, _created = SupportAddress.objects.get_or_create(
            email=email,
            defaults={"name": "Support", "kind": AddressKind.HOSTED, "is_system": True},
        )
        if not address.is_system:
            address.is_system = True
            address.save(update_fields=["is_system", "updated_at"])
        if not SupportAddress.objects.filter(default=True).exists():
            address.default = True
            address.save(update_fields=["default", "updated_at"])
    return address


def ensure_system_address_after_migrate(**kwargs: Any) -> None:
    ensure_system_address()


def is_desk_domain(domain: str) -> bool:
    return domain.lower() == desk_domain()


# Local parts at the desk domain that are always ours, wildcard or not: the return path of
# outbound mail, where bounces come back (VERP, SPEC F12).
RESERVED_LOCAL_PARTS = frozenset({"bounces"})


def wildcard_enabled() -> bool:
    """The desk setting (default on): mail to any local part at the desk domain is taken."""
    value = DeskSettings.objects.filter(pk=1).values_list("wildcard_enabled", flat=True).first()
    return True if value is None else bool(value)


def set_wildcard(enabled: bool) -> None:
    DeskSettings.objects.update_or_create(pk=1, defaults={"wildcard_enabled": enabled})


def accepts_recipient(address: str) -> bool:
    """Whether mail to ``address`` is ours to take. Any registered support address is; with
    the wildcard setting on (the default, SPEC F1) so is any local part at the desk domain.
    With it off, a desk-domain address is taken when it is registered, once the ``+tag`` of
    a plus address is removed, or when it is a reserved return path. Everything else is
    refused at RCPT: Postdesk is never a relay."""
    email = normalize_email(address)
    local, at, domain = email.rpartition("@")
    if not at or not local:
        return False
    if is_desk_domain(domain):
        if wildcard_enabled():
            return True
        base = local.partition("+")[0]
        if base in RESERVED_LOCAL_PARTS:
            return True
        return SupportAddress.objects.filter(email__in={email, f"{base}@{domain}"}).exists()
    return SupportAddress.objects.filter(email=email).exists()
