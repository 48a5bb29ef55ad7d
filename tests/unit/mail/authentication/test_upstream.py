"""Authentication-Results of a trusted server: only the topmost one with a trusted id."""

from __future__ import annotations

from postdesk.mail.authentication import Connection, Trust, evaluate

from .support import dns, mail

OURS = Trust(authserv_ids=frozenset({"mx.postdesk.example"}), check_spf=False)


def with_results(*values: str) -> bytes:
    return b"".join(f"Authentication-Results: {v}\r\n".encode() for v in values) + mail()


def test_a_trusted_dmarc_pass_for_the_from_domain_passes() -> None:
    raw = with_results(
        "mx.postdesk.example; spf=fail smtp.mailfrom=example.com;"
        " dkim=pass header.d=example.com; dmarc=pass (p=reject) header.from=example.com"
    )
    result = evaluate(raw, Connection(), OURS, dns())
    assert result.verdict == "pass"
    assert result.reason == (
        "trusted Authentication-Results of mx.postdesk.example report DMARC pass for example.com"
    )
    assert result.upstream == {
        "authserv_id": "mx.postdesk.example",
        "dkim": "pass",
        "spf": "fail",
        "dmarc": "pass",
        "header_from": "example.com",
    }


def test_an_aligned_dkim_or_spf_pass_is_enough() -> None:
    dkim = with_results("mx.postdesk.example; dkim=pass header.d=mail.example.com header.s=x")
    spf = with_results("mx.postdesk.example; spf=pass smtp.mailfrom=bob@bounce.example.com")
    dkim_i = with_results("mx.postdesk.example; dkim=pass header.i=@example.com")
    for raw in (dkim, spf, dkim_i):
        assert evaluate(raw, Connection(), OURS, dns()).verdict == "pass"


def test_unaligned_passes_are_not_enough() -> None:
    raw = with_results(
        "mx.postdesk.example; dkim=pass header.d=esp.net; spf=pass smtp.mailfrom=esp.net;"
        " dmarc=pass header.from=other.example"
    )
    assert evaluate(raw, Connection(), OURS, dns()).verdict == "fail"


def test_a_trusted_id_below_the_topmost_trusted_one_is_ignored() -> None:
    raw = with_results(
        "mx.postdesk.example; dkim=none; dmarc=fail header.from=example.com",
        "mx.other.example; dmarc=pass header.from=example.com",
        "mx.postdesk.example; dmarc=pass header.from=example.com",  # forged by the sender
    )
    result = evaluate(raw, Connection(), OURS, dns())
    assert result.verdict == "fail"
    assert result.upstream["dmarc"] == "fail"


def test_trusting_a_domain_trusts_the_servers_under_it() -> None:
    raw = with_results("mx.postdesk.example; dmarc=pass header.from=example.com")
    parent = Trust(authserv_ids=frozenset({"postdesk.example"}), check_spf=False)
    assert evaluate(raw, Connection(), parent, dns()).verdict == "pass"
    look_alike = Trust(authserv_ids=frozenset({"desk.example"}), check_spf=False)
    assert evaluate(raw, Connection(), look_alike, dns()).verdict == "fail"


def test_an_untrusted_id_is_ignored() -> None:
    raw = with_results("mx.attacker.example; dmarc=pass header.from=example.com")
    result = evaluate(raw, Connection(), OURS, dns())
    assert result.verdict == "fail"
    assert result.upstream == {}


def test_a_topmost_trusted_header_that_does_not_parse_hides_the_ones_below() -> None:
    raw = with_results(
        "mx.postdesk.example; dkim=",
        "mx.postdesk.example; dmarc=pass header.from=example.com",
    )
    result = evaluate(raw, Connection(), OURS, dns())
    assert result.verdict == "fail"
    assert result.upstream == {}


def test_authserv_ids_are_compared_case_insensitively_and_folding_is_read() -> None:
    raw = (
        b"Authentication-Results: MX.Postdesk.Example;\r\n"
        b"\tdmarc=pass\r\n header.from=example.com\r\n" + mail()
    )
    assert evaluate(raw, Connection(), OURS, dns()).verdict == "pass"
