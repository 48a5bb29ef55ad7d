"""The DKIM check of a sending domain (SPEC F13, RFC 6376 3.6).

For every key Postdesk holds for the domain, ``<selector>._domainkey.<domain>`` must publish
that key: either the TXT record shown in the Admin Center (``v=DKIM1; k=…; p=<key>``) or a
CNAME to a name whose TXT record carries the same key, as verifiers follow CNAMEs. Problems,
in plain words: the record is missing, the CNAME points to a name without our key, the key
differs (an old key still published), the TXT is not a DKIM key record, the key is revoked
(empty ``p=``) or there is more than one record.

The overall status is ``verified`` when a selector of an RSA key verifies: verifying a key
makes it the one that signs (``mark_dkim_verified``), and RSA is the signature every verifier
checks (the Ed25519 key is an optional second signature, RFC 8463). Otherwise it is
``failed`` when a selector failed, and ``unknown`` when DNS could not be asked or Postdesk
holds no key for the domain (the check never creates one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from postdesk.dns.resolver import Lookup, LookupFailed
from postdesk.dns.tags import parse_tag_list


@dataclass(frozen=True, slots=True)
class ExpectedKey:
    """A key Postdesk holds: what its selector's record must publish."""

    selector: str
    algorithm: str  # rsa-sha256 | ed25519-sha256
    public_key: str  # base64, the p= value


@dataclass
class SelectorResult:
    name: str
    status: str  # unknown | verified | failed
    problems: list[str] = field(default_factory=list)


@dataclass
class DkimResult:
    status: str
    selectors: list[SelectorResult]


def record_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}"


def parse_tags(record: str) -> dict[str, str] | None:
    """A DKIM tag-list (RFC 6376 3.2) as a dict, or None when it isn't one."""
    return parse_tag_list(record, repeats_allowed=False)


def _plain(text: str) -> str:
    # Whitespace may fold a base64 value anywhere (RFC 6376 3.2).
    return "".join(text.split())


def _key_record_problem(txt: str, expected: ExpectedKey, where: str) -> str | None:
    """Why the TXT record ``txt`` found at ``where`` is not our key; None when it is."""
    tags = parse_tags(txt)
    if tags is None or "p" not in tags or tags.get("v", "DKIM1") != "DKIM1":
        return _("%(name)s holds a TXT record that is not a DKIM key record") % {"name": where}
    if not _plain(tags["p"]):
        return _("The key at %(name)s is revoked (empty p=)") % {"name": where}
    if _plain(tags["p"]) != _plain(expected.public_key):
        return _(
            "The key published at %(name)s differs from Postdesk's key for selector "
            "%(selector)s: publish the record shown in the Admin Center"
        ) % {"name": where, "selector": expected.selector}
    return None


def check_selector(domain: str, expected: ExpectedKey, lookup: Lookup) -> SelectorResult:
    name = record_name(expected.selector, domain)
    try:
        cnames = lookup(name, "CNAME")
        where = cnames[0] if cnames else name
        records = lookup(where, "TXT")
    except LookupFailed as failed:
        return SelectorResult(
            expected.selector,
            "unknown",
            [failed.problem],
        )
    if not records:
        if cnames:
            problem = _(
                "%(name)s is a CNAME pointing to %(target)s, which does not publish Postdesk's key"
            ) % {"name": name, "target": where}
        else:
            problem = _(
                "No DKIM record at %(name)s: publish the TXT record shown in the Admin Center"
            ) % {"name": name}
        return SelectorResult(expected.selector, "failed", [problem])
    if len(records) > 1:
        return SelectorResult(
            expected.selector,
            "failed",
            [_("More than one TXT record at %(name)s: keep only the DKIM key") % {"name": where}],
        )
    mismatch = _key_record_problem(records[0], expected, where)
    if mismatch is None:
        return SelectorResult(expected.selector, "verified")
    if cnames:
        mismatch = _(
            "%(name)s is a CNAME pointing to %(target)s, which does not publish Postdesk's "
            "key (%(problem)s)"
        ) % {"name": name, "target": where, "problem": mismatch}
    return SelectorResult(expected.selector, "failed", [mismatch])


def no_key_result(domain: str, selector: str) -> DkimResult:
    """Postdesk holds no key for the domain: nothing to compare the DNS with."""
    return DkimResult(
        "unknown",
        [
            SelectorResult(
                selector,
                "unknown",
                [
                    _(
                        "Postdesk has no DKIM key for %(domain)s yet: generate one on the "
                        "Admin Center's DKIM keys page, then publish its record"
                    )
                    % {"domain": domain}
                ],
            )
        ],
    )


def overall_status(expected: Sequence[ExpectedKey], selectors: Sequence[SelectorResult]) -> str:
    by_selector = {key.selector: key for key in expected}
    if any(
        result.status == "verified" and by_selector[result.name].algorithm == "rsa-sha256"
        for result in selectors
    ):
        return "verified"
    if any(result.status == "failed" for result in selectors):
        return "failed"
    return "unknown"


def check_dkim(
    domain: str, expected: Sequence[ExpectedKey], lookup: Lookup, *, default_selector: str
) -> DkimResult:
    """Every expected key's selector looked up and compared; see the module docstring."""
    if not expected:
        return no_key_result(domain, default_selector)
    selectors = [check_selector(domain, key, lookup) for key in expected]
    return DkimResult(overall_status(expected, selectors), selectors)
