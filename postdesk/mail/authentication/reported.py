"""Results other servers report: Authentication-Results (RFC 8601) and the
ARC-Authentication-Results of an ARC set (RFC 8617 4.1.1), parsed with ``authres``.

Only what the verdict needs is kept: each result's method, result and properties. Whether a
report is believed is decided by the caller (a trusted authserv-id or ARC sealer);
:func:`aligned_pass` says whether a believed report vouches for the From domain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import authres

from .domains import aligned, domain_of

_AAR_INSTANCE = re.compile(r"\s*i\s*=\s*\d+\s*;", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")
_FIRST_TOKEN = re.compile(r"\s*([^\s;]+)")


@dataclass(frozen=True)
class Method:
    method: str  # dkim, spf, dmarc, arc, …
    result: str
    properties: dict[str, str] = field(default_factory=dict)  # "header.d" -> value


@dataclass(frozen=True)
class Report:
    authserv_id: str
    methods: tuple[Method, ...]

    def first(self, method: str) -> Method | None:
        return next((m for m in self.methods if m.method == method), None)


def authserv_id(value: str) -> str:
    """The authserv-id a header starts with, read leniently (so a header that doesn't parse
    still counts as "the topmost one from that server")."""
    found = _FIRST_TOKEN.match(_COMMENT.sub(" ", value))
    return found.group(1).lower() if found else ""


def parse_report(value: str) -> Report | None:
    """An Authentication-Results value (or an AAR value with its ``i=``), None if invalid."""
    instance = _AAR_INSTANCE.match(value)
    if instance:
        value = value[instance.end() :]
    try:
        header: Any = authres.parse_value(value)
        methods = tuple(
            Method(
                str(result.method).lower(),
                str(result.result).lower(),
                {f"{prop.type}.{prop.name}".lower(): str(prop.value) for prop in result.properties},
            )
            for result in header.results
        )
    except Exception:  # authres raises its own SyntaxError and more on malformed input
        return None
    return Report(str(header.authserv_id).lower(), methods)


def aligned_pass(
    report: Report, from_domain: str, *, strict_dkim: bool, strict_spf: bool, use_spf: bool
) -> str:
    """What in ``report`` vouches for ``from_domain``, in words, or "" when nothing does.

    A ``dmarc=pass`` for exactly this From domain, a ``dkim=pass`` whose ``header.d`` (or
    ``header.i`` domain) aligns, or, when ``use_spf``, an ``spf=pass`` whose
    ``smtp.mailfrom`` domain aligns."""
    passes = [method for method in report.methods if method.result == "pass"]
    for method in passes:
        from_header = domain_of(method.properties.get("header.from", ""))
        if method.method == "dmarc" and from_header == from_domain:
            return f"DMARC pass for {from_domain}"
    for method in passes:
        props = method.properties
        if method.method == "dkim":
            domain = domain_of(props.get("header.d", "")) or domain_of(props.get("header.i", ""))
            if domain and aligned(domain, from_domain, strict=strict_dkim):
                return f"an aligned DKIM pass for {domain}"
        elif method.method == "spf" and use_spf:
            domain = domain_of(props.get("smtp.mailfrom", ""))
            if domain and aligned(domain, from_domain, strict=strict_spf):
                return f"an aligned SPF pass for {domain}"
    return ""
