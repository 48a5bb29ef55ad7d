"""A sender opening tickets faster than any person writes (SPEC F10: more than 20 tickets in
10 minutes) is suspended (``loop``) for an hour, as Zendesk does.

The counting lives in `postdesk.mail.ratelimit`; the integrator records each ticket a sender
opens. This rule only asks whether the sender is over the limit, which starts the hour-long
block when the limit is reached.
"""

from __future__ import annotations

from postdesk.mail.rules.base import Cause, MailFacts, RuleContext, RuleHit


class SenderFlood:
    name = "sender_flood"
    description = "A sender who opened too many tickets in a short time (suspended for a while)."
    cause = Cause.LOOP

    def check(self, facts: MailFacts, context: RuleContext) -> RuleHit | None:
        if context.limiter is None or not facts.sender:
            return None
        blocked_until = context.limiter.sender_blocked_until(facts.sender)
        if blocked_until is None:
            return None
        return RuleHit(
            self.name,
            self.cause,
            f"{facts.sender} opened too many tickets; suspended until {blocked_until:.0f}",
        )
