"""Fixed-window counters for rate limits on sign-in and the API (SPEC §5 Security).

``hit(scope, ident, limit, window)`` counts one event and answers how long the caller must
wait when the limit is exceeded. Counters live in a Django cache (``POSTDESK_RATELIMIT_CACHE``,
default ``"default"``): ``cache.add`` + ``cache.incr`` are atomic in the local-memory, database
and Redis caches, so the same code limits one process or, with a shared cache, many.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import caches


def _cache_key(scope: str, ident: str, slot: int) -> str:
    # Hashed: identities (emails, IPs) may hold characters some cache backends refuse.
    digest = hashlib.sha256(f"{scope}\0{ident}".encode()).hexdigest()[:40]
    return f"postdesk:rl:{digest}:{slot}"


def hit(scope: str, ident: str, limit: int, window: int) -> float | None:
    """Count one event for ``ident`` in ``scope``; None when allowed, else seconds to wait."""
    now = time.time()
    slot = int(now // window)
    cache = caches[getattr(settings, "POSTDESK_RATELIMIT_CACHE", "default")]
    key = _cache_key(scope, ident, slot)
    cache.add(key, 0, window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, window + 1)
        count = 1
    if count > limit:
        return max(1.0, (slot + 1) * window - now)
    return None


def peek(scope: str, ident: str, limit: int, window: int) -> float | None:
    """Like ``hit`` but without counting: is ``ident`` over its limit right now?"""
    now = time.time()
    slot = int(now // window)
    cache = caches[getattr(settings, "POSTDESK_RATELIMIT_CACHE", "default")]
    count = cache.get(_cache_key(scope, ident, slot), 0)
    if count >= limit:
        return max(1.0, (slot + 1) * window - now)
    return None


def reset(scope: str, ident: str, window: int) -> None:
    """Forget the current window's count (a successful sign-in clears its failures)."""
    slot = int(time.time() // window)
    caches[getattr(settings, "POSTDESK_RATELIMIT_CACHE", "default")].delete(
        _cache_key(scope, ident, slot)
    )
