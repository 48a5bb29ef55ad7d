"""Domains as DMARC compares them: normalised, reduced to the organizational domain, aligned.

The organizational domain (RFC 7489 3.2) is the registrable domain under the public suffix
list, the list bundled with ``publicsuffix2`` (never fetched: this runs offline). A domain
under a suffix the list doesn't know counts its last label as the suffix, the list's own
default rule, so ``mail.example.test`` belongs to ``example.test`` and not to all of
``.test``. The list is parsed once per process, on first use.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from publicsuffix2 import PublicSuffixList

from postdesk.dns.names import to_ascii

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")


@cache
def _suffix_list() -> Any:
    # idna=True: the list in A-labels, the form every domain is compared in here.
    return PublicSuffixList(idna=True)


def normalize_domain(value: str) -> str:
    """``value`` lowercased in A-labels without a final dot, or "" when it is no domain name."""
    domain = value.strip().rstrip(".").lower()
    if not domain or len(domain) > 253:
        return ""
    if not domain.isascii():
        try:
            domain = to_ascii(domain).lower()
        except (UnicodeError, ValueError):
            return ""
    if not all(_LABEL.match(label) for label in domain.split(".")):
        return ""
    return domain


def domain_of(address: str) -> str:
    """The normalised domain after the last ``@`` of ``address`` (all of it without one, so a
    bare domain is its own domain), or "" when that is no domain name."""
    return normalize_domain(address.rpartition("@")[2])


def organizational_domain(domain: str) -> str:
    """The registrable domain of a normalised ``domain`` (itself when it is a suffix)."""
    labels = domain.split(".")
    suffix = _suffix_list().get_tld(domain, wildcard=True, strict=False)
    suffix_labels = suffix.count(".") + 1 if suffix else 1
    if len(labels) <= suffix_labels:
        return domain
    return ".".join(labels[-(suffix_labels + 1) :])


def aligned(domain: str, from_domain: str, *, strict: bool) -> bool:
    """Whether an authenticated ``domain`` aligns with the From domain (RFC 7489 3.1).

    Strict: the same domain. Relaxed: the same organizational domain."""
    domain = normalize_domain(domain)
    if not domain or not from_domain:
        return False
    if domain == from_domain:
        return True
    return not strict and organizational_domain(domain) == organizational_domain(from_domain)
