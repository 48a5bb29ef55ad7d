"""Admin Center → Email authentication (SPEC F11, F15): the authentication profile (off,
default, strict) and the trusted forwarders, kept on the one ``ProtectionSettings`` row.
Admins only; the change is a CSRF-protected POST that redirects back with a message."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from postdesk.suspension import policy
from postdesk.suspension.forms import AuthenticationSettingsForm
from postdesk.web.access import admin_required

SAVED_FIELDS = ["auth_profile", "trusted_forwarders"]


@admin_required
@require_http_methods(["GET", "POST"])
def authentication(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = AuthenticationSettingsForm(request.POST)
        if form.is_valid():
            # Read just before writing: the row holds other settings too, and a missing row
            # (every default) is created by this first save.
            row = policy.current_settings()
            row.auth_profile = form.cleaned_data["auth_profile"]
            row.trusted_forwarders = form.cleaned_data["trusted_forwarders"]
            if row._state.adding:
                row.save()
            else:
                # Only these columns, so a change made meanwhile to another setting stays.
                row.save(update_fields=[*SAVED_FIELDS, "updated_at"])
            messages.success(request, _("Email authentication settings saved."))
            return redirect("suspension:authentication")
    else:
        row = policy.current_settings()
        form = AuthenticationSettingsForm(
            initial={
                "auth_profile": row.auth_profile,
                "trusted_forwarders": "\n".join(row.trusted_forwarders),
            }
        )
    return render(request, "suspension/authentication_settings.html", {"form": form})
