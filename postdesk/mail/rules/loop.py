"""Mail loops through the desk's own loop header.

Every mail Postdesk sends carries a loop header naming its instance (SPEC F10). A mail that
comes back with our instance in that header has been through us already: answering it again
is how loops start, so it is dropped (and the drop recorded). A loop header naming another
instance is some other desk's and is left to the automation rules.
"""

from __future__ import annotations

from postdesk.mail.rules.base import Cause, MailFacts, RuleContext, RuleHit


class LoopHeader:
    name = "loop_header"
    description = "Mail carrying this desk's own loop header: it already went through us."
    cause = Cause.LOOP

    def check(self, facts: MailFacts, context: RuleContext) -> RuleHit | None:
        if not facts.loop_header_name or not facts.instance_id:
            return None
        ours = facts.instance_id.strip().lower()
        for value in facts.headers.get_all(facts.loop_header_name):
            if ours in {part.strip().lower() for part in value.replace(",", " ").split()}:
                return RuleHit(
                    self.name, self.cause, f"{facts.loop_header_name}: {value[:80]} is ours"
                )
        return None
