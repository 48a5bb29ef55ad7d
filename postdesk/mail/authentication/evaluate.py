"""The inbound authentication verdict of one mail (SPEC F11, RFC 7489 DMARC).

Passes, in the order they are looked for (the reason names the first found):

1. our own check: a DKIM signature that verifies and whose ``d=`` aligns with the From
   domain, or an SPF pass for an aligned envelope domain (DMARC ``pass``);
2. a valid ARC chain whose latest sealer is trusted and whose ARC-Authentication-Results
   report DMARC pass for the From domain or an aligned DKIM pass;
3. the topmost Authentication-Results of a trusted authserv-id reporting DMARC pass for the
   From domain, or an aligned DKIM or SPF pass. Only the topmost one of a trusted id is read:
   the trusted server adds its header above what it received, so any lower header claiming
   that id was there before and could have been written by anyone.

Forwarded mail fails SPF here by design, so a failing SPF never outweighs one of these.

Without a pass: ``temperror`` when a DNS failure left undecided something that could have
passed (a DKIM key of an aligned domain, SPF of an aligned domain, the DMARC record, the key
of a trusted ARC chain); else ``fail``. Alignment is relaxed unless the DMARC record says
``adkim=s``/``aspf=s``; when the record couldn't be looked up, only a strictly aligned pass
counts, since the record might have asked for strict alignment.
"""

from __future__ import annotations

from postdesk.dns.resolver import Lookup

from .arc_chain import ArcCheck, verify_chain
from .domains import aligned
from .keys import key_dnsfunc
from .message import from_domain, split
from .policy import DmarcRecord, find_record
from .reported import Report, aligned_pass, authserv_id, parse_report
from .result import AuthResult, Connection, Trust
from .signatures import verify_signatures
from .spf_check import SpfCheck, check_spf


def evaluate(raw: bytes, connection: Connection, trust: Trust, lookup: Lookup) -> AuthResult:
    """Authenticate ``raw`` as received over ``connection``; DNS only through ``lookup``."""
    if not isinstance(raw, bytes | bytearray) or not raw:
        return AuthResult("none", "the message could not be parsed")
    mail = split(bytes(raw))
    if not mail.headers:
        return AuthResult("none", "the message could not be parsed")
    found = from_domain(mail)
    if not found.domain:
        return AuthResult("fail", f"{found.problem}, so it cannot be authenticated")
    domain = found.domain

    record = find_record(domain, lookup)
    # Unknown record: assume the strictest alignment it could have asked for.
    strict_dkim = record.strict_dkim or record.status == "temperror"
    strict_spf = record.strict_spf or record.status == "temperror"

    keys = key_dnsfunc(lookup)  # DKIM and ARC: each key asked and checked once per mail
    dkim_checks = verify_signatures(mail, keys)
    dkim_parts = [
        {
            "domain": check.domain,
            "selector": check.selector,
            "result": check.result,
            "aligned": aligned(check.domain, domain, strict=strict_dkim),
            "problem": check.problem,
        }
        for check in dkim_checks
    ]

    if trust.check_spf and connection.client_ip:
        spf_check = check_spf(connection.client_ip, connection.mail_from, connection.helo, lookup)
    else:
        spf_check = SpfCheck("not_checked", "")
    spf_aligned = bool(spf_check.domain) and aligned(spf_check.domain, domain, strict=strict_spf)
    spf_part = {"result": spf_check.result, "domain": spf_check.domain, "aligned": spf_aligned}

    arc_check = verify_chain(mail, keys)
    arc_trusted = trust.trusts_sealer(arc_check.sealer)
    arc_report = parse_report(arc_check.aar) if arc_check.result == "pass" and arc_trusted else None
    arc_dmarc = arc_report.first("dmarc") if arc_report else None
    arc_part = {
        "result": arc_check.result,
        "sealer": arc_check.sealer,
        "trusted": arc_trusted,
        "dmarc": arc_dmarc.result if arc_dmarc else "",
    }

    upstream = _trusted_upstream(mail.values("Authentication-Results"), trust)
    upstream_part = _upstream_summary(upstream) if upstream else {}

    own_dkim = next((p for p in dkim_parts if p["result"] == "pass" and p["aligned"]), None)
    own_spf = spf_check.result == "pass" and spf_aligned
    dmarc_part = {
        "result": _dmarc_result(record, own_pass=bool(own_dkim) or own_spf),
        "policy": record.policy,
        "record_domain": record.record_domain,
    }

    def result(verdict: str, reason: str) -> AuthResult:
        return AuthResult(
            verdict, reason, domain, spf_part, dkim_parts, dmarc_part, arc_part, upstream_part
        )

    if own_dkim:
        return result(
            "pass", f"DKIM signature of {own_dkim['domain']} verified and aligned with From"
        )
    if own_spf:
        return result(
            "pass",
            f"SPF pass for {spf_check.domain} from {connection.client_ip}, aligned with From",
        )
    if arc_report:
        vouched = aligned_pass(
            arc_report, domain, strict_dkim=strict_dkim, strict_spf=strict_spf, use_spf=False
        )
        if vouched:
            return result(
                "pass",
                f"trusted ARC sealer {arc_check.sealer} reported {vouched} before forwarding",
            )
    if upstream:
        vouched = aligned_pass(
            upstream, domain, strict_dkim=strict_dkim, strict_spf=strict_spf, use_spf=True
        )
        if vouched:
            return result(
                "pass", f"trusted Authentication-Results of {upstream.authserv_id} report {vouched}"
            )

    undecided = _undecided(dkim_parts, spf_check, spf_aligned, record, arc_check, arc_trusted)
    if undecided:
        return result(
            "temperror", f"DNS lookup failed for {undecided}, so {domain} could not be verified"
        )
    return result("fail", f"no aligned DKIM or SPF pass for {domain}")


def _dmarc_result(record: DmarcRecord, *, own_pass: bool) -> str:
    if own_pass:
        return "pass"
    if record.status == "temperror":
        return "temperror"
    return "fail" if record.status == "found" else "none"


def _trusted_upstream(values: list[str], trust: Trust) -> Report | None:
    """The topmost Authentication-Results of a trusted authserv-id, if it parses."""
    for value in values:
        if trust.trusts_authserv_id(authserv_id(value)):
            report = parse_report(value)
            return report if report and trust.trusts_authserv_id(report.authserv_id) else None
    return None


def _upstream_summary(report: Report) -> dict[str, str]:
    dkim = [m for m in report.methods if m.method == "dkim"]
    best_dkim = next((m for m in dkim if m.result == "pass"), dkim[0] if dkim else None)
    spf = report.first("spf")
    dmarc = report.first("dmarc")
    return {
        "authserv_id": report.authserv_id,
        "dkim": best_dkim.result if best_dkim else "",
        "spf": spf.result if spf else "",
        "dmarc": dmarc.result if dmarc else "",
        "header_from": dmarc.properties.get("header.from", "") if dmarc else "",
    }


def _undecided(
    dkim_parts: list[dict[str, object]],
    spf_check: SpfCheck,
    spf_aligned: bool,
    record: DmarcRecord,
    arc_check: ArcCheck,
    arc_trusted: bool,
) -> str:
    """What a DNS failure left open that could have passed, in words ("" if nothing)."""
    for part in dkim_parts:
        if part["result"] == "temperror" and part["aligned"]:
            return f"the DKIM key of {part['domain']}"
    if spf_check.result == "temperror" and spf_aligned:
        return f"the SPF record of {spf_check.domain}"
    if record.status == "temperror":
        return "the DMARC record"
    if arc_check.lookup_failed and arc_trusted:
        return f"a key of the ARC chain sealed by {arc_check.sealer}"
    return ""
