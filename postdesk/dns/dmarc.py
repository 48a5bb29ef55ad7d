"""The DMARC check of a sending domain (SPEC F13, RFC 7489 6.3, 6.6.3).

Reads the TXT records at ``_dmarc.<domain>`` that begin with ``v=DMARC1``. Mail Postdesk sends
for the domain carries the desk's own return path (VERP bounces), so SPF never aligns with
the From domain: it passes DMARC only through Postdesk's DKIM signature (``d=`` is the From
domain itself, so even strict ``adkim=s`` aligns).

``verified`` means one record that parses with a policy ``p=none|quarantine|reject``, and, when
the policy is ``quarantine`` or ``reject``, DKIM verified: otherwise receivers will quarantine
or reject the desk's mail, which is reported as the problem (with ``aspf=s`` named, as it
rules out SPF alignment even for a customer's own servers). Missing record: ``failed`` with
the advice to publish ``v=DMARC1; p=none``. The organisational-domain fallback of RFC 7489
6.6.3 is not followed: the public suffix list would be needed to find it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from django.utils.translation import gettext as _

from postdesk.dns.resolver import Lookup, LookupFailed
from postdesk.dns.tags import parse_tag_list

POLICIES: Final = ("none", "quarantine", "reject")


@dataclass
class DmarcResult:
    status: str  # unknown | verified | failed
    policy: str | None
    problems: list[str] = field(default_factory=list)


def is_dmarc(txt: str) -> bool:
    return txt.strip().lower().replace(" ", "").startswith("v=dmarc1")


def records_at(domain: str, lookup: Lookup) -> list[str]:
    """The TXT records at ``_dmarc.<domain>`` that begin with ``v=DMARC1`` (RFC 7489 6.6.3);
    a :class:`LookupFailed` passes through. The inbound check reads them the same way."""
    return [txt for txt in lookup(f"_dmarc.{domain}", "TXT") if is_dmarc(txt)]


def parse(record: str) -> dict[str, str] | None:
    """The tags of a DMARC record, or None when it can't be parsed (RFC 7489 6.4)."""
    tags = parse_tag_list(record, repeats_allowed=True)
    if tags is None or tags.get("v") != "DMARC1":
        return None
    return tags


def check_dmarc(domain: str, lookup: Lookup, *, dkim_verified: bool) -> DmarcResult:
    name = f"_dmarc.{domain}"
    try:
        records = records_at(domain, lookup)
    except LookupFailed as failed:
        return DmarcResult(
            "unknown",
            None,
            [failed.problem],
        )
    if not records:
        return DmarcResult(
            "failed",
            None,
            [
                _(
                    "No DMARC record: publish a TXT record at %(name)s such as "
                    "“v=DMARC1; p=none; rua=mailto:dmarc@%(domain)s”"
                )
                % {"name": name, "domain": domain}
            ],
        )
    if len(records) > 1:
        return DmarcResult(
            "failed",
            None,
            [
                _("More than one DMARC record at %(name)s: receivers ignore them all; keep one")
                % {"name": name}
            ],
        )
    tags = parse(records[0])
    policy = (tags or {}).get("p", "").lower()
    if tags is None or policy not in POLICIES:
        return DmarcResult(
            "failed",
            None,
            [
                _(
                    "The DMARC record at %(name)s can't be parsed: it needs “v=DMARC1; p=…” "
                    "with p=none, quarantine or reject"
                )
                % {"name": name}
            ],
        )
    if policy != "none" and not dkim_verified:
        return DmarcResult("failed", policy, [_enforced_problem(policy, tags)])
    return DmarcResult("verified", policy)


def _enforced_problem(policy: str, tags: dict[str, str]) -> str:
    strict = (
        _(" With aspf=s, SPF can't align either.") if tags.get("aspf", "").lower() == "s" else ""
    )
    return (
        _(
            "DMARC policy p=%(policy)s: receivers will %(action)s mail Postdesk sends for this "
            "domain until its DKIM record verifies, as only the DKIM signature aligns."
        )
        % {"policy": policy, "action": _("reject") if policy == "reject" else _("quarantine")}
        + strict
    )
