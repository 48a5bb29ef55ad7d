"""Admin pages of the outbound side: the notification texts an admin may rewrite, and each
sending domain's DKIM keys with the exact DNS records to publish, the SPF and DMARC records
to go with them, and a "Check DNS now" that runs the live check (SPEC F12, F13)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from postdesk.channels.models import AddressKind, SupportAddress
from postdesk.dns import report as dns_report
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


STATUS_LABELS = {
    "verified": gettext_lazy("verified"),
    "failed": gettext_lazy("failed"),
    "unknown": gettext_lazy("unknown"),
}


def _check_session_key(domain: str) -> str:
    return f"postdesk.dns_check.{domain}"


def _last_check(request: HttpRequest, domain: str) -> dict[str, Any] | None:
    """The last check of ``domain`` kept in the session, with labels for the template."""
    stored = request.session.get(_check_session_key(domain))
    if not isinstance(stored, dict) or "report" not in stored:
        return None
    report = stored["report"]

    def part(data: dict[str, Any]) -> dict[str, Any]:
        status = str(data.get("status", "unknown"))
        return {**data, "status": status, "label": STATUS_LABELS.get(status, status)}

    try:
        return {
            "checked_at": datetime.fromisoformat(stored["checked_at"]),
            "spf": part(report["spf"]),
            "dkim": {
                **part(report["dkim"]),
                "selectors": [part(s) for s in report["dkim"]["selectors"]],
            },
            "dmarc": part(report["dmarc"]),
        }
    except (KeyError, TypeError, ValueError, AttributeError):
        # A check kept by an older version in a still-open session, in another shape: the
        # page shows no last check (the admin can run one) rather than failing.
        return None


@admin_required
@require_http_methods(["GET"])
def dkim_list(request: HttpRequest) -> HttpResponse:
    domains = [
        {
            "domain": domain,
            "records": dkim_keys.dns_records(domain),
            "check": _last_check(request, domain),
        }
        for domain in _sending_domains()
    ]
    return render(
        request,
        "outbound/admin/dkim.html",
        {"domains": domains, "spf_include": settings.POSTDESK.spf_include},
    )


@admin_required
@require_POST
def dns_check(request: HttpRequest) -> HttpResponse:
    """Run the live DNS check of one sending domain and make signing follow it.

    The report goes into the session rather than the database: it is a snapshot for the
    admin who asked, and what matters for sending (key and SPF statuses) is stored by
    ``apply_report``. An unreachable DNS comes back as ``unknown`` problems, not an error,
    and ``apply_report`` leaves everything as it was in that case. The problems are kept as
    worded in the language of the request that ran the check.
    """
    domain = request.POST.get("domain", "")
    if domain not in _sending_domains():
        raise Http404
    report = dns_report.check_domain(domain)
    dns_report.apply_report(report)
    request.session[_check_session_key(domain)] = {
        "report": report,
        "checked_at": timezone.now().isoformat(),
    }
    return redirect("dkim-keys")


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
