"""The SPF check of a sending domain (SPEC F13, RFC 7208).

Postdesk sends a domain's mail from its own servers, so the domain's SPF record must
``include:`` the desk's record (``POSTDESK_SPF_INCLUDE``). The check reads the domain's TXT
records beginning with ``v=spf1`` (RFC 7208 4.5) and finds, in plain words:

- no SPF record, or more than one (receivers treat two as a permanent error);
- a record that can't be parsed (an unknown mechanism, a term without its domain, a bad
  address, ``redirect`` or ``exp`` twice: RFC 7208 5, 6);
- no ``include:`` of the desk's record, directly or through nested ``include``/``redirect``;
- more than 10 terms that cost a DNS lookup (``include``, ``a``, ``mx``, ``ptr``, ``exists``
  and ``redirect``, counted through nested records: RFC 7208 4.6.4), after which receivers
  stop with a permanent error;
- an included or redirected-to domain without an SPF record, or a loop of includes.

A lookup that fails (timeout, SERVFAIL) makes the status ``unknown`` with that problem: an
unreachable DNS says nothing about the record. ``verified`` means exactly one record that
parses, includes the desk's record and needs at most 10 lookups. Macros (``%{d}``) in a
domain are counted but not followed: what they expand to depends on each mail.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Final

from django.utils.translation import gettext as _

from postdesk.dns.resolver import Lookup, LookupFailed

MAX_LOOKUPS: Final = 10
# Past this many the count is only a number in a message; stop asking DNS.
_STOP_COUNTING: Final = 30
_MAX_DEPTH: Final = 10

_MECHANISMS: Final = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
_COUNTED: Final = frozenset({"include", "a", "mx", "ptr", "exists"})
_NEEDS_DOMAIN: Final = frozenset({"include", "exists"})
_MODIFIER: Final = re.compile(r"([A-Za-z][A-Za-z0-9_.-]*)=(.*)\Z", re.DOTALL)
_MECHANISM: Final = re.compile(r"([+?~-]?)([A-Za-z][A-Za-z0-9_.-]*)(?::([^/]*))?(/.*)?\Z")


class SpfSyntaxError(ValueError):
    """A record that isn't valid SPF; the message says which term and why."""


@dataclass(frozen=True, slots=True)
class Term:
    """One mechanism (``include:x``) or modifier (``redirect=x``) of a record."""

    name: str  # lower case
    value: str | None  # the domain-spec or address, None when absent
    modifier: bool = False


@dataclass
class SpfResult:
    status: str  # unknown | verified | failed
    record: str | None
    lookups: int
    problems: list[str] = field(default_factory=list)


def is_spf(txt: str) -> bool:
    """RFC 7208 4.5: exactly ``v=spf1``, then a space or the end."""
    lowered = txt.lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


def _mechanism(term: str) -> Term:
    match = _MECHANISM.match(term)
    if match is None:
        raise SpfSyntaxError(_("“%(term)s” is not an SPF term") % {"term": term})
    _qualifier, raw_name, value, cidr = match.groups()
    name = raw_name.lower()
    if name not in _MECHANISMS:
        raise SpfSyntaxError(_("“%(term)s” is not a known SPF mechanism") % {"term": term})
    if value == "" or (value is None and name in _NEEDS_DOMAIN | {"ip4", "ip6"}):
        raise SpfSyntaxError(_("“%(term)s” needs a domain or address") % {"term": term})
    if name == "all" and (value is not None or cidr):
        raise SpfSyntaxError(_("“%(term)s”: all takes no argument") % {"term": term})
    if name in ("ip4", "ip6"):
        _check_network(term, name, f"{value}{cidr or ''}")
    elif cidr and name not in ("a", "mx"):
        raise SpfSyntaxError(_("“%(term)s” can't have a prefix length") % {"term": term})
    return Term(name=name, value=value)


def _check_network(term: str, name: str, text: str) -> None:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise SpfSyntaxError(_("“%(term)s” is not a valid address") % {"term": term}) from None
    if network.version != (4 if name == "ip4" else 6):
        raise SpfSyntaxError(_("“%(term)s” is not a valid address") % {"term": term})


def parse(record: str) -> list[Term]:
    """The terms of an SPF record after ``v=spf1``, or :class:`SpfSyntaxError`."""
    words = record.split()
    if not words or words[0].lower() != "v=spf1":
        raise SpfSyntaxError(_("the record does not begin with v=spf1"))
    terms: list[Term] = []
    seen_modifiers: set[str] = set()
    for word in words[1:]:
        modifier = _MODIFIER.match(word)
        if modifier is None:
            terms.append(_mechanism(word))
            continue
        name, value = modifier.group(1).lower(), modifier.group(2)
        if name in ("redirect", "exp"):
            if name in seen_modifiers:
                raise SpfSyntaxError(_("%(name)s= appears more than once") % {"name": name})
            if not value:
                raise SpfSyntaxError(_("%(name)s= needs a domain") % {"name": name})
            seen_modifiers.add(name)
        terms.append(Term(name=name, value=value, modifier=True))
    return terms


@dataclass
class _Walk:
    """What following a record and its includes learned."""

    desk_include: str
    lookup: Lookup
    lookups: int = 0
    includes_desk: bool = False
    problems: list[str] = field(default_factory=list)


def _spf_records(lookup: Lookup, domain: str) -> list[str]:
    return [txt for txt in lookup(domain, "TXT") if is_spf(txt)]


def _follow(walk: _Walk, target: str, how: str, chain: tuple[str, ...]) -> None:
    """Count the lookups of the record ``target`` names (``how`` is include or redirect)."""
    target = target.rstrip(".").lower()
    if target == walk.desk_include:
        walk.includes_desk = True
    if "%" in target or walk.lookups > _STOP_COUNTING:
        return
    if target in chain or len(chain) > _MAX_DEPTH:
        walk.problems.append(
            _("%(how)s:%(target)s leads back to itself in a loop") % {"how": how, "target": target}
        )
        return
    records = _spf_records(walk.lookup, target)
    if len(records) != 1:
        walk.problems.append(
            _("%(how)s:%(target)s has no single SPF record, which receivers treat as an error")
            % {"how": how, "target": target}
        )
        return
    try:
        terms = parse(records[0])
    except SpfSyntaxError as error:
        walk.problems.append(
            _("the SPF record of %(target)s can't be parsed: %(error)s")
            % {"target": target, "error": error}
        )
        return
    _walk_terms(walk, terms, (*chain, target))


def _walk_terms(walk: _Walk, terms: list[Term], chain: tuple[str, ...]) -> None:
    has_all = any(t.name == "all" and not t.modifier for t in terms)
    for term in terms:
        if term.modifier:
            # RFC 7208 6.1: redirect is ignored when the record has an "all".
            if term.name == "redirect" and not has_all and term.value:
                walk.lookups += 1
                _follow(walk, term.value, "redirect", chain)
            continue
        if term.name in _COUNTED:
            walk.lookups += 1
            if term.name == "include" and term.value:
                _follow(walk, term.value, "include", chain)


def check_spf(domain: str, desk_include: str, lookup: Lookup) -> SpfResult:
    """The SPF check of ``domain`` (already normalised) against the desk's include."""
    desk_include = desk_include.rstrip(".").lower()
    try:
        records = _spf_records(lookup, domain)
        if not records:
            return SpfResult(
                "failed",
                None,
                0,
                [
                    _(
                        "No SPF record: publish a TXT record at %(domain)s: "
                        "v=spf1 include:%(include)s ~all"
                    )
                    % {"domain": domain, "include": desk_include}
                ],
            )
        if len(records) > 1:
            return SpfResult(
                "failed",
                None,
                0,
                [
                    _(
                        "More than one SPF record (%(count)d): receivers treat that as an "
                        "error; merge them into one record"
                    )
                    % {"count": len(records)}
                ],
            )
        record = records[0]
        try:
            terms = parse(record)
        except SpfSyntaxError as error:
            return SpfResult("failed", record, 0, [_("The SPF record can't be parsed: %s") % error])
        walk = _Walk(desk_include=desk_include, lookup=lookup)
        _walk_terms(walk, terms, (domain,))
    except LookupFailed as failed:
        return SpfResult(
            "unknown",
            None,
            0,
            [failed.problem],
        )
    problems = _record_problems(domain, desk_include, walk)
    return SpfResult("failed" if problems else "verified", record, walk.lookups, problems)


def _record_problems(domain: str, desk_include: str, walk: _Walk) -> list[str]:
    problems: list[str] = []
    if not walk.includes_desk:
        problems.append(
            _(
                "The SPF record does not include %(include)s: add include:%(include)s before "
                "the all term, or receivers can't tell that Postdesk may send for %(domain)s"
            )
            % {"include": desk_include, "domain": domain}
        )
    if walk.lookups > MAX_LOOKUPS:
        problems.append(
            _(
                "The SPF record needs %(count)d DNS lookups; receivers stop at %(max)d and "
                "treat the record as an error: remove includes no longer used"
            )
            % {"count": walk.lookups, "max": MAX_LOOKUPS}
        )
    return problems + walk.problems
