"""Sender and domain blocklist, in Zendesk's format.

Entries are addresses (``spam@example.com``), domains (``example.com`` or ``@example.com``,
subdomains included). A plain entry suspends the mail (cause ``blocklisted``); an entry
prefixed ``reject:`` drops it, with a record (rule `BlocklistReject`). The allowlist wins over
both, so an admin can block a domain but keep one partner address.
"""

from __future__ import annotations

from postdesk.mail.rules.base import (
    Cause,
    MailFacts,
    RuleContext,
    RuleHit,
    RuleSettings,
    any_entry_matches,
)

_REJECT_PREFIX = "reject:"


def _sender_addresses(facts: MailFacts) -> list[str]:
    return [facts.from_email, facts.mail_from.strip("<>"), *facts.reply_to]


def _entries(settings: RuleSettings, *, reject: bool) -> list[str]:
    entries = []
    for entry in settings.blocklist:
        entry = entry.strip()
        is_reject = entry.lower().startswith(_REJECT_PREFIX)
        if is_reject == reject:
            entries.append(entry[len(_REJECT_PREFIX) :] if is_reject else entry)
    return entries


def _blocked_by(facts: MailFacts, settings: RuleSettings, *, reject: bool) -> str | None:
    senders = _sender_addresses(facts)
    if any_entry_matches(settings.allowlist, senders):
        return None
    return any_entry_matches(_entries(settings, reject=reject), senders)


class Blocklist:
    name = "blocklist"
    description = "Sender or domain on the blocklist (and not on the allowlist)."
    cause = Cause.BLOCKLISTED

    def check(self, facts: MailFacts, context: RuleContext) -> RuleHit | None:
        entry = _blocked_by(facts, context.settings, reject=False)
        return RuleHit(self.name, self.cause, f"blocklist entry {entry!r}") if entry else None


class BlocklistReject:
    name = "blocklist_reject"
    description = "Sender or domain on the blocklist as 'reject:' (and not on the allowlist)."
    cause = Cause.BLOCKLISTED

    def check(self, facts: MailFacts, context: RuleContext) -> RuleHit | None:
        entry = _blocked_by(facts, context.settings, reject=True)
        return (
            RuleHit(self.name, self.cause, f"blocklist entry 'reject:{entry}'") if entry else None
        )
