"""Who may see a page of the agent UI and the Admin Center (SPEC §5 Security).

``agent_required`` and ``admin_required`` wrap every view: anonymous visitors are sent to the
sign-in page, signed-in end users and agents on admin pages get ``403``. A view that also
serves API clients (attachment downloads) may accept an API token instead of the session
(``user_from_request``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from postdesk.tickets import api_tokens
from postdesk.tickets.models import User

View = Callable[..., HttpResponse]


def agent_required(view: View) -> View:
    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not getattr(request.user, "is_agent", False):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def admin_required(view: View) -> View:
    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not getattr(request.user, "is_admin", False):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def user_from_request(request: HttpRequest) -> User | None:
    """The agent behind the session or, failing that, an API token in ``Authorization``."""
    user = getattr(request, "user", None)
    if isinstance(user, User) and user.is_authenticated and user.is_agent:
        return user
    header = request.headers.get("Authorization", "")
    if header:
        token_user = api_tokens.user_from_authorization(header)
        if token_user is not None and token_user.is_agent:
            return token_user
    return None
