"""Finding the DMARC record that governs a From domain (RFC 7489 6.6.3).

The record at ``_dmarc.<From domain>``, else at ``_dmarc.<organizational domain>``. At each
name exactly one ``v=DMARC1`` record that parses counts: none or several there means "look
further" at the From domain and "no record" at the organizational domain, as the RFC says.
Found at the organizational domain for a subdomain, the ``sp=`` policy applies when given.
A record without a valid ``p=`` still counts, with policy ``none`` (RFC 7489 6.6.3 step 6).
"""

from __future__ import annotations

from dataclasses import dataclass

from postdesk.dns.dmarc import POLICIES, parse, records_at
from postdesk.dns.resolver import Lookup, LookupFailed

from .domains import organizational_domain


@dataclass(frozen=True)
class DmarcRecord:
    status: str  # found | none | temperror
    record_domain: str = ""
    policy: str = ""  # none | quarantine | reject; "" without a record
    strict_dkim: bool = False  # adkim=s
    strict_spf: bool = False  # aspf=s
    problem: str = ""


def _one_record(domain: str, lookup: Lookup) -> dict[str, str] | None:
    records = records_at(domain, lookup)
    return parse(records[0]) if len(records) == 1 else None


def find_record(from_domain: str, lookup: Lookup) -> DmarcRecord:
    organizational = organizational_domain(from_domain)
    names = [from_domain] if organizational == from_domain else [from_domain, organizational]
    for domain in names:
        try:
            tags = _one_record(domain, lookup)
        except LookupFailed as failed:
            return DmarcRecord(
                "temperror", problem=f"could not look up {failed.name}: {failed.reason}"
            )
        if tags is None:
            continue
        policy = tags.get("p", "").lower()
        if domain != from_domain and tags.get("sp", "").lower() in POLICIES:
            policy = tags["sp"].lower()
        return DmarcRecord(
            "found",
            record_domain=domain,
            policy=policy if policy in POLICIES else "none",
            strict_dkim=tags.get("adkim", "r").lower() == "s",
            strict_spf=tags.get("aspf", "r").lower() == "s",
        )
    return DmarcRecord("none")
