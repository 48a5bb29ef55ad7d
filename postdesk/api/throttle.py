"""The API's request rate limit: ``429 Too Many Requests`` with ``Retry-After`` (SPEC F16, §5).

Zendesk limits requests per minute per account; Postdesk limits them per authenticated user
(``POSTDESK_API_RATE_LIMIT`` requests per minute, default 700, Zendesk's Enterprise figure),
counted in the shared fixed-window counters of ``postdesk.web.ratelimit``.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

from postdesk.web import ratelimit

WINDOW_SECONDS = 60


class PerUserThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: HttpRequest) -> bool:
        user = getattr(request, "auth", None)
        ident = f"user:{user.pk}" if user is not None else f"ip:{self.get_ident(request)}"
        limit = int(getattr(settings, "POSTDESK_API_RATE_LIMIT", 700))
        self._wait = ratelimit.hit("api", ident, limit, WINDOW_SECONDS)
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait
