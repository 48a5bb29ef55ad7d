"""Mail from system users: ``mailer-daemon``, ``postmaster``, ``no-reply`` and their kin.

Nobody reads replies sent to them, so they can't be requesters; such mail is suspended for
review (Zendesk: ``system_user``) rather than made a ticket that would notify a robot.
"""

from __future__ import annotations

from postdesk.mail.rules.base import Cause, MailFacts, RuleContext, RuleHit


class SystemSender:
    name = "system_sender"
    description = "Mail from a system address (mailer-daemon, postmaster, no-reply, ...)."
    cause = Cause.SYSTEM_USER

    def check(self, facts: MailFacts, context: RuleContext) -> RuleHit | None:
        # The requester is the first Reply-To, else From (SPEC F8): a no-reply From with a
        # person in Reply-To is a person writing through a tool.
        requester = facts.reply_to[0] if facts.reply_to else facts.from_email
        local_part = requester.rpartition("@")[0].lower()
        if local_part in context.settings.system_local_parts:
            return RuleHit(self.name, self.cause, f"{requester} is a system address")
        return None
