"""Signing in and out, the agent's profile (name, language, API tokens) and the language
switch.

Sign-in is rate limited (``POSTDESK_LOGIN_FAILURES`` failed attempts per 15 minutes, counted
per client address and per email, default 10): past the limit the form is refused with
``429`` before the password is even checked. API tokens are shown once, on the page that
created them, and stored only as a SHA-256 (``postdesk.tickets.api_tokens``).
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from postdesk.tickets import api_tokens
from postdesk.tickets.models import ApiToken, User
from postdesk.web import ratelimit
from postdesk.web.access import agent_required
from postdesk.web.forms import AgentAuthenticationForm, ProfileForm, TokenForm

LOGIN_WINDOW = 15 * 60


def _login_limit() -> int:
    return int(getattr(settings, "POSTDESK_LOGIN_FAILURES", 10))


def _login_idents(request: HttpRequest) -> list[tuple[str, str]]:
    email = str(request.POST.get("username", "")).strip().lower()[:320]
    idents = [("login-ip", str(request.META.get("REMOTE_ADDR", "")))]
    if email:
        idents.append(("login-email", email))
    return idents


class LoginView(auth_views.LoginView):
    form_class = AgentAuthenticationForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        waits = [
            ratelimit.peek(scope, ident, _login_limit(), LOGIN_WINDOW)
            for scope, ident in _login_idents(request)
        ]
        wait = max((w for w in waits if w is not None), default=None)
        if wait is not None:
            response = self.render_to_response(
                self.get_context_data(
                    form=self.get_form(), locked_out=True, retry_minutes=math.ceil(wait / 60)
                ),
                status=429,
            )
            response["Retry-After"] = str(math.ceil(wait))
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        for scope, ident in _login_idents(self.request):
            ratelimit.hit(scope, ident, _login_limit(), LOGIN_WINDOW)
        return super().form_invalid(form)

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        user = form.get_user()
        # The user's own language wins over the browser's from now on.
        if getattr(user, "locale", "") in dict(settings.LANGUAGES):
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                user.locale,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response


@agent_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    new_token = None
    profile_form = ProfileForm(instance=user)
    token_form = TokenForm()
    if request.method == "POST" and request.POST.get("action") == "profile":
        profile_form = ProfileForm(request.POST, instance=user)
        if profile_form.is_valid():
            profile_form.save()
            messages.success(request, _("Profile saved."))
            saved = redirect("profile")
            _remember_language(saved, user.locale)
            return saved
    elif request.method == "POST" and request.POST.get("action") == "token":
        token_form = TokenForm(request.POST)
        if token_form.is_valid():
            new_token = api_tokens.create(user, token_form.cleaned_data["name"])
            token_form = TokenForm()
    tokens = ApiToken.objects.filter(user=user).order_by("-created_at")
    response = render(
        request,
        "web/profile.html",
        {
            "profile_form": profile_form,
            "token_form": token_form,
            "tokens": tokens,
            "new_token": new_token,
            "api_email": user.email,
        },
    )
    if new_token:
        # The one page that shows the token must not be kept by any cache.
        response["Cache-Control"] = "no-store"
    return response


@agent_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        messages.success(request, _("Token revoked."))
    return redirect("profile")


def _remember_language(response: HttpResponse, language: str) -> None:
    if language in dict(settings.LANGUAGES):
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
            max_age=365 * 24 * 3600,
        )
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """The language switch: remembered in a cookie and, for a signed-in agent, as their
    language setting."""
    language = str(request.POST.get("language", ""))
    target = str(request.POST.get("next", "/"))
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    response = HttpResponseRedirect(target)
    if language not in dict(settings.LANGUAGES):
        return response
    translation.activate(language)
    user = request.user
    if isinstance(user, User) and user.is_authenticated:
        User.objects.filter(pk=user.pk).update(locale=language)
    _remember_language(response, language)
    return response
