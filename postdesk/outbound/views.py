"""The outbox pages: outbound mail with its per-recipient delivery status, and one mail's
exact bytes. For signed-in agents and admins; the local outbox (``POSTDESK_RELAY=outbox:``)
is where a first-run desk's mail can be read."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from postdesk.outbound.models import OutboundMessage, OutboundStatus
from postdesk.web.views import agent_required

PAGE_SIZE = 50


@agent_required
@require_GET
def outbox(request: HttpRequest) -> HttpResponse:
    messages = OutboundMessage.objects.select_related("ticket").prefetch_related("recipients")
    status = request.GET.get("status", "")
    if status in OutboundStatus.values:
        messages = messages.filter(status=status)
    if request.GET.get("relay") == "outbox":
        messages = messages.filter(relay="outbox")
    page = Paginator(messages.order_by("-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "outbound/outbox.html",
        {
            "page": page,
            "statuses": OutboundStatus.choices,
            "current_status": status,
            "local_only": request.GET.get("relay") == "outbox",
        },
    )


@agent_required
@require_GET
def outbound_detail(request: HttpRequest, outbound_id: int) -> HttpResponse:
    message = get_object_or_404(
        OutboundMessage.objects.select_related("ticket", "sender_address"), pk=outbound_id
    )
    return render(
        request,
        "outbound/detail.html",
        {
            "message": message,
            "recipients": message.recipients.all(),
            # Shown as text (autoescaped): the mail's own bytes, signature first.
            "source": message.sent_bytes().decode("utf-8", "replace"),
        },
    )
