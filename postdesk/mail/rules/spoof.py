"""Failed inbound authentication (SPEC F11), with Zendesk's profiles.

The integrator evaluates SPF, DKIM, DMARC and ARC and sets `MailFacts.authentication` to the
aligned verdict. Under the ``default`` profile, a mail that claims to come from an agent or a
support address and fails (or can't be checked because the DNS didn't answer) is suspended
(``failed_authentication``): it may be spoofing, and an agent's address carries agent
rights. ``strict`` also suspends other failing mail; ``off`` never suspends.
"""

from __future__ import annotations

from postdesk.mail.rules.base import AuthProfile, Cause, MailFacts, RuleContext, RuleHit


class FailedAuthentication:
    name = "failed_authentication"
    description = (
        "Mail that fails SPF/DKIM/DMARC while claiming an agent's or a support address "
        "(any failing mail under the strict profile)."
    )
    cause = Cause.FAILED_AUTHENTICATION

    def check(self, facts: MailFacts, context: RuleContext) -> RuleHit | None:
        profile = context.settings.auth_profile
        result = facts.authentication.lower()
        if profile == AuthProfile.OFF or result not in ("fail", "temperror"):
            return None
        # A mail whose check the DNS left undecided can't prove it is the agent either; it
        # waits in the queue for an agent instead of acting with the agent's rights.
        failure = "fails authentication" if result == "fail" else "could not be authenticated"
        claimed = facts.from_email.lower()
        if claimed in facts.agent_emails:
            return RuleHit(self.name, self.cause, f"claims agent {claimed}, {failure}")
        if claimed in facts.own_addresses:
            return RuleHit(self.name, self.cause, f"claims support address {claimed}, {failure}")
        if profile == AuthProfile.STRICT and result == "fail":
            return RuleHit(self.name, self.cause, f"{claimed or 'sender'} fails authentication")
        return None
