"""Creating and checking personal API tokens, and reading them from an Authorization header
(Zendesk's Basic ``email/token:TOKEN`` and ``Bearer TOKEN``)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from postdesk.tickets.models import ApiToken, User, normalize_email

TOKEN_BYTES = 32
LAST_USED_GRANULARITY = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(user: User, name: str = "", token: str | None = None) -> str:
    """Make a token for ``user``; returns the plain token, which is stored only hashed."""
    token = token or secrets.token_urlsafe(TOKEN_BYTES)
    ApiToken.objects.create(
        user=user, name=name[:255], token_sha256=_digest(token), prefix=token[:8]
    )
    return token


def authenticate(token: str, email: str | None = None) -> User | None:
    """The active user owning ``token`` (and ``email``, when given), or None."""
    if not token or len(token) > 512:
        return None
    row = (
        ApiToken.objects.select_related("user")
        .filter(token_sha256=_digest(token), revoked_at__isnull=True)
        .first()
    )
    if row is None or not row.user.is_active:
        return None
    if email is not None and normalize_email(email) != row.user.email:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user


def user_from_authorization(header: str) -> User | None:
    """``Basic base64(email/token:TOKEN)`` or ``Bearer TOKEN``."""
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return authenticate(value.strip())
    if scheme != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, _, secret = decoded.partition(":")
    if not login.endswith("/token"):
        return None
    return authenticate(secret, email=login[: -len("/token")])
