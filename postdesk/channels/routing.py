"""Routing a new ticket by the support address it was received at (SPEC F7).

The address's own group comes first; then the active rules *received at is X* in their
order: a rule's group or priority replaces what came before, its tags are added. Called by
the inbound pipeline once the ticket exists, as ``routing.apply(ticket)``.
"""

from __future__ import annotations

import re
from typing import Any

from postdesk.channels.models import RoutingRule
from postdesk.snapshots import Snapshot
from postdesk.tickets.models import Priority, Ticket


def _load_active_rules() -> dict[int, tuple[RoutingRule, ...]]:
    by_address: dict[int, list[RoutingRule]] = {}
    for rule in RoutingRule.objects.filter(active=True):
        by_address.setdefault(rule.received_at_id, []).append(rule)
    return {address: tuple(rules) for address, rules in by_address.items()}


# Every new ticket asks; rules change when an admin edits them (see postdesk.snapshots).
_ACTIVE_RULES = Snapshot(_load_active_rules, depends_on=(RoutingRule,))

_TAG_RE = re.compile(r"[^\w:/.-]+", re.UNICODE)
MAX_TAGS = 50


def clean_tags(raw: str | list[str]) -> list[str]:
    """Zendesk-style tags: lower case, no spaces, unique, in order."""
    items = raw.replace(",", " ").split() if isinstance(raw, str) else list(raw)
    tags: list[str] = []
    for item in items:
        tag = _TAG_RE.sub("_", str(item).strip().lower()).strip("_")[:80]
        if tag and tag not in tags:
            tags.append(tag)
    return tags[:MAX_TAGS]


def apply(ticket: Ticket) -> dict[str, Any]:
    """Route ``ticket`` and save what changed; returns the changes for the diagnostics."""
    address = ticket.received_at
    if address is None:
        return {}
    changes: dict[str, Any] = {}
    if address.group_id and ticket.group_id != address.group_id:
        ticket.group_id = address.group_id
        changes["group_id"] = address.group_id
    rules = _ACTIVE_RULES.get().get(address.pk, ())
    tags = list(ticket.tags or [])
    for rule in rules:
        if rule.group_id:
            ticket.group_id = rule.group_id
            changes["group_id"] = rule.group_id
        if rule.priority in Priority.values:
            ticket.priority = rule.priority
            changes["priority"] = rule.priority
        for tag in rule.tags:
            if tag not in tags:
                tags.append(tag)
                changes.setdefault("tags", []).append(tag)
        changes.setdefault("rules", []).append(rule.pk)
    if "tags" in changes:
        ticket.tags = tags
    fields = [name for name in ("group_id", "priority", "tags") if name in changes]
    if fields:
        ticket.save(update_fields=[f.removesuffix("_id") for f in fields])
    return changes
