"""The inbound policy: which action each rule's hit leads to, and `decide()`.

`POLICY` is the table an admin reviews. Every rule that hits is recorded in the `Verdict`; the
strongest action wins (drop, then bounce, then suspend, then accept without notifications,
then accept) and, among hits with the same action, the one listed first in the table gives the
cause. Actions can be overridden per rule through `RuleSettings.actions`.

Actions:

* ``accept``: becomes a ticket or a comment, with the usual notifications.
* ``accept_without_notifications``: the same, but nothing is sent in reply (automated mail).
* ``suspend``: kept out of tickets in the suspended queue, with a cause, for review.
* ``drop``: not kept as a ticket or in the queue; the drop itself is recorded.
* ``bounce``: handed to the bounce handler (`postdesk.mail.bounces`), never a ticket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from postdesk.mail.ratelimit import MailRateLimiter
from postdesk.mail.rules import DEFAULT_RULES
from postdesk.mail.rules.base import (
    ZENDESK_CAUSE_IDS,
    Cause,
    MailFacts,
    Rule,
    RuleContext,
    RuleHit,
    RuleSettings,
)

__all__ = ["POLICY", "Action", "PolicyEntry", "Verdict", "decide", "policy_table"]


class Action(StrEnum):
    ACCEPT = "accept"
    ACCEPT_WITHOUT_NOTIFICATIONS = "accept_without_notifications"
    SUSPEND = "suspend"
    DROP = "drop"
    BOUNCE = "bounce"


# Which action wins when several rules hit.
_STRENGTH: dict[Action, int] = {
    Action.ACCEPT: 0,
    Action.ACCEPT_WITHOUT_NOTIFICATIONS: 1,
    Action.SUSPEND: 2,
    Action.BOUNCE: 3,
    Action.DROP: 4,
}


@dataclass(frozen=True)
class PolicyEntry:
    rule: str
    action: Action
    why: str


POLICY: tuple[PolicyEntry, ...] = (
    PolicyEntry("loop_header", Action.DROP, "it carries our own loop header: it went through us"),
    PolicyEntry("own_message_id", Action.DROP, "its Message-ID is ours: our own mail came back"),
    PolicyEntry("own_address", Action.DROP, "it comes from one of our support addresses"),
    PolicyEntry("blocklist_reject", Action.DROP, "the sender is on the blocklist as reject:"),
    PolicyEntry("bounce", Action.BOUNCE, "a delivery report marks recipients, it is no ticket"),
    PolicyEntry("failed_authentication", Action.SUSPEND, "it may be spoofed"),
    PolicyEntry("blocklist", Action.SUSPEND, "the sender is on the blocklist"),
    PolicyEntry("sender_flood", Action.SUSPEND, "the sender opens tickets too fast"),
    PolicyEntry("malformed", Action.SUSPEND, "nobody could answer it"),
    PolicyEntry("too_large", Action.SUSPEND, "it is larger than we process"),
    PolicyEntry("too_many_ccs", Action.SUSPEND, "it was sent to too many people"),
    PolicyEntry("system_sender", Action.SUSPEND, "a system address can't be a requester"),
    PolicyEntry(
        "out_of_office", Action.ACCEPT_WITHOUT_NOTIFICATIONS, "away notices never reopen tickets"
    ),
    PolicyEntry("automated", Action.ACCEPT_WITHOUT_NOTIFICATIONS, "never answer a robot"),
    PolicyEntry("mailing_list", Action.ACCEPT_WITHOUT_NOTIFICATIONS, "never answer a list"),
)

# Hits of rules that never reopen a solved ticket, whatever action wins.
_NO_REOPEN_RULES = frozenset({"out_of_office"})


@dataclass(frozen=True)
class Verdict:
    """What to do with one inbound mail, and why."""

    action: Action
    # The winning hit's cause (Zendesk vocabulary where it fits) and Zendesk's id for it.
    cause: str | None = None
    cause_id: int | None = None
    rule: str | None = None
    reason: str = ""
    hits: tuple[RuleHit, ...] = ()
    # Whether acknowledgements and notices may be sent for this mail.
    notify: bool = True
    # Whether this mail may reopen a solved ticket.
    reopen: bool = True


def policy_table(settings: RuleSettings | None = None) -> dict[str, Action]:
    """Rule name → action, with the settings' overrides applied."""
    table = {entry.rule: entry.action for entry in POLICY}
    if settings is not None:
        table.update({rule: Action(action) for rule, action in settings.action_overrides().items()})
    return table


def decide(
    facts: MailFacts,
    rules: Sequence[Rule] = DEFAULT_RULES,
    settings: RuleSettings | None = None,
    limiter: MailRateLimiter | None = None,
) -> Verdict:
    """Run every rule on ``facts`` and apply the policy table."""
    settings = settings or RuleSettings()
    context = RuleContext(settings=settings, limiter=limiter)
    hits = tuple(hit for rule in rules if (hit := rule.check(facts, context)) is not None)
    table = policy_table(settings)
    winner = _winning_hit(hits, table)
    reopen = not any(hit.rule in _NO_REOPEN_RULES for hit in hits)
    if winner is None:
        return Verdict(action=Action.ACCEPT, hits=hits, reopen=reopen)
    action = _action_for(winner, table)
    return Verdict(
        action=action,
        cause=winner.cause,
        cause_id=_cause_id(winner.cause),
        rule=winner.rule,
        reason=winner.reason,
        hits=hits,
        notify=action == Action.ACCEPT,
        reopen=reopen,
    )


def _action_for(hit: RuleHit, table: dict[str, Action]) -> Action:
    # A rule missing from the table is suspended: an unreviewed rule must not lose mail.
    return table.get(hit.rule, Action.SUSPEND)


def _winning_hit(hits: Sequence[RuleHit], table: dict[str, Action]) -> RuleHit | None:
    order = {entry.rule: index for index, entry in enumerate(POLICY)}
    ranked = [hit for hit in hits if _action_for(hit, table) != Action.ACCEPT]
    if not ranked:
        return None
    return min(
        ranked,
        key=lambda hit: (-_STRENGTH[_action_for(hit, table)], order.get(hit.rule, len(order))),
    )


def _cause_id(cause: str) -> int | None:
    try:
        return ZENDESK_CAUSE_IDS.get(Cause(cause))
    except ValueError:
        return None
