"""Who is calling the API, and may they (SPEC F16, §5 Security).

Three ways in, tried in this order by every operation (``API_AUTH``):

* HTTP Basic ``{email}/token:{API token}`` — Zendesk's scheme, what zenpy and other clients send;
* ``Authorization: Bearer {API token}``;
* the browser's session cookie, with Django's CSRF check on unsafe methods (the agent UI may
  call the API from the page).

Tokens are checked by ``postdesk.tickets.api_tokens`` (stored hashed). Only agents and admins
get in at all: an end user's credentials, though valid, earn ``403 Forbidden``; wrong or
missing credentials ``401``. Failed attempts are counted per client address and answered with
``429`` once they exceed ``POSTDESK_API_AUTH_FAILURES`` per minute, so tokens can't be guessed
at speed. Endpoint code then narrows with ``require_agent(request)`` / ``require_admin(request)``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBasicAuth, HttpBearer
from ninja.utils import check_csrf

from postdesk.api.errors import Forbidden, TooManyRequests, Unauthorized
from postdesk.tickets import api_tokens
from postdesk.tickets.models import User
from postdesk.web import ratelimit

AUTH_FAILURE_WINDOW = 60


def client_address(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


def _failed(request: HttpRequest) -> None:
    limit = int(getattr(settings, "POSTDESK_API_AUTH_FAILURES", 20))
    wait = ratelimit.hit("api-auth-failure", client_address(request), limit, AUTH_FAILURE_WINDOW)
    if wait is not None:
        raise TooManyRequests(wait)


def _blocked(request: HttpRequest) -> None:
    limit = int(getattr(settings, "POSTDESK_API_AUTH_FAILURES", 20))
    wait = ratelimit.peek("api-auth-failure", client_address(request), limit, AUTH_FAILURE_WINDOW)
    if wait is not None:
        raise TooManyRequests(wait)


def _admit(request: HttpRequest, user: User | None) -> User:
    """The agent behind valid credentials; raises for anyone else."""
    if user is None or not user.is_active:
        _failed(request)
        raise Unauthorized()
    if not user.is_agent:
        raise Forbidden()
    return user


class TokenBasicAuth(HttpBasicAuth):
    """Zendesk's ``email/token:TOKEN`` in HTTP Basic."""

    def authenticate(self, request: HttpRequest, username: str, password: str) -> User:
        _blocked(request)
        if not username.endswith("/token"):
            # Password sign-in over the API is off: tokens can be revoked one by one.
            _failed(request)
            raise Unauthorized()
        email = username[: -len("/token")]
        return _admit(request, api_tokens.authenticate(password, email=email))


class TokenBearerAuth(HttpBearer):
    """``Authorization: Bearer TOKEN`` with a personal API token."""

    def authenticate(self, request: HttpRequest, token: str) -> User:
        _blocked(request)
        return _admit(request, api_tokens.authenticate(token.strip()))


class BrowserSessionAuth(APIKeyCookie):
    """The signed-in browser. CSRF is checked only when a session cookie is present, so a
    request without credentials gets ``401``, not a CSRF ``403``."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        key = request.COOKIES.get(self.param_name)
        if not key:
            return None
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE") and check_csrf(request):
            raise Forbidden("CSRF check failed")
        return key

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user: Any = getattr(request, "user", None)
        if key is None or user is None or not user.is_authenticated:
            return None
        return _admit(request, user)


API_AUTH = [TokenBasicAuth(), TokenBearerAuth(), BrowserSessionAuth()]


def current_user(request: HttpRequest) -> User:
    """The authenticated caller (set by ``API_AUTH``)."""
    user = getattr(request, "auth", None)
    if not isinstance(user, User):
        raise Unauthorized()
    return user


def require_agent(request: HttpRequest) -> User:
    """The caller, who must be an agent or an admin."""
    user = current_user(request)
    if not user.is_agent:
        raise Forbidden()
    return user


def require_admin(request: HttpRequest) -> User:
    """The caller, who must be an admin."""
    user = current_user(request)
    if not user.is_admin:
        raise Forbidden()
    return user
