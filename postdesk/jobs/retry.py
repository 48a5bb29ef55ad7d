"""How often and how soon failed work is tried again.

Exponential backoff with jitter, so a burst of mail that failed for one shared reason (the
database was down) does not come back as one burst.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 30.0
    max_delay: float = 3600.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        raw = min(self.max_delay, self.base_delay * float(2 ** max(0, attempt - 1)))
        return raw * (1 + random.uniform(-self.jitter, self.jitter))

    def next_attempt_at(self, attempt: int, now: datetime) -> datetime | None:
        """When to try again, or None when ``attempt`` was the last one."""
        if attempt >= self.max_attempts:
            return None
        return now + timedelta(seconds=self.delay(attempt))


INBOUND = RetryPolicy()
