"""A database ``WindowStore`` for ``postdesk.mail.ratelimit``: limits shared by all processes.

The in-memory store counts per process; a desk with several workers (or restarted ones) must
count in one place, so events and blocks are rows. Callers that need check-and-count to be
atomic per address lock a row of that address first (see ``services._auto_mail_allowed``).
"""

from __future__ import annotations

from django.db.models import F
from django.db.models.functions import Greatest

from postdesk.mail.ratelimit import WindowStore
from postdesk.outbound.models import RateBlock, RateEvent


class DatabaseWindowStore(WindowStore):
    def add(self, key: str, at: float) -> None:
        RateEvent.objects.create(key=key, at=at)

    def count(self, key: str, since: float) -> int:
        return RateEvent.objects.filter(key=key, at__gte=since).count()

    def prune(self, key: str, before: float) -> None:
        RateEvent.objects.filter(key=key, at__lt=before).delete()

    def blocked_until(self, key: str) -> float | None:
        return RateBlock.objects.filter(key=key).values_list("until", flat=True).first()

    def block(self, key: str, until: float) -> None:
        updated = RateBlock.objects.filter(key=key).update(until=Greatest(F("until"), until))
        if not updated:
            RateBlock.objects.get_or_create(key=key, defaults={"until": until})


def prune_old_events(keep_seconds: float = 2 * 24 * 3600) -> int:
    """Periodic job: forget events older than every window (the longest is a day); keys
    that are never counted again would otherwise keep their rows for ever."""
    import time

    deleted, _ = RateEvent.objects.filter(at__lt=time.time() - keep_seconds).delete()
    RateBlock.objects.filter(until__lt=time.time()).delete()
    return deleted
