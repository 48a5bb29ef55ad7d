"""Sliding-window rate limits that keep the desk calm under floods and robot storms (SPEC F10).

* Ticket flood: a sender who opened ``ticket_flood.limit`` tickets (20) within
  ``ticket_flood.seconds`` (10 minutes) is blocked for ``flood_block_seconds`` (an hour); the
  `postdesk.mail.rules.flood` rule suspends their mail (cause ``loop``) meanwhile.
* Automatic mail (acknowledgements, notices): at most 3 to one address per hour, none for a
  repeated subject to the same address after the second, and caps per ticket and overall.

Counting is pure: time comes from an injectable clock and events live in a `WindowStore`, an
abstract interface with an in-memory implementation here, so a database or Redis store can be
plugged in for several processes without touching the policy.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "AutoMailDecision",
    "Clock",
    "InMemoryWindowStore",
    "MailRateLimiter",
    "RateLimits",
    "Window",
    "WindowStore",
]

Clock = Callable[[], float]


class WindowStore(ABC):
    """Timestamps of events per key, and blocks per key. Times are seconds (any epoch, as long
    as the clock and the store agree)."""

    @abstractmethod
    def add(self, key: str, at: float) -> None:
        """Record one event for ``key`` at time ``at``."""

    @abstractmethod
    def count(self, key: str, since: float) -> int:
        """How many events of ``key`` happened at or after ``since``."""

    @abstractmethod
    def prune(self, key: str, before: float) -> None:
        """Forget the events of ``key`` older than ``before``."""

    # Several keys at once. A database store answers each in one round trip; these defaults
    # serve stores for which a loop is as cheap.

    def count_many(self, queries: Sequence[tuple[str, float]]) -> list[int]:
        """``count`` for each (key, since), in order."""
        return [self.count(key, since) for key, since in queries]

    def add_many(self, keys: Sequence[str], at: float) -> None:
        for key in keys:
            self.add(key, at)

    def prune_many(self, queries: Sequence[tuple[str, float]]) -> None:
        """``prune`` for each (key, before)."""
        for key, before in queries:
            self.prune(key, before)

    @abstractmethod
    def blocked_until(self, key: str) -> float | None:
        """When the block on ``key`` ends, or None if it was never blocked."""

    @abstractmethod
    def block(self, key: str, until: float) -> None:
        """Block ``key`` until ``until``."""


class InMemoryWindowStore(WindowStore):
    """A `WindowStore` in this process's memory (tests, single-process deployments)."""

    def __init__(self) -> None:
        self._events: dict[str, list[float]] = {}
        self._blocks: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, key: str, at: float) -> None:
        with self._lock:
            events = self._events.setdefault(key, [])
            # Injected clocks may go backwards in tests; keep the list sorted for bisect.
            if events and at < events[-1]:
                events.insert(bisect_left(events, at), at)
            else:
                events.append(at)

    def count(self, key: str, since: float) -> int:
        with self._lock:
            events = self._events.get(key, [])
            return len(events) - bisect_left(events, since)

    def prune(self, key: str, before: float) -> None:
        with self._lock:
            events = self._events.get(key)
            if events is None:
                return
            del events[: bisect_left(events, before)]
            if not events:
                del self._events[key]

    def blocked_until(self, key: str) -> float | None:
        with self._lock:
            return self._blocks.get(key)

    def block(self, key: str, until: float) -> None:
        with self._lock:
            self._blocks[key] = max(until, self._blocks.get(key, until))


@dataclass(frozen=True)
class Window:
    """At most ``limit`` events within any ``seconds``-long window."""

    limit: int
    seconds: float


@dataclass(frozen=True)
class RateLimits:
    """The limits, with SPEC F10's defaults."""

    ticket_flood: Window = Window(limit=20, seconds=10 * 60)
    flood_block_seconds: float = 60 * 60
    auto_mails_per_address: Window = Window(limit=3, seconds=60 * 60)
    # "None for a repeated subject after the second": two per address and subject per day.
    repeated_subject: Window = Window(limit=2, seconds=24 * 60 * 60)
    auto_mails_per_ticket: Window = Window(limit=10, seconds=60 * 60)
    auto_mails_overall: Window = Window(limit=2000, seconds=60 * 60)


@dataclass(frozen=True)
class AutoMailDecision:
    """Whether an automatic mail may go out; ``reason`` says which limit refused it."""

    allowed: bool
    reason: str = ""


_SUBJECT_PREFIX_RE = re.compile(r"^\s*(?:(?:re|aw|fw|fwd|sv|vs|antw|wg)\s*:\s*)+", re.IGNORECASE)


def normalize_subject(subject: str) -> str:
    """A subject without reply/forward prefixes, case or spacing differences."""
    return " ".join(_SUBJECT_PREFIX_RE.sub("", subject).split()).lower()


@dataclass
class MailRateLimiter:
    """The desk's limits over a store and a clock."""

    store: WindowStore = field(default_factory=InMemoryWindowStore)
    clock: Clock = time.time
    limits: RateLimits = field(default_factory=RateLimits)

    # --- inbound: ticket floods ---

    def sender_blocked_until(self, sender: str) -> float | None:
        """When the sender's flood block ends, or None if they may open tickets.

        Reaching the limit starts the block, so the mail that would be one ticket too many is
        already refused.
        """
        now = self.clock()
        block_key = _key("flood-block", sender)
        until = self.store.blocked_until(block_key)
        if until is not None and until > now:
            return until
        window = self.limits.ticket_flood
        if self.store.count(_key("tickets", sender), now - window.seconds) >= window.limit:
            until = now + self.limits.flood_block_seconds
            self.store.block(block_key, until)
            return until
        return None

    def record_ticket_opened(self, sender: str) -> None:
        now = self.clock()
        key = _key("tickets", sender)
        self.store.add(key, now)
        self.store.prune(key, now - self.limits.ticket_flood.seconds)

    # --- outbound: automatic mail ---

    def acquire_auto_mail(
        self, address: str, subject: str, ticket: str | int | None = None
    ) -> AutoMailDecision:
        """Check every automatic-mail limit and, if all allow it, count the mail.

        Checking and counting happen together so two workers can't both take the last slot
        (given a store that makes them atomic).
        """
        now = self.clock()
        checks = [
            (_key("auto-all", ""), self.limits.auto_mails_overall, "overall automatic mail cap"),
            (
                _key("auto-to", address),
                self.limits.auto_mails_per_address,
                f"automatic mails to {address.lower()}",
            ),
            (
                _key("auto-subject", address, normalize_subject(subject)),
                self.limits.repeated_subject,
                "repeated subject",
            ),
        ]
        if ticket is not None:
            checks.append(
                (
                    _key("auto-ticket", str(ticket)),
                    self.limits.auto_mails_per_ticket,
                    f"ticket {ticket}",
                )
            )
        counts = self.store.count_many([(key, now - window.seconds) for key, window, _ in checks])
        for (_, window, label), count in zip(checks, counts, strict=True):
            if count >= window.limit:
                return AutoMailDecision(
                    allowed=False,
                    reason=f"{label}: {window.limit} within {window.seconds:.0f} s already sent",
                )
        self.store.add_many([key for key, _, _ in checks], now)
        self.store.prune_many([(key, now - window.seconds) for key, window, _ in checks])
        return AutoMailDecision(allowed=True)


def _key(kind: str, *parts: str) -> str:
    # Hashed so subjects and odd addresses make short, safe keys for any store.
    digest = hashlib.sha256(
        "\x00".join(part.strip().lower() for part in parts).encode()
    ).hexdigest()
    return f"{kind}:{digest[:32]}"
