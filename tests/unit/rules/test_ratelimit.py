"""Sliding windows of `postdesk.mail.ratelimit` under an injected clock."""

from __future__ import annotations

from postdesk.mail.ratelimit import (
    InMemoryWindowStore,
    MailRateLimiter,
    RateLimits,
    Window,
    normalize_subject,
)


class FakeClock:
    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_flood_of_500_mails_suspends_after_the_limit_and_unblocks_after_the_window() -> None:
    clock = FakeClock()
    limiter = MailRateLimiter(clock=clock)
    tickets = suspended = 0
    first_refusal: float | None = None
    for _ in range(500):
        # 500 mails within one minute from one sender.
        clock.advance(60 / 500)
        if limiter.sender_blocked_until("flood@example.com") is None:
            limiter.record_ticket_opened("flood@example.com")
            tickets += 1
        else:
            first_refusal = first_refusal or clock.now
            suspended += 1
    assert tickets == 20
    assert suspended == 480
    assert first_refusal is not None
    # Other senders are not affected.
    assert limiter.sender_blocked_until("ada@example.com") is None
    # The block lasts an hour from the first refused mail; addresses compare without case.
    until = limiter.sender_blocked_until("Flood@Example.com")
    assert until == first_refusal + 3600
    clock.now = until - 1
    assert limiter.sender_blocked_until("flood@example.com") == until
    clock.now = until + 1
    assert limiter.sender_blocked_until("flood@example.com") is None
    limiter.record_ticket_opened("flood@example.com")
    assert limiter.sender_blocked_until("flood@example.com") is None


def test_tickets_spread_over_time_never_trip_the_flood_limit() -> None:
    clock = FakeClock()
    limiter = MailRateLimiter(clock=clock)
    for _ in range(100):
        assert limiter.sender_blocked_until("busy@example.com") is None
        limiter.record_ticket_opened("busy@example.com")
        clock.advance(31)  # 19.4 per 10 minutes


def test_three_automatic_mails_per_address_per_hour_sliding() -> None:
    clock = FakeClock()
    limiter = MailRateLimiter(clock=clock)
    for number in range(3):
        assert limiter.acquire_auto_mail("ada@example.com", f"Request {number}").allowed
        clock.advance(600)
    refused = limiter.acquire_auto_mail("ada@example.com", "Request 4")
    assert not refused.allowed and "ada@example.com" in refused.reason
    # The first mail leaves the window one hour after it was sent, freeing one slot.
    clock.advance(1801)
    assert limiter.acquire_auto_mail("ada@example.com", "Request 5").allowed
    assert not limiter.acquire_auto_mail("ada@example.com", "Request 6").allowed


def test_no_automatic_mail_for_a_repeated_subject_after_the_second() -> None:
    clock = FakeClock()
    limiter = MailRateLimiter(clock=clock)
    assert limiter.acquire_auto_mail("bot@example.com", "Your ticket").allowed
    clock.advance(3601)
    assert limiter.acquire_auto_mail("bot@example.com", "Re: Your ticket").allowed
    clock.advance(3601)
    refused = limiter.acquire_auto_mail("bot@example.com", "RE: re:  your TICKET")
    assert not refused.allowed and "repeated subject" in refused.reason
    assert limiter.acquire_auto_mail("bot@example.com", "Another subject").allowed


def test_per_ticket_and_overall_caps() -> None:
    clock = FakeClock()
    limits = RateLimits(
        auto_mails_per_ticket=Window(limit=2, seconds=3600),
        auto_mails_overall=Window(limit=5, seconds=3600),
    )
    limiter = MailRateLimiter(clock=clock, limits=limits)
    assert limiter.acquire_auto_mail("a@example.com", "one", ticket=7).allowed
    assert limiter.acquire_auto_mail("b@example.com", "two", ticket=7).allowed
    refused = limiter.acquire_auto_mail("c@example.com", "three", ticket=7)
    assert not refused.allowed and "ticket 7" in refused.reason
    for index in range(3):
        assert limiter.acquire_auto_mail(f"d{index}@example.com", "x", ticket=index).allowed
    refused = limiter.acquire_auto_mail("e@example.com", "y")
    assert not refused.allowed and "overall" in refused.reason


def test_a_refused_mail_is_not_counted() -> None:
    clock = FakeClock()
    limiter = MailRateLimiter(clock=clock)
    for number in range(3):
        assert limiter.acquire_auto_mail("ada@example.com", f"s{number}").allowed
    for _ in range(10):
        assert not limiter.acquire_auto_mail("ada@example.com", "t").allowed
    clock.advance(3601)
    assert limiter.acquire_auto_mail("ada@example.com", "t").allowed


def test_in_memory_store_counts_prunes_and_blocks() -> None:
    store = InMemoryWindowStore()
    for at in (10.0, 20.0, 5.0, 30.0):
        store.add("k", at)
    assert store.count("k", since=10.0) == 3
    assert store.count("k", since=0.0) == 4
    store.prune("k", before=15.0)
    assert store.count("k", since=0.0) == 2
    store.prune("k", before=100.0)
    assert store.count("k", since=0.0) == 0
    assert store.blocked_until("k") is None
    store.block("k", 50.0)
    store.block("k", 40.0)
    assert store.blocked_until("k") == 50.0


def test_subject_normalisation() -> None:
    assert normalize_subject("Re: FW:  Your   Ticket ") == "your ticket"
    assert normalize_subject("AW: Antw: Hallo") == "hallo"
