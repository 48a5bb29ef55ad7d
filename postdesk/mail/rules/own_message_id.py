"""Our own mail coming back: a Message-ID minted by this desk on an inbound mail.

Postdesk's outbound Message-IDs use a domain of their own (SPEC F9). When a mail arrives with
such a Message-ID (RFC 5322 §3.6.4), it is one of ours, returned by a forwarder or a mailbox
rule, not a customer writing: dropped, with a record.
"""

from __future__ import annotations

from postdesk.mail.rules.base import Cause, MailFacts, RuleContext, RuleHit


class OwnMessageId:
    name = "own_message_id"
    description = "Mail whose Message-ID was minted by this desk: our own mail came back."
    cause = Cause.LOOP

    def check(self, facts: MailFacts, context: RuleContext) -> RuleHit | None:
        domain = facts.own_message_id_domain.strip().lower()
        message_id = facts.message_id.strip().strip("<>").lower()
        if domain and message_id.rpartition("@")[2] == domain:
            return RuleHit(self.name, self.cause, f"Message-ID <{message_id}> is ours")
        return None
