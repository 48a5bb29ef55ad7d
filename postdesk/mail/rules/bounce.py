"""Bounces (delivery status notifications, RFC 3464, and the non-standard notices of older
MTAs) are handed to the bounce handler: they mark a recipient undeliverable and never become
tickets (SPEC F10).

The body-reading recogniser lives in `postdesk.mail.bounces`; the integrator runs it and sets
`MailFacts.is_bounce`. Without that, this rule falls back to what headers alone can tell.
"""

from __future__ import annotations

from postdesk.mail.bounces import SYSTEM_LOCAL_PARTS
from postdesk.mail.rules.base import Cause, MailFacts, RuleContext, RuleHit

_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "mailer_daemon", "maildaemon", "mail-daemon"})


class Bounce:
    name = "bounce"
    description = (
        "Delivery failure and delay notices (DSNs, mailer-daemon): passed to the bounce "
        "handler, never a ticket."
    )
    cause = Cause.AUTO_DELIVERY_FAILURE

    def check(self, facts: MailFacts, context: RuleContext) -> RuleHit | None:
        if facts.is_bounce:
            return RuleHit(self.name, self.cause, "delivery status notification")
        if facts.is_bounce is False:
            return None
        reason = _header_reason(facts)
        return RuleHit(self.name, self.cause, reason) if reason else None


def _header_reason(facts: MailFacts) -> str:
    content_type = facts.content_type.lower()
    if content_type in ("message/delivery-status", "message/global-delivery-status"):
        return f"Content-Type {content_type}"
    if (
        content_type == "multipart/report"
        and "delivery-status" in facts.headers.get("Content-Type").lower()
    ):
        return "multipart/report; report-type=delivery-status (RFC 3464)"
    if "X-Failed-Recipients" in facts.headers:
        return "X-Failed-Recipients header"
    local_part = facts.from_email.rpartition("@")[0].lower()
    if local_part in _DAEMON_LOCAL_PARTS:
        return f"sent by {local_part}"
    if local_part in SYSTEM_LOCAL_PARTS and not facts.mail_from.strip("<> "):
        return f"sent by {local_part} with a null return path"
    return ""
