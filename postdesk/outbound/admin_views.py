"""Admin pages of the outbound side: the notification texts an admin may rewrite, and each
sending domain's DKIM keys with the exact DNS records to publish (SPEC F12, F13)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from postdesk.channels.models import AddressKind, SupportAddress
from postdesk.outbound import dkim_keys, notifications
from postdesk.outbound.models import DkimKey, NotificationTemplate
from postdesk.web.access import admin_required

TEMPLATE_LABELS = {
    "new_ticket": gettext_lazy("New ticket acknowledgement"),
    "public_reply": gettext_lazy("Agent's public reply"),
    "admin_notice": gettext_lazy("Notice to admins"),
}
LANGUAGE_LABELS = {"en": "English", "ko": "한국어"}


class TemplateForm(forms.Form):
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=500)
    body = forms.CharField(label=gettext_lazy("Body"), widget=forms.Textarea(attrs={"rows": 16}))

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if "subject" in cleaned and "body" in cleaned:
            try:
                notifications.validate_template(str(cleaned["subject"]), str(cleaned["body"]))
            except ValidationError as error:
                raise forms.ValidationError(error.messages) from error
        return cleaned


def _check(name: str, language: str) -> None:
    if name not in notifications.NAMES or language not in notifications.LANGUAGES:
        raise Http404


@admin_required
@require_http_methods(["GET"])
def template_list(request: HttpRequest) -> HttpResponse:
    customised = set(NotificationTemplate.objects.values_list("name", "language"))
    rows = [
        {
            "name": name,
            "label": TEMPLATE_LABELS[name],
            "languages": [
                {
                    "code": code,
                    "label": LANGUAGE_LABELS[code],
                    "customised": (name, code) in customised,
                }
                for code in notifications.LANGUAGES
            ],
        }
        for name in notifications.NAMES
    ]
    return render(request, "outbound/admin/templates.html", {"rows": rows})


@admin_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, name: str, language: str) -> HttpResponse:
    _check(name, language)
    if request.method == "POST" and "reset" in request.POST:
        NotificationTemplate.objects.filter(name=name, language=language).delete()
        messages.success(request, _("The built-in text is back in use."))
        return redirect("notification-template", name=name, language=language)
    subject, body = notifications.source(name, language)
    form = TemplateForm(request.POST or None, initial={"subject": subject, "body": body})
    if request.method == "POST" and form.is_valid():
        NotificationTemplate.objects.update_or_create(
            name=name,
            language=language,
            defaults={"subject": form.cleaned_data["subject"], "body": form.cleaned_data["body"]},
        )
        messages.success(request, _("Saved. New mail uses this text from now on."))
        return redirect("notification-template", name=name, language=language)
    return render(
        request,
        "outbound/admin/template_edit.html",
        {
            "form": form,
            "name": name,
            "label": TEMPLATE_LABELS[name],
            "language": LANGUAGE_LABELS[language],
            "placeholders": sorted(notifications.PLACEHOLDERS),
            "customised": NotificationTemplate.objects.filter(
                name=name, language=language
            ).exists(),
        },
    )


def _sending_domains() -> list[str]:
    external = SupportAddress.objects.filter(kind=AddressKind.EXTERNAL).values_list(
        "email", flat=True
    )
    domains = {email.rpartition("@")[2].lower() for email in external}
    domains |= set(DkimKey.objects.values_list("domain", flat=True))
    return sorted(domains)


@admin_required
@require_http_methods(["GET"])
def dkim_list(request: HttpRequest) -> HttpResponse:
    domains = [
        {"domain": domain, "records": dkim_keys.dns_records(domain)}
        for domain in _sending_domains()
    ]
    return render(request, "outbound/admin/dkim.html", {"domains": domains})


@admin_required
@require_POST
def dkim_generate(request: HttpRequest) -> HttpResponse:
    domain = request.POST.get("domain", "")
    if domain not in _sending_domains():
        raise Http404
    action = request.POST.get("action", "generate")
    try:
        if action == "rotate":
            dkim_keys.rotate_key(domain)
            messages.success(request, _("A new key is ready: publish its record, then check it."))
        else:
            dkim_keys.ensure_keys(domain, ed25519=request.POST.get("ed25519") == "on")
            messages.success(request, _("Keys generated: publish their records."))
    except ValueError as error:
        messages.error(request, str(error))
    return redirect("dkim-keys")
