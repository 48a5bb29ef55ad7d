"""SPF of the SMTP client for the envelope sender, or the HELO name (RFC 7208), via pyspf.

pyspf asks DNS through one method, ``query.dns(name, qtype)``, which calls the module-level
``DNSLookup`` (dnspython against the system resolver). :class:`_Query` overrides that method
to answer from our :class:`~postdesk.dns.resolver.Lookup` instead, converting its text
answers to the shapes pyspf's callers expect. Overriding per query object, rather than
swapping pyspf's module-level function, needs no lock and leaves no window in which another
thread's query could reach the system resolver. pyspf's own limits still apply: 10
DNS-querying terms, 10 MX and PTR names, 2 void lookups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import spf

from postdesk.dns.resolver import Lookup, LookupFailed

from .domains import domain_of, normalize_domain

RESULTS: Final = frozenset(
    {"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"}
)


@dataclass(frozen=True)
class SpfCheck:
    result: str  # RESULTS, or not_checked
    domain: str  # the MAIL FROM domain, else the HELO name
    problem: str = ""


class _Query(spf.query):  # type: ignore[misc]
    def __init__(self, lookup: Lookup, ip: str, sender: str, helo: str) -> None:
        self._lookup = lookup
        self._answers: dict[tuple[str, str], list[Any]] = {}
        super().__init__(i=ip, s=sender, h=helo)

    def dns(
        self,
        name: str,
        qtype: str,
        cnames: object = None,
        ignore_void: bool = False,
    ) -> list[Any]:
        """pyspf's DNS query, answered by the lookup (which follows CNAMEs itself)."""
        if not name:
            raise spf.PermError("empty domain name")
        name = str(name).removesuffix(".").lower()
        if not all(0 < len(label) < 64 for label in name.split(".")):
            return []  # pyspf's rule: an invalid name has no records
        key = (name, qtype)
        if key not in self._answers:
            self._answers[key] = self._ask(name, qtype)
        result = self._answers[key]
        if not result and not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
        return result

    def _ask(self, name: str, qtype: str) -> list[Any]:
        if qtype not in ("TXT", "A", "AAAA", "MX", "PTR"):
            return []  # type 99 (SPF) is only asked in pyspf's "harsh" mode, not used here
        try:
            values = self._lookup(name, qtype)
        except LookupFailed as failed:
            raise spf.TempError(
                f"DNS {failed.record_type} {failed.name}: {failed.reason}"
            ) from None
        if qtype == "TXT":
            # pyspf joins each record's character-strings itself; ours come joined.
            return [[value.encode("utf-8")] for value in values]
        if qtype == "MX":
            exchanges = []
            for value in values:
                preference, _, exchange = value.partition(" ")
                if preference.isdigit() and exchange:
                    exchanges.append((int(preference), exchange.strip()))
            return exchanges
        return list(values)


def check_spf(ip: str, mail_from: str, helo: str, lookup: Lookup) -> SpfCheck:
    """The SPF result for ``mail_from`` (``postmaster@helo`` for the null sender)."""
    sender = mail_from.strip().strip("<>").strip()
    helo = helo.strip()
    domain = domain_of(sender) if sender else normalize_domain(helo)
    if not domain:
        what = "envelope sender" if sender else "HELO name"
        return SpfCheck("none", "", f"no domain in the {what} to check")
    try:
        query = _Query(lookup, ip, sender or f"postmaster@{domain}", helo)
        result, _code, explanation = query.check()
    except (spf.TempError, spf.PermError) as error:
        return SpfCheck("permerror", domain, str(error))
    except Exception as error:  # pyspf raises plain exceptions for a bad address and the like
        return SpfCheck("permerror", domain, f"SPF could not be evaluated ({type(error).__name__})")
    result = str(result).lower()
    if result not in RESULTS:  # "ambiguous" (harsh mode only) and anything unexpected
        result = "permerror"
    problem = str(explanation) if result in ("temperror", "permerror") else ""
    return SpfCheck(result, domain, problem)
