"""DMARC: finding the record (From domain, then organizational domain) and the policy."""

from __future__ import annotations

from postdesk.mail.authentication import Connection, evaluate
from postdesk.mail.authentication.domains import aligned, organizational_domain

from .support import NO_SPF, dns, key_record, mail, sign


def test_the_record_at_the_organizational_domain_governs_a_subdomain() -> None:
    records = {"_dmarc.example.com": {"TXT": ["v=DMARC1; p=reject; sp=quarantine"]}}
    lookup = dns(records)
    result = evaluate(mail(sender="a@news.example.com"), Connection(), NO_SPF, lookup)
    assert result.dmarc == {
        "result": "fail",
        "policy": "quarantine",
        "record_domain": "example.com",
    }
    assert result.verdict == "fail"
    assert lookup.asked[:2] == [("_dmarc.news.example.com", "TXT"), ("_dmarc.example.com", "TXT")]


def test_a_record_at_the_from_domain_wins() -> None:
    records = {
        "_dmarc.news.example.com": {"TXT": ["v=DMARC1; p=none"]},
        "_dmarc.example.com": {"TXT": ["v=DMARC1; p=reject"]},
    }
    result = evaluate(mail(sender="a@news.example.com"), Connection(), NO_SPF, dns(records))
    assert result.dmarc == {"result": "fail", "policy": "none", "record_domain": "news.example.com"}


def test_the_organizational_domain_follows_the_public_suffix_list() -> None:
    assert organizational_domain("mail.example.co.uk") == "example.co.uk"
    assert organizational_domain("a.b.example.com") == "example.com"
    assert organizational_domain("example.com") == "example.com"
    assert organizational_domain("mail.example.test") == "example.test"  # unknown suffix
    assert organizational_domain("com") == "com"
    assert aligned("mail.example.co.uk", "example.co.uk", strict=False)
    assert not aligned("other.co.uk", "example.co.uk", strict=False)
    assert not aligned("mail.example.co.uk", "example.co.uk", strict=True)


def test_without_a_record_dmarc_is_none_and_alignment_still_decides() -> None:
    passing = evaluate(
        sign(mail(), "mail.example.com"), Connection(), NO_SPF, dns(key_record("mail.example.com"))
    )
    assert passing.dmarc["result"] == "pass"
    assert passing.dmarc["record_domain"] == ""
    assert passing.verdict == "pass"
    failing = evaluate(mail(), Connection(), NO_SPF, dns())
    assert failing.dmarc == {"result": "none", "policy": "", "record_domain": ""}
    assert failing.verdict == "fail"


def test_a_record_lookup_timeout_is_a_temperror_unless_something_passed() -> None:
    failing = ["_dmarc.example.com"]
    result = evaluate(mail(), Connection(), NO_SPF, dns(failing=failing))
    assert result.dmarc["result"] == "temperror"
    assert result.verdict == "temperror"
    exact = evaluate(
        sign(mail(), "example.com"), Connection(), NO_SPF, dns(key_record("example.com"), failing)
    )
    assert exact.verdict == "pass"
    assert exact.dmarc["result"] == "pass"


def test_with_the_record_unknown_only_a_strictly_aligned_pass_counts() -> None:
    # The record might say adkim=s, so a subdomain's signature can't be relied on.
    raw = sign(mail(), "mail.example.com")
    lookup = dns(key_record("mail.example.com"), failing=["_dmarc.example.com"])
    result = evaluate(raw, Connection(), NO_SPF, lookup)
    assert result.dkim[0]["aligned"] is False
    assert result.verdict == "temperror"


def test_several_records_and_unparsable_ones_are_no_record() -> None:
    for txts in (["v=DMARC1; p=reject", "v=DMARC1; p=none"], ["v=DMARC1 p=reject"], ["hello"]):
        records = {"_dmarc.example.com": {"TXT": txts}}
        result = evaluate(mail(), Connection(), NO_SPF, dns(records))
        assert result.dmarc["result"] == "none", txts


def test_a_record_without_a_valid_policy_counts_as_p_none() -> None:
    records = {"_dmarc.example.com": {"TXT": ["v=DMARC1; p=bogus; rua=mailto:d@example.com"]}}
    result = evaluate(mail(), Connection(), NO_SPF, dns(records))
    assert result.dmarc == {"result": "fail", "policy": "none", "record_domain": "example.com"}
