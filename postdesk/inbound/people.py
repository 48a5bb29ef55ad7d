"""Finding or creating the users a mail speaks of, by their email identities."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from postdesk.mail.parse import Address
from postdesk.tickets.models import Role, User, UserIdentity, normalize_email


def user_for(address: Address) -> User:
    """The user owning this email identity; a new end user when nobody does."""
    email = normalize_email(address.email)
    identity = UserIdentity.objects.select_related("user").filter(email=email).first()
    if identity is not None:
        user = identity.user
        if not user.name and address.name:
            user.name = address.name[:255]
            user.save(update_fields=["name", "updated_at"])
        return user
    try:
        with transaction.atomic():
            user = User.objects.create_user(email, name=address.name[:255], role=Role.END_USER)
    except IntegrityError:
        # A user row with this email exists without an identity (created by hand).
        user = User.objects.get(email=email)
        UserIdentity.objects.get_or_create(user=user, email=email, defaults={"primary": True})
    return user


def choose_requester(
    reply_to: tuple[Address, ...], from_address: Address | None
) -> tuple[Address | None, str]:
    """SPEC F8: the first Reply-To address, else From (as Zendesk). Returns the rule used."""
    for candidate in reply_to:
        if candidate.email and "@" in candidate.email:
            return candidate, "reply-to"
    if from_address is not None and from_address.email and "@" in from_address.email:
        return from_address, "from"
    return None, "none"
