"""Mail from the desk's own support addresses (SPEC F10: dropped, with a record).

A support address writing to a support address is a loop in the making: an acknowledgement
answered by an acknowledgement. The forwarding verification mail (SPEC F3) also comes from the
system address, so the integrator must recognise it before these rules run.
"""

from __future__ import annotations

from postdesk.mail.rules.base import Cause, MailFacts, RuleContext, RuleHit


class OwnAddress:
    name = "own_address"
    description = "Mail sent from one of this desk's own support addresses."
    cause = Cause.FROM_SUPPORT_ADDRESS

    def check(self, facts: MailFacts, context: RuleContext) -> RuleHit | None:
        for label, address in (
            ("From", facts.from_email),
            ("envelope sender", facts.mail_from),
            *(("Reply-To", reply) for reply in facts.reply_to),
        ):
            address = address.strip().strip("<>").lower()
            if address and address in facts.own_addresses:
                return RuleHit(self.name, self.cause, f"{label} {address} is a support address")
        return None
