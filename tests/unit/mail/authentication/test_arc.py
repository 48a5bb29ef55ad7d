"""ARC: a valid chain sealed by a trusted forwarder vouches for mail its changes broke."""

from __future__ import annotations

from unittest import mock

from postdesk.mail.authentication import Connection, Trust, evaluate
from tests.dkim_keys import rsa_key

from .support import arc_key_record, arc_seal, dns, key_record, mail, sign

TRUSTED = Trust(arc_sealers=frozenset({"lists.forwarder.net"}), check_spf=False)
FORWARDER = Connection("203.0.113.80", "mx.forwarder.net", "list-bounces@forwarder.net")


def forwarded(
    results: str = "dkim=pass header.d=example.com; dmarc=pass header.from=example.com",
) -> bytes:
    """Signed by example.com, then changed by a mailing list (footer), then sealed by it."""
    signed = sign(mail(body="Hello\r\n"), "example.com")
    changed = signed + b"-- \r\nYou are subscribed to the list\r\n"
    return arc_seal(changed, "lists.forwarder.net", "mx.forwarder.net", results)


def records() -> dict[str, dict[str, list[str]]]:
    return {
        **key_record("example.com"),
        **arc_key_record("lists.forwarder.net"),
        "_dmarc.example.com": {"TXT": ["v=DMARC1; p=reject"]},
    }


def test_a_trusted_sealer_reporting_dmarc_pass_makes_a_pass() -> None:
    result = evaluate(forwarded(), FORWARDER, TRUSTED, dns(records()))
    assert result.dkim[0]["result"] == "fail"  # the footer broke the author's signature
    assert result.dmarc["result"] == "fail"
    assert result.arc == {
        "result": "pass",
        "sealer": "lists.forwarder.net",
        "trusted": True,
        "dmarc": "pass",
    }
    assert result.verdict == "pass"
    assert result.reason == (
        "trusted ARC sealer lists.forwarder.net reported DMARC pass for example.com "
        "before forwarding"
    )


def test_an_aligned_dkim_pass_in_the_arc_results_is_enough() -> None:
    raw = forwarded("dkim=pass header.d=mail.example.com; spf=fail smtp.mailfrom=example.com")
    result = evaluate(raw, FORWARDER, TRUSTED, dns(records()))
    assert result.verdict == "pass"
    assert "aligned DKIM pass for mail.example.com" in result.reason
    assert result.arc["dmarc"] == ""


def test_a_trusted_sealer_reporting_failure_is_no_pass() -> None:
    raw = forwarded("dkim=fail header.d=example.com; dmarc=fail header.from=example.com")
    result = evaluate(raw, FORWARDER, TRUSTED, dns(records()))
    assert result.arc["result"] == "pass"
    assert result.arc["dmarc"] == "fail"
    assert result.verdict == "fail"


def test_dmarc_pass_for_another_from_domain_is_not_taken() -> None:
    raw = forwarded("dmarc=pass header.from=other.example")
    assert evaluate(raw, FORWARDER, TRUSTED, dns(records())).verdict == "fail"


def test_the_same_chain_from_an_untrusted_sealer_is_not_used() -> None:
    result = evaluate(forwarded(), FORWARDER, Trust(check_spf=False), dns(records()))
    assert result.arc == {
        "result": "pass",
        "sealer": "lists.forwarder.net",
        "trusted": False,
        "dmarc": "",
    }
    assert result.verdict == "fail"


def test_trusting_a_parent_domain_trusts_its_sealers_but_not_look_alikes() -> None:
    parent = Trust(arc_sealers=frozenset({"forwarder.net"}), check_spf=False)
    assert evaluate(forwarded(), FORWARDER, parent, dns(records())).verdict == "pass"
    look_alike = Trust(arc_sealers=frozenset({"der.net", "s.forwarder"}), check_spf=False)
    assert evaluate(forwarded(), FORWARDER, look_alike, dns(records())).verdict == "fail"


def test_a_broken_chain_is_not_used() -> None:
    raw = forwarded().replace(b"Subject: Test", b"Subject: Changed after sealing")
    result = evaluate(raw, FORWARDER, TRUSTED, dns(records()))
    assert result.arc["result"] == "fail"
    assert result.arc["dmarc"] == ""
    assert result.verdict == "fail"


def test_a_forged_seal_with_a_trusted_d_does_not_verify() -> None:
    from .support import rsa_key

    raw = arc_seal(
        mail(),
        "lists.forwarder.net",
        "mx.forwarder.net",
        "dmarc=pass header.from=example.com",
        key=rsa_key("attacker")[0],
    )
    result = evaluate(raw, FORWARDER, TRUSTED, dns(records()))
    assert result.arc["result"] == "fail"
    assert result.verdict == "fail"


def test_a_seal_key_timeout_of_a_trusted_sealer_is_a_temperror() -> None:
    lookup = dns(records(), failing=["arc._domainkey.lists.forwarder.net"])
    result = evaluate(forwarded(), FORWARDER, TRUSTED, lookup)
    assert result.arc["result"] == "fail"
    assert result.verdict == "temperror"
    assert "ARC chain sealed by lists.forwarder.net" in result.reason


def test_a_two_hop_chain_uses_the_latest_sealer() -> None:
    first = forwarded()
    second = arc_seal(
        first,
        "relay.example.org",
        "mx.example.org",
        "arc=pass; dmarc=pass header.from=example.com",
        selector="arc2",
    )
    lookup = dns({**records(), **arc_key_record("relay.example.org", "arc2")})
    trusted_last = Trust(arc_sealers=frozenset({"relay.example.org"}), check_spf=False)
    result = evaluate(second, FORWARDER, trusted_last, lookup)
    assert result.arc["sealer"] == "relay.example.org"
    assert result.verdict == "pass"
    # Trusting only the first hop: its seal is in the chain but it isn't the latest sealer.
    assert evaluate(second, FORWARDER, TRUSTED, lookup).verdict == "fail"


def test_garbage_arc_headers_fail_without_raising() -> None:
    for headers in (
        b"ARC-Seal: i=1; garbage\r\n",
        b"ARC-Seal: i=x; cv=none\r\nARC-Authentication-Results: i=1; x; none\r\n",
        b"ARC-Seal: i=99; a=rsa-sha256; cv=pass; d=lists.forwarder.net; s=arc; b=AAAA\r\n",
        b"ARC-Message-Signature: i=1; a=rsa-sha256; d=x; s=y; h=from; bh=A; b=A\r\n",
    ):
        result = evaluate(headers + mail(), FORWARDER, TRUSTED, dns(records()))
        assert result.arc["result"] == "fail", headers
        assert result.verdict == "fail"


def test_no_part_of_the_check_reaches_the_system_resolver() -> None:
    import dns.resolver as system_resolver
    import spf

    boom = mock.Mock(side_effect=AssertionError("system DNS used"))
    spf_records = {"forwarder.net": {"TXT": ["v=spf1 ip4:203.0.113.0/24 -all"]}}
    with (
        mock.patch.object(system_resolver, "resolve", boom),
        mock.patch.object(system_resolver, "query", boom),
        mock.patch.object(system_resolver.Resolver, "resolve", boom),
        mock.patch.object(spf, "DNSLookup", boom),
    ):
        trust = Trust(arc_sealers=frozenset({"lists.forwarder.net"}))
        conn = Connection("203.0.113.80", "mx.forwarder.net", "list-bounces@forwarder.net")
        result = evaluate(forwarded(), conn, trust, dns({**records(), **spf_records}))
    assert boom.call_count == 0
    assert result.spf["result"] == "pass"
    assert result.arc["result"] == "pass"
    assert result.dkim[0]["result"] == "fail"


def test_a_key_shared_by_a_dkim_signature_and_the_arc_set_is_asked_once() -> None:
    # The forwarder signs with the same key it seals with, as many lists do.
    raw = sign(forwarded(), "lists.forwarder.net", selector="arc", key=rsa_key("arc")[0])
    lookup = dns(records())
    result = evaluate(raw, FORWARDER, TRUSTED, lookup)
    assert result.dkim[0]["result"] == "pass"
    assert result.arc["result"] == "pass"
    assert lookup.asked.count(("arc._domainkey.lists.forwarder.net", "TXT")) == 1
