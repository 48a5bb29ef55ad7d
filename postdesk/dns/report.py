"""The whole DNS check of one sending domain, in the shape of SPEC §4, and what it changes.

:func:`check_domain` runs the SPF, DKIM and DMARC checks against the keys Postdesk holds for
the domain and answers the stable ``postdesk check-dns --json`` object::

    {"domain": d,
     "spf": {"status": s, "record": r, "lookups": n, "problems": [...]},
     "dkim": {"status": s, "selectors": [{"name": n, "status": s, "problems": [...]}]},
     "dmarc": {"status": s, "policy": p, "problems": [...]}}

It only reads. :func:`apply_report` makes signing and the support addresses follow the DNS:
each selector that verified goes through ``mark_dkim_verified`` (oldest key first, so when
both rotation slots verify the newer key ends up signing), each that failed through
``mark_dkim_failed``; the domain's addresses get the SPF status. An ``unknown`` result (DNS
unreachable, no key) changes nothing: a passing outage must not stop a domain's signing.
The API's ``verify`` applies the results; the command line does so only with ``--update``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from postdesk.channels.models import SupportAddress, VerificationStatus
from postdesk.dns.dkim import ExpectedKey, check_dkim
from postdesk.dns.dmarc import check_dmarc
from postdesk.dns.resolver import Lookup, system_lookup
from postdesk.dns.spf import check_spf
from postdesk.mail import dkim as dkim_mail
from postdesk.outbound import dkim_keys
from postdesk.outbound.models import DkimKey

Report = dict[str, Any]


def expected_keys(domain: str) -> list[ExpectedKey]:
    """The keys Postdesk holds for ``domain``, oldest first."""
    return [
        ExpectedKey(selector=key.selector, algorithm=key.algorithm, public_key=key.public_key)
        for key in DkimKey.objects.filter(domain=domain).order_by("created_at", "pk")
    ]


def check_domain(domain: str, lookup: Lookup | None = None) -> Report:
    """SPF, DKIM and DMARC of ``domain`` (normalised, see ``postdesk.dns.names``)."""
    lookup = lookup or system_lookup()
    spf = check_spf(domain, settings.POSTDESK.spf_include, lookup)
    dkim = check_dkim(
        domain,
        expected_keys(domain),
        lookup,
        default_selector=dkim_mail.selector_name(dkim_mail.SELECTOR_SLOTS[0]),
    )
    dmarc = check_dmarc(domain, lookup, dkim_verified=dkim.status == "verified")
    return {
        "domain": domain,
        "spf": {
            "status": spf.status,
            "record": spf.record,
            "lookups": spf.lookups,
            "problems": spf.problems,
        },
        "dkim": {"status": dkim.status, "selectors": [asdict(s) for s in dkim.selectors]},
        "dmarc": {"status": dmarc.status, "policy": dmarc.policy, "problems": dmarc.problems},
    }


def all_verified(report: Report) -> bool:
    return all(report[part]["status"] == "verified" for part in ("spf", "dkim", "dmarc"))


def apply_report(report: Report, *, spf: bool = True, dkim: bool = True) -> None:
    """Store what the check found; see the module docstring for what changes."""
    domain = report["domain"]
    if dkim:
        _apply_dkim(domain, report["dkim"]["selectors"])
    status = report["spf"]["status"]
    if spf and status != "unknown":
        SupportAddress.objects.filter(email__iendswith=f"@{domain}").update(
            spf_status=VerificationStatus(status), updated_at=timezone.now()
        )


def _apply_dkim(domain: str, selectors: list[dict[str, Any]]) -> None:
    # Failures first, then verifications oldest to newest: the last verified key signs.
    # Selectors Postdesk no longer holds (removed since the check) are left out.
    order = [key.selector for key in expected_keys(domain)]
    checked = sorted(
        (s for s in selectors if s["name"] in order),
        key=lambda s: (s["status"] == "verified", order.index(s["name"])),
    )
    for selector in checked:
        if selector["status"] == "verified":
            dkim_keys.mark_dkim_verified(domain, selector["name"])
        elif selector["status"] == "failed":
            dkim_keys.mark_dkim_failed(domain, selector["name"], "; ".join(selector["problems"]))


def _status_label(status: str) -> str:
    labels = {"verified": _("verified"), "failed": _("failed"), "unknown": _("unknown")}
    return labels.get(status, status)


def format_report(report: Report) -> str:
    """The report as text for a person at a terminal."""
    spf, dkim, dmarc = report["spf"], report["dkim"], report["dmarc"]
    lines = [_("DNS check of %(domain)s") % {"domain": report["domain"]}, ""]
    lines.append(
        f"SPF    {_status_label(spf['status'])}"
        + (_("  (%(count)d DNS lookups)") % {"count": spf["lookups"]} if spf["record"] else "")
    )
    if spf["record"]:
        lines.append(f"         {spf['record']}")
    lines += [f"  - {problem}" for problem in spf["problems"]]
    lines.append(f"DKIM   {_status_label(dkim['status'])}")
    for selector in dkim["selectors"]:
        lines.append(f"  {selector['name']}: {_status_label(selector['status'])}")
        lines += [f"    - {problem}" for problem in selector["problems"]]
    policy = _("  (policy %(policy)s)") % {"policy": dmarc["policy"]} if dmarc["policy"] else ""
    lines.append(f"DMARC  {_status_label(dmarc['status'])}{policy}")
    lines += [f"  - {problem}" for problem in dmarc["problems"]]
    lines.append("")
    lines.append(
        _("All verified.")
        if all_verified(report)
        else _("Not everything is verified: fix the problems above and check again.")
    )
    return "\n".join(lines)
