"""The interface language follows the signed-in user's setting (``User.locale``), then the
language cookie and the browser (Django's ``LocaleMiddleware``, which runs before this)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation


class UserLanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.languages = dict(settings.LANGUAGES)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        locale = getattr(user, "locale", "") if user is not None and user.is_authenticated else ""
        if locale in self.languages:
            translation.activate(locale)
            request.LANGUAGE_CODE = locale
        response = self.get_response(request)
        if locale in self.languages:
            response.headers.setdefault("Content-Language", locale)
        return response
