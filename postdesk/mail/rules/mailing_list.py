"""Mailing-list traffic: RFC 2919 ``List-Id`` and RFC 2369 ``List-Unsubscribe``.

A list distribution is not a person writing to support; it may reach its ticket but never
triggers a notification, or every list member would receive the desk's acknowledgement.
"""

from __future__ import annotations

from postdesk.mail.rules.base import Cause, MailFacts, RuleContext, RuleHit


class MailingList:
    name = "mailing_list"
    description = (
        "Mail distributed by a mailing list (List-Id or List-Unsubscribe): it never triggers "
        "a notification."
    )
    cause = Cause.AUTO_MAILER

    def check(self, facts: MailFacts, context: RuleContext) -> RuleHit | None:
        for header in ("List-Id", "List-Unsubscribe"):
            if header in facts.headers:
                value = facts.headers.get(header)[:120]
                return RuleHit(self.name, self.cause, f"{header}: {value}")
        return None
