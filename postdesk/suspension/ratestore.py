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
from collections.abc import Sequence
from functools import lru_cache

from django.db import connection, transaction

from postdesk.mail.ratelimit import WindowStore
from postdesk.suspension.models import RateBlock, RateEvent

__all__ = ["DatabaseWindowStore"]

# Longer than the longest window a limit may use (a repeated subject counts over a day).
EVENT_RETENTION_SECONDS = 2 * 24 * 3600


def _advisory_lock_id(key: str) -> int:
    # pg_advisory_xact_lock takes a signed 64-bit integer.
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


@lru_cache(maxsize=64)
def _statement(template: str, vendor: str) -> str:
    """``template`` with table and column names quoted for the backend at hand ("key" is a
    keyword in SQL); made once per statement shape, not for every query of every mail."""
    quote = connection.ops.quote_name
    return template.format(
        events=quote(RateEvent._meta.db_table),
        blocks=quote(RateBlock._meta.db_table),
        key=quote("key"),
        at=quote("at"),
        until=quote("until"),
    )


class DatabaseWindowStore(WindowStore):
    """Events and blocks in the `RateEvent` / `RateBlock` tables.

    Every inbound mail asks about its sender's flood window, so the reads and writes are
    plain parameterised SQL: the ORM's query building cost a hundred times the query itself
    on this hot path.
    """

    @staticmethod
    def _sql(template: str) -> str:
        return _statement(template, connection.vendor)

    def _lock(self, key: str) -> None:
        if connection.vendor == "postgresql" and connection.in_atomic_block:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_advisory_lock_id(key)])

    def _number(self, sql: str, params: list[str | float]) -> float | None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def add(self, key: str, at: float) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                self._sql("INSERT INTO {events} ({key}, {at}) VALUES (%s, %s)"), [key, at]
            )

    def count(self, key: str, since: float) -> int:
        self._lock(key)
        sql = self._sql("SELECT COUNT(*) FROM {events} WHERE {key} = %s AND {at} >= %s")
        return int(self._number(sql, [key, since]) or 0)

    def count_many(self, queries: Sequence[tuple[str, float]]) -> list[int]:
        """All the windows of one automatic mail in one query (a sum per window)."""
        if not queries:
            return []
        for key, _ in queries:
            self._lock(key)
        sums = ", ".join(
            self._sql("SUM(CASE WHEN {key} = %s AND {at} >= %s THEN 1 ELSE 0 END)") for _ in queries
        )
        keys = ", ".join(["%s"] * len(queries))
        sql = self._sql(f"SELECT {sums} FROM {{events}} WHERE {{key}} IN ({keys})")  # noqa: S608
        params: list[str | float] = [value for pair in queries for value in pair]
        params += [key for key, _ in queries]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        return [int(value or 0) for value in (row or [0] * len(queries))]

    def add_many(self, keys: Sequence[str], at: float) -> None:
        if not keys:
            return
        values = ", ".join(["(%s, %s)"] * len(keys))
        sql = self._sql(f"INSERT INTO {{events}} ({{key}}, {{at}}) VALUES {values}")  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, [value for key in keys for value in (key, at)])

    def prune_many(self, queries: Sequence[tuple[str, float]]) -> None:
        if not queries:
            return
        where = " OR ".join(self._sql("({key} = %s AND {at} < %s)") for _ in queries)
        with connection.cursor() as cursor:
            cursor.execute(
                self._sql("DELETE FROM {events} WHERE ") + where,
                [value for pair in queries for value in pair],
            )

    def prune(self, key: str, before: float) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                self._sql("DELETE FROM {events} WHERE {key} = %s AND {at} < %s"), [key, before]
            )

    def blocked_until(self, key: str) -> float | None:
        return self._number(self._sql("SELECT {until} FROM {blocks} WHERE {key} = %s"), [key])

    def block(self, key: str, until: float) -> None:
        with transaction.atomic():
            self._lock(key)
            current = self.blocked_until(key)
            if current is None or current < until:
                RateBlock.objects.update_or_create(key=key, defaults={"until": until})

    @staticmethod
    def purge_expired(now: float | None = None) -> int:
        """Forget blocks that have ended, and events older than any window looks back
        (events are also pruned as their key is counted, but a sender who never writes
        again leaves them behind)."""
        now = now or time.time()
        blocks, _ = RateBlock.objects.filter(until__lt=now).delete()
        RateEvent.objects.filter(at__lt=now - EVENT_RETENTION_SECONDS).delete()
        return blocks
