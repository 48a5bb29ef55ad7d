"""The agent UI's suspended-mail queue: the list (filter by cause, bulk recover and delete)
and one entry with its raw mail. Agents and admins only; every change is a CSRF-protected
POST that redirects back, so the page works without JavaScript and with the keyboard."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from postdesk.suspension import services
from postdesk.suspension.models import CauseChoices, SuspendedMail
from postdesk.tickets.models import User
from postdesk.web.views import agent_required

PAGE_SIZE = 50
# The raw mail shown on the page; larger mail is cut there (the whole stays in the spool).
RAW_DISPLAY_LIMIT = 256 * 1024


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # agent_required let only signed-in users through
    return user


@agent_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    cause = request.GET.get("cause", "")
    items = SuspendedMail.objects.pending()
    if cause in CauseChoices.values:
        items = items.filter(cause=cause)
    page = Paginator(items.order_by("-created_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    counts = services.metrics()["suspended_pending_by_cause"]
    causes = [(value, label, counts.get(value, 0)) for value, label in CauseChoices.choices]
    return render(
        request,
        "suspension/queue.html",
        {
            "page": page,
            "causes": [entry for entry in causes if entry[2]],
            "current_cause": cause if cause in CauseChoices.values else "",
            "total": sum(counts.values()),
        },
    )


@agent_required
@require_GET
def detail(request: HttpRequest, suspended_id: int) -> HttpResponse:
    item = get_object_or_404(SuspendedMail.objects.select_related("inbound"), pk=suspended_id)
    raw = bytes(item.inbound.raw)
    return render(
        request,
        "suspension/detail.html",
        {
            "item": item,
            # Shown as text in a <pre>: autoescaping makes any markup in it inert.
            "raw": raw[:RAW_DISPLAY_LIMIT].decode("utf-8", errors="replace"),
            "raw_cut": len(raw) > RAW_DISPLAY_LIMIT,
            "raw_size": len(raw),
        },
    )


@agent_required
@require_POST
def act(request: HttpRequest) -> HttpResponse:
    """One form for the whole page: ``action`` is ``recover`` or ``delete`` for the ticked
    ``ids``, or ``recover:<id>`` / ``delete:<id>`` for one row's own button."""
    action, _sep, single = request.POST.get("action", "").partition(":")
    raw_ids = [single] if single else request.POST.getlist("ids")
    if action not in ("recover", "delete"):
        messages.error(request, _("Choose recover or delete."))
        return _back(request)
    try:
        ids = services.parse_ids(raw_ids)
    except services.SuspensionError as error:
        messages.error(request, str(error))
        return _back(request)
    if not ids:
        messages.warning(request, _("Tick at least one mail first."))
        return _back(request)
    if action == "recover":
        result = services.recover_many(ids, _user(request))
        if result.done:
            messages.success(
                request,
                ngettext(
                    "%(count)d mail recovered.", "%(count)d mails recovered.", len(result.done)
                )
                % {"count": len(result.done)},
            )
    else:
        result = services.delete_many(ids, _user(request))
        if result.done:
            messages.success(
                request,
                ngettext("%(count)d mail deleted.", "%(count)d mails deleted.", len(result.done))
                % {"count": len(result.done)},
            )
    for failure in result.failed:
        messages.error(request, f"#{failure.suspended_id}: {failure}")
    return _back(request)


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("suspension:queue")
    return HttpResponseRedirect(target)
