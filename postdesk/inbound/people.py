"""Finding or creating the users a mail speaks of, by their email identities (SPEC F8).

A user is found through any of their ``UserIdentity`` addresses; an address nobody owns
becomes a new end user. Addresses come from the network, so only those that fit the columns
and look like a mailbox are used (``usable_email``); the rest are reported by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import IntegrityError, transaction

from postdesk.inbound import rows
from postdesk.mail.parse import Address
from postdesk.tickets.models import Role, User, UserIdentity, normalize_email

# User.email is an EmailField (254, RFC 5321 section 4.5.3.1.3's path limit less brackets).
MAX_EMAIL_LENGTH = 254
_NOT_IN_ADDRESS = re.compile(r"[\s\x00-\x1f\x7f<>\ud800-\udfff]")


def usable_email(email: str) -> bool:
    """A non-empty local part and domain, no blanks or control characters, and short enough
    for every column it is stored in."""
    local, at, domain = email.rpartition("@")
    return (
        bool(at and local and domain)
        and len(email) <= MAX_EMAIL_LENGTH
        and not _NOT_IN_ADDRESS.search(email)
    )


def choose_requester(
    reply_to: tuple[Address, ...], from_address: Address | None
) -> tuple[Address | None, str]:
    """SPEC F8: the first Reply-To address, else From (as Zendesk). Returns the rule used."""
    for candidate in reply_to:
        if usable_email(candidate.normalized):
            return candidate, "reply-to"
    if from_address is not None and usable_email(from_address.normalized):
        return from_address, "from"
    return None, "none"


def find_user(email: str) -> User | None:
    """The user owning this identity, without creating anyone."""
    identity = (
        UserIdentity.objects.select_related("user").filter(email=normalize_email(email)).first()
    )
    return identity.user if identity is not None else None


def user_for(address: Address) -> User:
    """The user owning this email identity; a new end user when nobody does."""
    return users_for([address])[0]


def users_for(addresses: Iterable[Address]) -> list[User]:
    """``user_for`` for several addresses with one lookup query; one user per distinct
    address, in order."""
    wanted: dict[str, Address] = {}
    for address in addresses:
        wanted.setdefault(normalize_email(address.email), address)
    if not wanted:
        return []
    if len(wanted) == 1:  # the requester: every mail asks, so the query is prepared
        (email,) = wanted
        found = _USER_BY_IDENTITY.instances(email=email)
        known = {email: found[0]} if found else {}
    else:
        known = {
            identity.email: identity.user
            for identity in UserIdentity.objects.select_related("user").filter(email__in=wanted)
        }
    users = []
    for email, address in wanted.items():
        user = known.get(email)
        if user is None:
            user = _create_end_user(email, address.name)
        elif not user.name and address.name:
            user.name = address.name[:255]
            user.save(update_fields=["name", "updated_at"])
        users.append(user)
    return users


_USER_BY_IDENTITY = rows.Prepared(
    User, lambda email: User.objects.filter(identities__email=email).order_by(), email=str
)


def _create_end_user(email: str, name: str) -> User:
    try:
        with transaction.atomic():  # a savepoint: losing a race must not end the mail's work
            user = User(email=email, name=name[:255], role=Role.END_USER)
            user.set_unusable_password()
            # Plain INSERTs (``rows``): most mails from a new address create a user, and
            # save()'s signals would also drop the agent list every mail's protection
            # step reads (``protection._AGENT_EMAILS``), though an end user is no agent.
            rows.insert(user)
            rows.insert(UserIdentity(user=user, email=email, primary=True))
            return user
    except IntegrityError:
        pass
    # Another worker created this user meanwhile, or a user row exists without its identity
    # (created by hand): use that user.
    existing = find_user(email)
    if existing is not None:
        return existing
    user = User.objects.get(email=email)
    UserIdentity.objects.get_or_create(user=user, email=email, defaults={"primary": True})
    return user
