"""Mail larger than the desk processes (SMTP refuses it with 552 5.3.4 already; IMAP and HTTP
intake can still bring it). Suspended, cause ``too_large``, so an admin can decide."""

from __future__ import annotations

from postdesk.mail.rules.base import Cause, MailFacts, RuleContext, RuleHit


class TooLarge:
    name = "too_large"
    description = "Mail larger than the configured maximum message size."
    cause = Cause.TOO_LARGE

    def check(self, facts: MailFacts, context: RuleContext) -> RuleHit | None:
        limit = context.settings.max_message_size
        if facts.size > limit:
            return RuleHit(self.name, self.cause, f"{facts.size} bytes (limit {limit})")
        return None
