"""Admin Center → Channels → Email → Recent mail (SPEC F15): the latest inbound mail with
its diagnostics, and one mail's whole processing record with "Process again" for mail that
failed. The data comes from ``postdesk.spool.report``, the same record ``postdesk inbound``
prints, so the page and the command never disagree. Admins only; the one change is a POST
with CSRF."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from postdesk.spool import report, tasks
from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.web.access import admin_required

# How many mails the list shows: enough to find yesterday's problem, few enough to scan.
LIST_LIMIT = 50
# The combined filter for mail still on its way (first try pending, or a retry scheduled).
WAITING = "waiting"
WAITING_STATUSES = (InboundStatus.QUEUED, InboundStatus.RETRYING)
# Mail an admin may send through the pipeline again; finished mail never is (its ticket and
# comment exist), and queued mail is about to be processed anyway.
REPROCESSABLE = (InboundStatus.FAILED, InboundStatus.RETRYING)

# The filter links, in the order an admin looking for trouble wants them.
FILTERS = (
    ("", gettext_lazy("All")),
    (InboundStatus.FAILED, InboundStatus.FAILED.label),
    (InboundStatus.SUSPENDED, InboundStatus.SUSPENDED.label),
    (InboundStatus.DROPPED, InboundStatus.DROPPED.label),
    (InboundStatus.PROCESSED, InboundStatus.PROCESSED.label),
    (WAITING, gettext_lazy("Queued/Retrying")),
)


def _status_label(status: str) -> str | Promise:
    """The status as the model names it (badges and filters); a value the model doesn't know
    (a row written by a newer version) as it is."""
    return dict(InboundStatus.choices).get(status, status)


def _recent(status: str) -> list[InboundMessage]:
    """The latest mail of the filter ``status`` ('' for all); ReportError if unknown."""
    if status == WAITING:
        # report.recent() takes one status; merge the two newest-first lists.
        waiting = [m for s in WAITING_STATUSES for m in report.recent(s, limit=LIST_LIMIT)]
        return sorted(waiting, key=lambda m: m.pk, reverse=True)[:LIST_LIMIT]
    return list(report.recent(status or None, limit=LIST_LIMIT))


def _row(message: InboundMessage) -> dict[str, Any]:
    line = report.summary(message)
    line["status_label"] = _status_label(message.status)
    line["received_dt"] = message.received_at
    return line


@admin_required
@require_GET
def inbound_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    context: dict[str, Any] = {
        "filters": FILTERS,
        "current": status,
        "rows": [],
        "limit": LIST_LIMIT,
        "unknown_status": None,
    }
    try:
        context["rows"] = [_row(message) for message in _recent(status)]
    except report.ReportError:
        # A hand-edited or stale link: say so plainly instead of showing all mail as if
        # it were the filtered list.
        context["unknown_status"] = status
        return render(request, "channels/inbound_list.html", context, status=400)
    return render(request, "channels/inbound_list.html", context)


@admin_required
@require_http_methods(["GET", "POST"])
def inbound_detail(request: HttpRequest, message_id: int) -> HttpResponse:
    message = get_object_or_404(InboundMessage, pk=message_id)
    if request.method == "POST":
        return _process_again(request, message)
    record = report.record(message)
    return render(
        request,
        "channels/inbound_detail.html",
        {
            "message": message,
            "record": record,
            "status_label": _status_label(message.status),
            "can_reprocess": message.status in REPROCESSABLE,
            "authentication": record["authentication"],
        },
    )


def _process_again(request: HttpRequest, message: InboundMessage) -> HttpResponse:
    if message.status in REPROCESSABLE and tasks.reprocess(message.pk):
        messages.success(request, _("The mail is queued to be processed again."))
    else:
        messages.error(
            request, _("Only mail that failed or waits for a retry can be processed again.")
        )
    return redirect("channels:inbound-detail", message_id=message.pk)
