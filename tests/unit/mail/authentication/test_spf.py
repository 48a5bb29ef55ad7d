"""SPF through pyspf with its DNS answered by the lookup, and its place in the verdict."""

from __future__ import annotations

from unittest import mock

import spf

from postdesk.mail.authentication import Connection, Trust, evaluate

from .support import DIRECT, NO_SPF, dns, key_record, mail, sign

SPF_RECORDS = {
    "example.com": {"TXT": ["v=spf1 ip4:192.0.2.0/24 include:_spf.esp.net -all", "other=txt"]},
    "_spf.esp.net": {"TXT": ["v=spf1 ip4:198.51.100.7 ~all"]},
}


def test_a_direct_connection_from_an_authorized_address_passes_aligned() -> None:
    lookup = dns(SPF_RECORDS)
    result = evaluate(mail(), DIRECT, Trust(), lookup)
    assert result.spf == {"result": "pass", "domain": "example.com", "aligned": True}
    assert result.verdict == "pass"
    assert result.reason == "SPF pass for example.com from 192.0.2.10, aligned with From"
    assert result.dmarc["result"] == "pass"


def test_an_unauthorized_address_fails() -> None:
    connection = Connection("203.0.113.5", "mx.attacker.test", "bob@example.com")
    result = evaluate(mail(), connection, Trust(), dns(SPF_RECORDS))
    assert result.spf == {"result": "fail", "domain": "example.com", "aligned": True}
    assert result.verdict == "fail"


def test_an_include_is_followed() -> None:
    connection = Connection("198.51.100.7", "out.esp.net", "bounce@example.com")
    result = evaluate(mail(), connection, Trust(), dns(SPF_RECORDS))
    assert result.spf["result"] == "pass"
    assert result.verdict == "pass"


def test_a_softfail_from_an_include_is_no_pass() -> None:
    records = {
        "example.com": {"TXT": ["v=spf1 include:_spf.esp.net"]},
        "_spf.esp.net": {"TXT": ["v=spf1 ip4:198.51.100.7 ~all"]},
    }
    result = evaluate(
        mail(), Connection("203.0.113.9", "", "bob@example.com"), Trust(), dns(records)
    )
    assert result.spf["result"] == "neutral"  # a non-matching include falls through to no "all"
    assert result.verdict == "fail"


def test_mx_and_a_mechanisms_use_the_lookup() -> None:
    records = {
        "example.com": {
            "TXT": ["v=spf1 mx a:relay.example.com -all"],
            "MX": ["10 mx1.example.com", "20 mx2.example.com"],
        },
        "mx1.example.com": {"A": ["192.0.2.99"]},
        "mx2.example.com": {"A": ["192.0.2.98"]},
        "relay.example.com": {"A": ["192.0.2.50"]},
    }
    lookup = dns(records)
    for ip in ("192.0.2.98", "192.0.2.50"):
        result = evaluate(mail(), Connection(ip, "", "bob@example.com"), Trust(), lookup)
        assert result.spf["result"] == "pass", ip
    assert ("mx1.example.com", "A") in lookup.asked


def test_ipv6_clients_are_matched_against_ip6_and_aaaa() -> None:
    records = {
        "example.com": {"TXT": ["v=spf1 ip6:2001:db8::/32 a:v6.example.com -all"]},
        "v6.example.com": {"AAAA": ["2001:db9::1"]},
    }
    for ip in ("2001:db8::25", "2001:db9::1"):
        result = evaluate(mail(), Connection(ip, "", "bob@example.com"), Trust(), dns(records))
        assert result.spf["result"] == "pass", ip


def test_the_null_sender_is_checked_as_postmaster_at_helo() -> None:
    records = {"mx.example.com": {"TXT": ["v=spf1 ip4:192.0.2.10 -all"]}}
    connection = Connection("192.0.2.10", "mx.example.com", "")
    result = evaluate(mail(), connection, Trust(), dns(records))
    assert result.spf == {"result": "pass", "domain": "mx.example.com", "aligned": True}
    assert result.verdict == "pass"


def test_spf_is_not_checked_for_our_own_mta_or_without_a_client_address() -> None:
    lookup = dns(SPF_RECORDS)
    for connection, trust in ((DIRECT, NO_SPF), (Connection("", "x", "bob@example.com"), Trust())):
        result = evaluate(mail(), connection, trust, lookup)
        assert result.spf == {"result": "not_checked", "domain": "", "aligned": False}
    assert all(name != "example.com" for name, _ in lookup.asked)


def test_an_unaligned_envelope_domain_passes_spf_but_not_dmarc() -> None:
    records = {"bounces.esp.net": {"TXT": ["v=spf1 ip4:192.0.2.10 -all"]}}
    connection = Connection("192.0.2.10", "", "b-123@bounces.esp.net")
    result = evaluate(mail(), connection, Trust(), dns(records))
    assert result.spf == {"result": "pass", "domain": "bounces.esp.net", "aligned": False}
    assert result.verdict == "fail"


def test_strict_aspf_needs_the_exact_domain() -> None:
    records = {
        "bounce.example.com": {"TXT": ["v=spf1 ip4:192.0.2.10 -all"]},
        "_dmarc.example.com": {"TXT": ["v=DMARC1; p=quarantine; aspf=s"]},
    }
    connection = Connection("192.0.2.10", "", "x@bounce.example.com")
    result = evaluate(mail(), connection, Trust(), dns(records))
    assert result.spf["result"] == "pass"
    assert result.spf["aligned"] is False
    assert result.verdict == "fail"


def test_forwarded_mail_fails_spf_but_passes_on_dkim() -> None:
    records = {**SPF_RECORDS, **key_record("example.com")}
    forwarder = Connection("203.0.113.80", "mx.forwarder.test", "bob@example.com")
    result = evaluate(sign(mail(), "example.com"), forwarder, Trust(), dns(records))
    assert result.spf["result"] == "fail"
    assert result.verdict == "pass"
    assert result.reason.startswith("DKIM signature of example.com")


def test_an_spf_lookup_timeout_is_a_temperror() -> None:
    lookup = dns(failing=["example.com"])
    result = evaluate(mail(), DIRECT, Trust(), lookup)
    assert result.spf["result"] == "temperror"
    assert result.verdict == "temperror"
    assert "SPF record of example.com" in result.reason


def test_a_broken_record_is_a_permerror() -> None:
    records = {"example.com": {"TXT": ["v=spf1 ip4:192.0.2.300 -all"]}}
    result = evaluate(mail(), DIRECT, Trust(), dns(records))
    assert result.spf["result"] == "permerror"
    assert result.verdict == "fail"


def test_two_spf_records_are_a_permerror() -> None:
    records = {"example.com": {"TXT": ["v=spf1 -all", "v=spf1 +all"]}}
    result = evaluate(mail(), DIRECT, Trust(), dns(records))
    assert result.spf["result"] == "permerror"


def test_no_record_is_none() -> None:
    result = evaluate(mail(), DIRECT, Trust(), dns())
    assert result.spf == {"result": "none", "domain": "example.com", "aligned": True}


def test_a_bad_client_address_is_not_an_exception() -> None:
    connection = Connection("not-an-ip", "", "bob@example.com")
    result = evaluate(mail(), connection, Trust(), dns(SPF_RECORDS))
    assert result.spf["result"] == "permerror"
    assert result.verdict == "fail"


def test_the_lookup_limit_of_pyspf_still_applies() -> None:
    records = {
        "example.com": {"TXT": ["v=spf1 " + " ".join(f"a:h{i}.test" for i in range(12)) + " -all"]}
    }
    for index in range(12):
        records[f"h{index}.test"] = {"A": ["198.51.100.1"]}
    lookup = dns(records)
    result = evaluate(mail(), DIRECT, Trust(), lookup)
    assert result.spf["result"] == "permerror"
    assert len([name for name, kind in lookup.asked if kind == "A"]) <= 10


def test_pyspf_never_reaches_its_own_resolver() -> None:
    with mock.patch.object(spf, "DNSLookup", side_effect=AssertionError("system DNS used")):
        result = evaluate(mail(), DIRECT, Trust(), dns(SPF_RECORDS))
    assert result.spf["result"] == "pass"
