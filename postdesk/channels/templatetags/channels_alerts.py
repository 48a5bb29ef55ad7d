"""``{% channel_alerts %}``: the admin banner for email channel problems (SPEC F3, F15).

Shows failed verifications and undismissed notices (a forwarding target that changed, a
Gmail confirmation waiting). Renders nothing for anyone but admins, so any page's layout can
include it: ``{% load channels_alerts %}{% channel_alerts %}``.
"""

from __future__ import annotations

from typing import Any

from django import template

from postdesk.channels.models import AddressEvent, SupportAddress, VerificationStatus

register = template.Library()

MAX_NOTICES = 5


@register.inclusion_tag("channels/_alerts.html", takes_context=True)
def channel_alerts(context: dict[str, Any]) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_admin", False):
        return {"show": False}
    failed = list(
        SupportAddress.objects.filter(forwarding_status=VerificationStatus.FAILED).only(
            "id", "email", "failure_reason"
        )
    )
    notices = list(
        AddressEvent.objects.filter(notice=True, dismissed_at__isnull=True).select_related(
            "address"
        )[:MAX_NOTICES]
    )
    return {
        "show": bool(failed or notices),
        "failed": failed,
        "notices": notices,
        "next": request.get_full_path() if request is not None else "",
        "csrf_token": context.get("csrf_token"),
    }
