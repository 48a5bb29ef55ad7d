"""The `WindowStore` that every Postdesk process shares: rate-limit windows in the database
(SQLite or PostgreSQL).

`MailRateLimiter` checks a window and then counts into it; for two workers never to take the
same last slot, the check and the count must not interleave. In the database that is the
caller's transaction: on SQLite every write transaction already holds the one write lock
(IMMEDIATE mode and our cross-process lock), and on PostgreSQL `count()` takes a transaction
advisory lock per key, so a second worker checking the same key waits until the first commits.
Call the limiter inside ``transaction.atomic()`` (the inbound pipeline and the outbox do).
"""

from __future__ import annotations

import hashlib
import time

from django.db import connection, transaction

from postdesk.mail.ratelimit import WindowStore
from postdesk.suspension.models import RateBlock, RateEvent

__all__ = ["DatabaseWindowStore"]


def _advisory_lock_id(key: str) -> int:
    # pg_advisory_xact_lock takes a signed 64-bit integer.
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


class DatabaseWindowStore(WindowStore):
    """Events and blocks in the `RateEvent` / `RateBlock` tables."""

    def _lock(self, key: str) -> None:
        if connection.vendor == "postgresql" and connection.in_atomic_block:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_advisory_lock_id(key)])

    def add(self, key: str, at: float) -> None:
        RateEvent.objects.create(key=key, at=at)

    def count(self, key: str, since: float) -> int:
        self._lock(key)
        return RateEvent.objects.filter(key=key, at__gte=since).count()

    def prune(self, key: str, before: float) -> None:
        RateEvent.objects.filter(key=key, at__lt=before).delete()

    def blocked_until(self, key: str) -> float | None:
        return RateBlock.objects.filter(key=key).values_list("until", flat=True).first()

    def block(self, key: str, until: float) -> None:
        with transaction.atomic():
            self._lock(key)
            current = self.blocked_until(key)
            if current is None or current < until:
                RateBlock.objects.update_or_create(key=key, defaults={"until": until})

    @staticmethod
    def purge_expired(now: float | None = None) -> int:
        """Forget blocks that have ended (events are pruned as they are counted)."""
        deleted, _ = RateBlock.objects.filter(until__lt=now or time.time()).delete()
        return deleted
