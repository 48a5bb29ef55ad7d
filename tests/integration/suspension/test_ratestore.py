"""The database `WindowStore`: the same answers as the in-memory one, shared by every
connection, and a last slot taken by exactly one of several concurrent workers."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from postdesk.mail.ratelimit import InMemoryWindowStore, MailRateLimiter, RateLimits, Window
from postdesk.suspension.models import RateBlock
from postdesk.suspension.ratestore import DatabaseWindowStore


@pytest.mark.django_db
@pytest.mark.parametrize("store", [InMemoryWindowStore(), DatabaseWindowStore()], ids=repr)
def test_counts_prunes_and_blocks_like_the_in_memory_store(store):
    for at in (10.0, 20.0, 30.0, 5.0):
        store.add("k", at)
    store.add("other", 20.0)
    assert store.count("k", 10.0) == 3
    assert store.count("k", 31.0) == 0
    store.prune("k", 20.0)
    assert store.count("k", 0.0) == 2
    assert store.blocked_until("k") is None
    store.block("k", 100.0)
    store.block("k", 50.0)  # a shorter block never shortens a longer one
    assert store.blocked_until("k") == 100.0
    store.block("k", 200.0)
    assert store.blocked_until("k") == 200.0


@pytest.mark.django_db
def test_expired_blocks_are_purged():
    store = DatabaseWindowStore()
    store.block("gone", 10.0)
    store.block("kept", 1000.0)
    assert DatabaseWindowStore.purge_expired(now=500.0) == 1
    assert list(RateBlock.objects.values_list("key", flat=True)) == ["kept"]


@pytest.mark.django_db(transaction=True)
def test_the_last_automatic_mail_slot_goes_to_one_worker_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            "the SQLite test database lives in shared-cache memory, where a second writer "
            "fails at once instead of waiting; on disk SQLite serializes writers itself "
            "(tests/integration/test_sqlite_write_lock.py)"
        )
    limiter_limits = RateLimits(auto_mails_per_address=Window(limit=1, seconds=3600))
    start = threading.Barrier(6)
    allowed: list[bool] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            limiter = MailRateLimiter(
                store=DatabaseWindowStore(), clock=lambda: 1000.0, limits=limiter_limits
            )
            start.wait()
            with transaction.atomic():
                decision = limiter.acquire_auto_mail("ada@example.com", "Your request")
            allowed.append(decision.allowed)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(allowed) == [False] * 5 + [True]


@pytest.mark.django_db
def test_old_events_of_senders_who_never_return_are_purged():
    import time

    from postdesk.suspension.models import RateEvent

    now = time.time()
    RateEvent.objects.create(key="auto-to:gone@example.com", at=now - 3 * 24 * 3600)
    RateEvent.objects.create(key="auto-to:recent@example.com", at=now - 3600)
    DatabaseWindowStore.purge_expired(now)
    assert list(RateEvent.objects.values_list("key", flat=True)) == ["auto-to:recent@example.com"]


@pytest.mark.django_db
@pytest.mark.parametrize("store", [InMemoryWindowStore(), DatabaseWindowStore()], ids=repr)
def test_many_keys_at_once_agree_with_one_at_a_time(store):
    store.add_many(["a", "b", "a"], 10.0)
    store.add_many(["a"], 20.0)
    store.add("c", 30.0)
    assert store.count_many([("a", 0.0), ("a", 15.0), ("b", 0.0), ("c", 31.0), ("none", 0.0)]) == [
        3,
        1,
        1,
        0,
        0,
    ]
    assert store.count_many([]) == []
    store.prune_many([("a", 15.0), ("c", 31.0)])
    assert [store.count("a", 0.0), store.count("b", 0.0), store.count("c", 0.0)] == [1, 1, 0]
