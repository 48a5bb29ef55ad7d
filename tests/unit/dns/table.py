"""A :class:`~postdesk.dns.resolver.Lookup` answered from a dict, for the pure check tests.

``{"name": {"TXT": [...], "CNAME": ["target"]}}``; names listed in ``failing`` raise
``LookupFailed`` as a timed-out server would. Every question asked is kept in ``asked``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from postdesk.dns.resolver import LookupFailed


class TableLookup:
    def __init__(
        self, records: Mapping[str, Mapping[str, Sequence[str]]], failing: Iterable[str] = ()
    ) -> None:
        self.records: dict[str, Mapping[str, Sequence[str]]] = dict(records)
        self.failing = set(failing)
        self.asked: list[tuple[str, str]] = []

    def __call__(self, name: str, record_type: str) -> list[str]:
        self.asked.append((name, record_type))
        if name in self.failing:
            raise LookupFailed(name, record_type, "no answer in time", timed_out=True)
        return list(self.records.get(name, {}).get(record_type, []))
