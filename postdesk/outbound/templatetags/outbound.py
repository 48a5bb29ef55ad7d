"""``{% load outbound %}{% ticket_delivery ticket %}``: a ticket's outbound mail with the
delivery status of each recipient, for the ticket page (SPEC F14)."""

from __future__ import annotations

from typing import Any

from django import template

from postdesk.outbound.models import OutboundMessage
from postdesk.tickets.models import Ticket

register = template.Library()


@register.inclusion_tag("outbound/_ticket_delivery.html")
def ticket_delivery(ticket: Ticket) -> dict[str, Any]:
    messages = (
        OutboundMessage.objects.filter(ticket=ticket)
        .prefetch_related("recipients")
        .order_by("created_at", "id")
    )
    return {"outbound_messages": list(messages)}
