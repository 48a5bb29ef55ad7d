"""Mail nobody could answer: no usable From or Reply-To address (RFC 5322 §3.6.2 requires a
From). Suspended (``malformed``) rather than made a ticket without a requester."""

from __future__ import annotations

from postdesk.mail.rules.base import Cause, MailFacts, RuleContext, RuleHit


class Malformed:
    name = "malformed"
    description = "Mail without a usable From or Reply-To address."
    cause = Cause.MALFORMED

    def check(self, facts: MailFacts, context: RuleContext) -> RuleHit | None:
        if facts.from_email or any(facts.reply_to):
            return None
        raw_from = facts.headers.get("From")
        reason = f"unusable From {raw_from[:80]!r}" if raw_from else "no From header"
        return RuleHit(self.name, self.cause, reason)
