"""Admin Center → Channels → Email (SPEC F15): support addresses, the forwarding wizard
(F2), verification status and Verify again (F3), Gmail confirmation codes (F4) and routing
rules (F7). Admins only; every change is a POST with CSRF; every page works without
JavaScript (the status page refreshes itself with a meta refresh while ``waiting``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from postdesk.channels import services, verification
from postdesk.channels.addresses import desk_domain, set_wildcard, wildcard_enabled
from postdesk.channels.forms import (
    AddressEditForm,
    ExternalAddressForm,
    HostedAddressForm,
    RoutingRuleForm,
    WildcardForm,
    add_address_error,
)
from postdesk.channels.models import (
    AddressEvent,
    AddressKind,
    Provider,
    RoutingRule,
    SupportAddress,
    VerificationStatus,
)
from postdesk.channels.services import AddressError
from postdesk.web.access import admin_required

# How often the status page reloads itself while the test mail is on its way.
WAITING_REFRESH_SECONDS = 5
# A verified address that received no mail for this long is shown as quiet (F3: passive
# re-verification).
QUIET_AFTER = timedelta(days=14)


def is_quiet(address: SupportAddress, now: Any = None) -> bool:
    """A verified external address whose last mail (or verification) is long ago."""
    if address.kind != AddressKind.EXTERNAL:
        return False
    if address.forwarding_status != VerificationStatus.VERIFIED:
        return False
    now = now or timezone.now()
    last = max(filter(None, [address.last_mail_at, address.last_verified_at]), default=None)
    return last is None or now - last > QUIET_AFTER


def _address(address_id: int) -> SupportAddress:
    return get_object_or_404(
        SupportAddress.objects.select_related("forwarding_target", "group"), pk=address_id
    )


@admin_required
@require_GET
def address_list(request: HttpRequest) -> HttpResponse:
    addresses = list(SupportAddress.objects.select_related("forwarding_target", "group"))
    now = timezone.now()
    rows = [{"address": a, "quiet": is_quiet(a, now)} for a in addresses]
    return render(
        request,
        "channels/address_list.html",
        {
            "rows": rows,
            "desk_domain": desk_domain(),
            "wildcard_form": WildcardForm(initial={"wildcard_enabled": wildcard_enabled()}),
        },
    )


@admin_required
@require_POST
def wildcard(request: HttpRequest) -> HttpResponse:
    form = WildcardForm(request.POST)
    if form.is_valid():
        set_wildcard(form.cleaned_data["wildcard_enabled"])
        messages.success(request, _("Saved."))
    return redirect("channels:addresses")


@admin_required
@require_GET
def add_address(request: HttpRequest) -> HttpResponse:
    return render(request, "channels/add_choice.html", {"desk_domain": desk_domain()})


@admin_required
@require_GET
def add_external(request: HttpRequest) -> HttpResponse:
    return render(request, "channels/add_external_method.html", {})


@admin_required
@require_http_methods(["GET", "POST"])
def add_hosted(request: HttpRequest) -> HttpResponse:
    form = HostedAddressForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            address = services.create_hosted(
                form.cleaned_data["email"],
                name=form.cleaned_data["name"],
                group=form.cleaned_data["group"],
            )
        except AddressError as error:
            add_address_error(form, error)
        else:
            messages.success(request, _("%(email)s was added.") % {"email": address.email})
            return redirect("channels:address", address.pk)
    return render(request, "channels/add_hosted.html", {"form": form, "desk_domain": desk_domain()})


@admin_required
@require_http_methods(["GET", "POST"])
def add_forwarding(request: HttpRequest) -> HttpResponse:
    """Wizard step 1: the external address, the provider and the hosted target."""
    form = ExternalAddressForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        target = (
            data["existing_target"]
            if data["target_choice"] == ExternalAddressForm.TARGET_EXISTING
            else None
        )
        try:
            address = services.connect_external(
                data["email"],
                name=data["name"],
                provider=data["provider"],
                target=target,
                group=data["group"],
            )
        except AddressError as error:
            add_address_error(form, error)
        else:
            return redirect("channels:setup", address.pk)
    return render(
        request, "channels/wizard_address.html", {"form": form, "desk_domain": desk_domain()}
    )


def _external(address_id: int) -> SupportAddress:
    address = _address(address_id)
    if address.kind != AddressKind.EXTERNAL:
        raise PermissionDenied
    return address


@admin_required
@require_GET
def setup(request: HttpRequest, address_id: int) -> HttpResponse:
    """Wizard step 2: provider-specific forwarding steps with the exact target to copy."""
    address = _external(address_id)
    provider = request.GET.get("provider", address.provider)
    if provider not in Provider.values:
        provider = Provider.OTHER
    return render(
        request,
        "channels/wizard_setup.html",
        {
            "address": address,
            "provider": provider,
            "providers": Provider.choices,
            "confirmations": address.gmail_confirmations.all()[:5],
        },
    )


@admin_required
@require_GET
def verify_step(request: HttpRequest, address_id: int) -> HttpResponse:
    """Wizard step 3, after "Yes, I've finished setup": the Verify button."""
    address = _external(address_id)
    return render(request, "channels/wizard_verify.html", {"address": address})


@admin_required
@require_POST
def verify(request: HttpRequest, address_id: int) -> HttpResponse:
    """Start (or restart: Verify again) the forwarding verification."""
    address = _address(address_id)
    try:
        verification.start(address, requested_by=request.user)  # type: ignore[arg-type]
    except AddressError as error:
        messages.error(request, error.message)
    return redirect("channels:address", address.pk)


@admin_required
@require_GET
def address_detail(request: HttpRequest, address_id: int) -> HttpResponse:
    address = _address(address_id)
    waiting = address.forwarding_status == VerificationStatus.WAITING
    response = render(
        request,
        "channels/address_detail.html",
        {
            "address": address,
            "waiting": waiting,
            "refresh_seconds": WAITING_REFRESH_SECONDS if waiting else None,
            "quiet": is_quiet(address),
            "edit_form": AddressEditForm(initial={"name": address.name, "group": address.group_id}),
            "attempt": address.verification_attempts.first(),
            "confirmations": address.gmail_confirmations.all()[:5],
            "events": address.events.all()[:20],
            "rules": address.routing_rules.select_related("group"),
            "forwarders": address.forwarded_from.all(),
        },
    )
    if waiting:
        # The header works wherever the page is shown; the meta tag is its in-page twin.
        response["Refresh"] = str(WAITING_REFRESH_SECONDS)
    return response


@admin_required
@require_POST
def address_edit(request: HttpRequest, address_id: int) -> HttpResponse:
    address = _address(address_id)
    form = AddressEditForm(request.POST)
    if form.is_valid():
        try:
            services.update_address(
                address, name=form.cleaned_data["name"], group=form.cleaned_data["group"]
            )
        except AddressError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Saved."))
    else:
        messages.error(request, _("The changes were not saved: check the fields."))
    return redirect("channels:address", address.pk)


@admin_required
@require_POST
def make_default(request: HttpRequest, address_id: int) -> HttpResponse:
    address = _address(address_id)
    try:
        services.make_default(address)
    except AddressError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, _("%(email)s is now the default address.") % {"email": address.email}
        )
    return redirect("channels:address", address.pk)


@admin_required
@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest, address_id: int) -> HttpResponse:
    address = _address(address_id)
    error = None
    if request.method == "POST":
        try:
            services.delete_address(address)
        except AddressError as exc:
            error = exc.message
        else:
            messages.success(request, _("%(email)s was deleted.") % {"email": address.email})
            return redirect("channels:addresses")
    return render(request, "channels/address_delete.html", {"address": address, "error": error})


@admin_required
@require_POST
def dismiss_notice(request: HttpRequest, event_id: int) -> HttpResponse:
    AddressEvent.objects.filter(pk=event_id, notice=True).update(dismissed_at=timezone.now())
    back = request.POST.get("next", "")
    if back.startswith("/") and not back.startswith("//"):
        return HttpResponseRedirect(back)
    return redirect("channels:addresses")


@admin_required
@require_http_methods(["GET", "POST"])
def routing(request: HttpRequest) -> HttpResponse:
    initial = {}
    if request.GET.get("address", "").isdigit():
        initial["received_at"] = int(request.GET["address"])
    form = RoutingRuleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("The routing rule was added."))
        return redirect("channels:routing")
    rules = RoutingRule.objects.select_related("received_at", "group")
    return render(request, "channels/routing.html", {"form": form, "rules": rules})


@admin_required
@require_http_methods(["GET", "POST"])
def routing_rule(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(RoutingRule, pk=rule_id)
    form = RoutingRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("The routing rule was saved."))
        return redirect("channels:routing")
    return render(request, "channels/routing_rule.html", {"form": form, "rule": rule})


@admin_required
@require_POST
def routing_rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    with transaction.atomic():
        RoutingRule.objects.filter(pk=rule_id).delete()
    messages.success(request, _("The routing rule was deleted."))
    return redirect(reverse("channels:routing"))
