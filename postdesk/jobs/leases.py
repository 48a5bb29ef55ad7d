"""Acquire, renew and release a database lease (see ``Lease``)."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from postdesk.jobs.models import Lease


def acquire(name: str, holder: str, ttl: float) -> bool:
    """Take or renew the lease ``name`` for ``ttl`` seconds. True when ``holder`` holds it."""
    now = timezone.now()
    expires = now + timedelta(seconds=ttl)
    with transaction.atomic():
        taken = (
            Lease.objects.filter(name=name)
            .filter(Q(holder=holder) | Q(expires_at__lt=now))
            .update(holder=holder, expires_at=expires)
        )
        if taken:
            return True
    try:
        with transaction.atomic():
            Lease.objects.create(name=name, holder=holder, expires_at=expires)
        return True
    except IntegrityError:
        return False


def release(name: str, holder: str) -> None:
    Lease.objects.filter(name=name, holder=holder).delete()
