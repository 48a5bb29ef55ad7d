"""Small read-mostly tables kept in memory for a few seconds (per process).

Every inbound mail asks the same questions: which addresses are ours, who are the agents,
what are the protection settings. Each answer is a query, and queries are most of a mail's
processing time. A ``Snapshot`` reuses an answer for ``ttl`` seconds and drops it at once when
one of its models is saved or deleted in this process; a change made by another process (an
admin in the web process) reaches workers within ``ttl``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save

DEFAULT_TTL = 5.0
_ALL: list[Snapshot[Any]] = []


class Snapshot[T]:
    def __init__(
        self,
        load: Callable[[], T],
        *,
        depends_on: tuple[type[models.Model], ...],
        ttl: float = DEFAULT_TTL,
    ) -> None:
        self.load = load
        self.ttl = ttl
        self._value: T | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()
        for model in depends_on:
            for signal in (post_save, post_delete):
                signal.connect(self._changed, sender=model, weak=False)
            m2m_changed.connect(self._changed, weak=False)
        _ALL.append(self)

    def _changed(self, **kwargs: Any) -> None:
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._value = None
            self._loaded_at = 0.0

    def get(self) -> T:
        now = time.monotonic()
        with self._lock:
            if self._value is not None and now - self._loaded_at < self.ttl:
                return self._value
        value = self.load()
        with self._lock:
            self._value, self._loaded_at = value, now
        return value


def clear_all() -> None:
    """Forget every snapshot (tests, between two test databases)."""
    for snapshot in _ALL:
        snapshot.clear()
