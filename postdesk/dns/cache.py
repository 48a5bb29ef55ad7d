"""An in-process TTL cache in front of a :class:`~postdesk.dns.resolver.Lookup`.

The inbound authentication check asks the same few names for every mail of a busy sender
(its DKIM key, its DMARC and SPF records), so the worker keeps answers for a while. Both kinds
of answer are kept: a list of values and "no record" (an empty list), as both are answers.
A :class:`~postdesk.dns.resolver.LookupFailed` is never kept: the next mail asks again, as a
server that timed out once may answer the next time.

The TTL is ours, not the record's: the lookup seam doesn't carry DNS TTLs, and five minutes is
short enough for a key rotation or a fixed record to be seen soon.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from postdesk.dns.resolver import Lookup

DEFAULT_TTL_SECONDS = 300.0
DEFAULT_MAX_ENTRIES = 10_000


def cached(
    lookup: Lookup,
    ttl: float = DEFAULT_TTL_SECONDS,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Lookup:
    """``lookup`` with answers kept for ``ttl`` seconds, at most ``max_entries`` of them.

    Names are compared case-insensitively (DNS names are). When full, the least recently used
    entry goes. Safe to share between threads; two threads missing the same name at once both
    ask, which costs a query and nothing else.
    """
    entries: OrderedDict[tuple[str, str], tuple[float, tuple[str, ...]]] = OrderedDict()
    lock = threading.Lock()
    limit = max(1, max_entries)

    def cached_lookup(name: str, record_type: str) -> list[str]:
        key = (name.lower().rstrip("."), record_type.upper())
        now = clock()
        with lock:
            entry = entries.get(key)
            if entry is not None:
                expires, values = entry
                if now < expires:
                    entries.move_to_end(key)
                    return list(values)
                del entries[key]
        answer = lookup(name, record_type)  # LookupFailed passes through, uncached
        with lock:
            entries[key] = (now + ttl, tuple(answer))
            entries.move_to_end(key)
            while len(entries) > limit:
                entries.popitem(last=False)
        return list(answer)

    return cached_lookup
