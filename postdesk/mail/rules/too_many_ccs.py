"""Mail addressed to an unreasonable number of people.

SPEC F8 keeps at most 48 CCs on a ticket and flags the rest; that happens when the ticket is
built. A mail sent to hundreds of addresses at once is something else (a blast, a harvested
list, a hostile test) and is suspended for review (cause ``too_many_ccs``).
"""

from __future__ import annotations

from postdesk.mail.rules.base import Cause, MailFacts, RuleContext, RuleHit


class TooManyCcs:
    name = "too_many_ccs"
    description = "Mail addressed (To and Cc) to more people than the configured threshold."
    cause = Cause.TOO_MANY_CCS

    def check(self, facts: MailFacts, context: RuleContext) -> RuleHit | None:
        others = {address for address in facts.recipients if address not in facts.own_addresses}
        threshold = context.settings.too_many_ccs_threshold
        if len(others) > threshold:
            return RuleHit(
                self.name, self.cause, f"{len(others)} recipients (more than {threshold})"
            )
        return None
