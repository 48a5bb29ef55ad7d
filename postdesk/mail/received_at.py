"""Which support address a mail was received at, and how that was decided (SPEC F7).

The decision is deterministic and recorded as ``matched_via`` so an admin can see why a
ticket landed where it did. Sources are searched in a fixed order: the visible ``To`` and
``Cc``, then the headers forwarders and MTAs add, then the SMTP envelope. When a hosted
address and an external address forwarding to it both appear, the external one wins: the
customer wrote to ``billing@mycompany.com``, that the mail reached us through the hosted
target is an implementation detail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# The order is the policy.
HEADER_SOURCES: tuple[str, ...] = (
    "To",
    "Cc",
    "Delivered-To",
    "X-Original-To",
    "X-Forwarded-To",
    "X-Gm-Original-To",
    "Envelope-To",
)
ENVELOPE = "envelope"
WILDCARD = "wildcard"


@dataclass(frozen=True)
class KnownAddress:
    email: str  # normalised
    external: bool
    forwarding_target: str | None = None  # normalised email of the hosted target


@dataclass(frozen=True)
class ReceivedAt:
    email: str
    matched_via: str  # a header name, "envelope" or "wildcard"


def candidates(
    header_addresses: Mapping[str, Iterable[str]], envelope_rcpts: Iterable[str]
) -> list[tuple[str, str]]:
    """(source, normalised address) in policy order, duplicates kept (first wins later)."""
    found: list[tuple[str, str]] = []
    for source in HEADER_SOURCES:
        for address in header_addresses.get(source, ()):
            found.append((source, address.strip().lower()))
    for address in envelope_rcpts:
        found.append((ENVELOPE, address.strip().lower()))
    return found


def choose(
    header_addresses: Mapping[str, Iterable[str]],
    envelope_rcpts: Iterable[str],
    known: Mapping[str, KnownAddress],
    *,
    desk_domain: str,
    system_address: str,
) -> ReceivedAt | None:
    """The support address the mail was received at, or None when nothing is ours."""
    ordered = candidates(header_addresses, envelope_rcpts)
    matches = [(source, known[address]) for source, address in ordered if address in known]
    if matches:
        source, first = matches[0]
        if not first.external:
            for other_source, other in matches:
                if other.external and other.forwarding_target == first.email:
                    return ReceivedAt(other.email, other_source)
        return ReceivedAt(first.email, source)
    for _source, address in ordered:
        if address.rpartition("@")[2] == desk_domain:
            return ReceivedAt(system_address, WILDCARD)
    return None
