"""From what admins set (`ProtectionSettings`, `SenderListEntry`) to the pure objects the rules
and rate limits read: `rule_settings()`, `rate_limits()`, `rate_limiter()`.

``CLOCK`` is the time source of every limiter made here. It is a module attribute so that a
test can move time forward (a flooding sender unblocks an hour later) without sleeping.
"""

from __future__ import annotations

import time

from postdesk.mail.ratelimit import Clock, MailRateLimiter, RateLimits, Window
from postdesk.mail.rules.base import AuthProfile, RuleSettings
from postdesk.snapshots import Snapshot
from postdesk.suspension.models import (
    DEFAULT_RETENTION_DAYS,
    ProtectionSettings,
    SenderListEntry,
    SenderListKind,
)
from postdesk.suspension.ratestore import DatabaseWindowStore

__all__ = [
    "CLOCK",
    "current_settings",
    "rate_limiter",
    "rate_limits",
    "retention_days",
    "rule_settings",
]

CLOCK: Clock = time.time


def current_settings() -> ProtectionSettings:
    """The settings row, or an unsaved one holding every default."""
    return ProtectionSettings.objects.filter(pk=1).first() or ProtectionSettings(pk=1)


def rule_settings(row: ProtectionSettings | None = None) -> RuleSettings:
    row = row or current_settings()
    allow: list[str] = []
    block: list[str] = []
    for kind, value in SenderListEntry.objects.values_list("kind", "value"):
        if kind == SenderListKind.ALLOW:
            allow.append(value)
        elif kind == SenderListKind.REJECT:
            block.append("reject:" + value)
        else:
            block.append(value)
    return RuleSettings(
        too_many_ccs_threshold=row.too_many_ccs_threshold,
        max_message_size=row.max_message_size,
        allowlist=tuple(allow),
        blocklist=tuple(block),
        auth_profile=AuthProfile(row.auth_profile),
        out_of_office_subjects=tuple(str(pattern) for pattern in row.out_of_office_subjects),
        actions=tuple((str(rule), str(action)) for rule, action in row.actions.items()),
    )


def _load_snapshot() -> tuple[ProtectionSettings, RuleSettings]:
    row = current_settings()
    return row, rule_settings(row)


_SNAPSHOT = Snapshot(_load_snapshot, depends_on=(ProtectionSettings, SenderListEntry))


def snapshot() -> tuple[ProtectionSettings, RuleSettings]:
    """The settings row and the rule settings built from it, as every mail's screening
    reads them (kept for a few seconds: see ``postdesk.snapshots``). Read-only: edit through
    ``current_settings()``."""
    return _SNAPSHOT.get()


def rate_limits(row: ProtectionSettings | None = None) -> RateLimits:
    row = row or current_settings()
    return RateLimits(
        ticket_flood=Window(row.flood_limit, row.flood_window_seconds),
        flood_block_seconds=row.flood_block_seconds,
        auto_mails_per_address=Window(
            row.auto_mails_per_address, row.auto_mails_per_address_seconds
        ),
        repeated_subject=Window(row.repeated_subject_limit, row.repeated_subject_seconds),
        auto_mails_per_ticket=Window(row.auto_mails_per_ticket, row.auto_mails_per_ticket_seconds),
        auto_mails_overall=Window(row.auto_mails_overall, row.auto_mails_overall_seconds),
    )


def rate_limiter(row: ProtectionSettings | None = None) -> MailRateLimiter:
    """The desk's limiter over the shared database store. The outbox asks it before sending an
    automatic mail (``acquire_auto_mail``); the inbound rules ask it about floods."""
    # Looked up at call time so a test's replacement of CLOCK reaches limiters made later.
    return MailRateLimiter(
        store=DatabaseWindowStore(),
        clock=lambda: CLOCK(),
        limits=rate_limits(row or snapshot()[0]),
    )


def retention_days(row: ProtectionSettings | None = None) -> int:
    row = row or current_settings()
    return row.retention_days or DEFAULT_RETENTION_DAYS
