"""The wrappers that bound what a DNS outage costs: one timeout per mail's check
(``giving_up_after_timeout``) and one per rest period for a worker (``resting_after_timeout``)."""

from __future__ import annotations

import pytest

from postdesk.dns.resolver import LookupFailed, giving_up_after_timeout, resting_after_timeout

from .table import TableLookup


def down_then_up() -> TableLookup:
    return TableLookup({"example.com": {"TXT": ["v=spf1 -all"]}}, failing=["example.com"])


def test_one_check_stops_asking_after_its_first_timeout() -> None:
    table = down_then_up()
    lookup = giving_up_after_timeout(table)
    with pytest.raises(LookupFailed):
        lookup("example.com", "TXT")
    table.failing.clear()
    with pytest.raises(LookupFailed) as failure:
        lookup("_dmarc.example.com", "TXT")
    assert failure.value.timed_out and failure.value.name == "_dmarc.example.com"
    assert table.asked == [("example.com", "TXT")]
    # A check of the next mail asks again.
    assert giving_up_after_timeout(table)("example.com", "TXT") == ["v=spf1 -all"]


def test_a_worker_rests_after_a_timeout_then_asks_again() -> None:
    now = [1000.0]
    table = down_then_up()
    lookup = resting_after_timeout(table, rest_seconds=30, clock=lambda: now[0])
    with pytest.raises(LookupFailed):
        lookup("example.com", "TXT")
    table.failing.clear()
    now[0] += 29
    with pytest.raises(LookupFailed) as failure:
        lookup("example.com", "TXT")
    assert failure.value.timed_out
    assert len(table.asked) == 1  # resting: the servers were not asked
    now[0] += 2
    assert lookup("example.com", "TXT") == ["v=spf1 -all"]
    assert len(table.asked) == 2


def test_an_answer_or_a_refusal_is_no_reason_to_rest() -> None:
    class Refusing(TableLookup):
        def __call__(self, name: str, record_type: str) -> list[str]:
            self.asked.append((name, record_type))
            raise LookupFailed(name, record_type, "the DNS server failed or refused")

    refusing = Refusing({})
    lookup = resting_after_timeout(refusing, clock=lambda: 0.0)
    for _ in range(3):
        with pytest.raises(LookupFailed):
            lookup("example.com", "TXT")
    assert len(refusing.asked) == 3
