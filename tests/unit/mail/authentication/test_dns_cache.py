"""postdesk.dns.cache: answers and "no record" kept for the TTL, failures never kept."""

from __future__ import annotations

import pytest

from postdesk.dns.cache import cached
from postdesk.dns.resolver import LookupFailed

from .support import TableLookup


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_answers_and_empty_answers_are_cached_until_the_ttl() -> None:
    table = TableLookup({"a.example": {"TXT": ["v=spf1 -all"]}})
    clock = Clock()
    lookup = cached(table, ttl=60, clock=clock)
    assert lookup("a.example", "TXT") == ["v=spf1 -all"]
    assert lookup("A.example.", "txt") == ["v=spf1 -all"]
    assert lookup("none.example", "TXT") == []
    assert lookup("none.example", "TXT") == []
    assert table.asked == [("a.example", "TXT"), ("none.example", "TXT")]
    clock.now += 59
    lookup("a.example", "TXT")
    assert len(table.asked) == 2
    clock.now += 1
    lookup("a.example", "TXT")
    assert len(table.asked) == 3


def test_a_failed_lookup_is_not_cached() -> None:
    table = TableLookup({"a.example": {"TXT": ["x"]}}, failing=["a.example"])
    lookup = cached(table, clock=Clock())
    for _ in range(2):
        with pytest.raises(LookupFailed):
            lookup("a.example", "TXT")
    assert len(table.asked) == 2
    table.failing.clear()
    assert lookup("a.example", "TXT") == ["x"]
    assert lookup("a.example", "TXT") == ["x"]
    assert len(table.asked) == 3


def test_the_caller_cannot_change_the_cached_answer() -> None:
    lookup = cached(TableLookup({"a.example": {"TXT": ["x"]}}), clock=Clock())
    lookup("a.example", "TXT").append("changed")
    assert lookup("a.example", "TXT") == ["x"]


def test_the_least_recently_used_entry_goes_when_full() -> None:
    table = TableLookup({})
    lookup = cached(table, max_entries=2, clock=Clock())
    lookup("a.example", "TXT")
    lookup("b.example", "TXT")
    lookup("a.example", "TXT")  # a is now the most recently used
    lookup("c.example", "TXT")  # evicts b
    lookup("a.example", "TXT")
    lookup("b.example", "TXT")
    assert [name for name, _ in table.asked] == [
        "a.example",
        "b.example",
        "c.example",
        "b.example",
    ]


def test_types_are_cached_apart() -> None:
    table = TableLookup({"a.example": {"A": ["192.0.2.1"], "TXT": ["t"]}})
    lookup = cached(table, clock=Clock())
    assert lookup("a.example", "A") == ["192.0.2.1"]
    assert lookup("a.example", "TXT") == ["t"]
