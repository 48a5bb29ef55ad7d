"""DKIM: signatures verified with dkimpy, keys through the lookup, alignment with From."""

from __future__ import annotations

from postdesk.mail.authentication import Connection, Trust, evaluate

from .support import NO_SPF, dns, ed25519_key, key_record, mail, rsa_key, sign


def test_relaxed_alignment_a_subdomain_signature_passes_for_the_parent_from() -> None:
    raw = sign(mail(), "mail.example.com")
    result = evaluate(raw, Connection(), NO_SPF, dns(key_record("mail.example.com")))
    assert result.verdict == "pass"
    assert result.reason == "DKIM signature of mail.example.com verified and aligned with From"
    assert result.from_domain == "example.com"
    assert result.dkim == [
        {
            "domain": "mail.example.com",
            "selector": "sel",
            "result": "pass",
            "aligned": True,
            "problem": "",
        }
    ]
    assert result.dmarc["result"] == "pass"


def test_strict_adkim_rejects_the_subdomain_signature() -> None:
    records = {
        **key_record("mail.example.com"),
        "_dmarc.example.com": {"TXT": ["v=DMARC1; p=reject; adkim=s"]},
    }
    result = evaluate(sign(mail(), "mail.example.com"), Connection(), NO_SPF, dns(records))
    assert result.verdict == "fail"
    assert result.dkim[0]["result"] == "pass"
    assert result.dkim[0]["aligned"] is False
    assert result.dmarc == {"result": "fail", "policy": "reject", "record_domain": "example.com"}
    assert result.reason == "no aligned DKIM or SPF pass for example.com"


def test_strict_adkim_accepts_the_exact_domain() -> None:
    records = {
        **key_record("example.com"),
        "_dmarc.example.com": {"TXT": ["v=DMARC1; p=reject; adkim=s"]},
    }
    result = evaluate(sign(mail(), "example.com"), Connection(), NO_SPF, dns(records))
    assert result.verdict == "pass"


def test_a_third_party_signature_verifies_but_does_not_align() -> None:
    raw = sign(mail(), "esp-mailer.net")
    result = evaluate(raw, Connection(), NO_SPF, dns(key_record("esp-mailer.net")))
    assert result.verdict == "fail"
    assert result.dkim[0]["result"] == "pass"
    assert result.dkim[0]["aligned"] is False
    assert result.dmarc["result"] == "none"


def test_a_body_changed_after_signing_fails() -> None:
    raw = sign(mail(body="Pay 10 EUR\r\n"), "example.com").replace(b"10 EUR", b"99 EUR")
    result = evaluate(raw, Connection(), NO_SPF, dns(key_record("example.com")))
    assert result.verdict == "fail"
    assert result.dkim[0]["result"] == "fail"
    assert "body hash mismatch" in result.dkim[0]["problem"]


def test_a_changed_signed_header_fails() -> None:
    raw = sign(mail(), "example.com").replace(b"Subject: Test", b"Subject: Urgent")
    result = evaluate(raw, Connection(), NO_SPF, dns(key_record("example.com")))
    assert result.dkim[0]["result"] == "fail"
    assert result.verdict == "fail"


def test_a_key_lookup_timeout_of_an_aligned_signature_is_a_temperror() -> None:
    raw = sign(mail(), "example.com")
    lookup = dns(failing=["sel._domainkey.example.com"])
    result = evaluate(raw, Connection(), NO_SPF, lookup)
    assert result.verdict == "temperror"
    assert result.dkim[0]["result"] == "temperror"
    assert "sel._domainkey.example.com" in result.dkim[0]["problem"]
    assert "DKIM key of example.com" in result.reason


def test_a_key_timeout_of_an_unaligned_signature_leaves_nothing_undecided() -> None:
    raw = sign(mail(), "esp-mailer.net")
    result = evaluate(raw, Connection(), NO_SPF, dns(failing=["sel._domainkey.esp-mailer.net"]))
    assert result.dkim[0]["result"] == "temperror"
    assert result.verdict == "fail"


def test_a_missing_key_is_a_permerror() -> None:
    result = evaluate(sign(mail(), "example.com"), Connection(), NO_SPF, dns())
    assert result.dkim[0]["result"] == "permerror"
    assert result.dkim[0]["problem"] == "no key published at sel._domainkey.example.com"
    assert result.verdict == "fail"


def test_a_key_that_does_not_match_fails() -> None:
    other = rsa_key("other")[1]
    raw = sign(mail(), "example.com")
    result = evaluate(raw, Connection(), NO_SPF, dns(key_record("example.com", record=other)))
    assert result.dkim[0]["result"] == "fail"


def test_garbage_and_absurd_keys_are_permerrors() -> None:
    raw = sign(mail(), "example.com")
    for record in ("v=DKIM1; k=rsa; p=!!!notbase64", "v=DKIM1; p=" + "A" * 5000, "no tags"):
        result = evaluate(raw, Connection(), NO_SPF, dns(key_record("example.com", record=record)))
        assert result.dkim[0]["result"] == "permerror", record
        assert result.verdict == "fail"


def test_an_ed25519_signature_passes() -> None:
    seed, record = ed25519_key()
    raw = sign(mail(), "example.com", selector="ed", key=seed, algorithm=b"ed25519-sha256")
    result = evaluate(raw, Connection(), NO_SPF, dns(key_record("example.com", "ed", record)))
    assert result.dkim[0]["result"] == "pass"
    assert result.verdict == "pass"


def test_one_good_aligned_signature_among_others_passes() -> None:
    raw = sign(sign(mail(), "example.com"), "esp-mailer.net")
    records = {**key_record("esp-mailer.net")}  # example.com's key is missing
    records.update(key_record("example.com"))
    result = evaluate(raw, Connection(), NO_SPF, dns(records))
    assert [part["domain"] for part in result.dkim] == ["esp-mailer.net", "example.com"]
    assert result.verdict == "pass"


def test_at_most_five_signatures_are_checked() -> None:
    raw = mail()
    for index in range(7):
        raw = sign(raw, f"signer{index}.net")
    lookup = dns()
    result = evaluate(raw, Connection(), NO_SPF, lookup)
    assert len(result.dkim) == 5
    assert len([name for name, _ in lookup.asked if "_domainkey" in name]) == 5


def test_a_malformed_signature_is_a_permerror_not_an_exception() -> None:
    for header in (
        b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; b=***; bh=***; h=from\r\n",
        b"DKIM-Signature: this is not a tag list\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA; l=x\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=A; b=A\r\n",
    ):
        result = evaluate(header + mail(), Connection(), NO_SPF, dns(key_record("example.com")))
        assert result.dkim[0]["result"] == "permerror", header
        assert result.verdict == "fail"


def test_no_signature_no_spf_is_a_fail() -> None:
    result = evaluate(mail(), Connection(), Trust(), dns())
    assert result.verdict == "fail"
    assert result.dkim == []
    assert result.spf["result"] == "not_checked"


def test_the_key_record_is_found_among_other_txt_records_at_the_name() -> None:
    # "exp=" holds "p=" too: the key record is the one with a p= tag.
    records = {"sel._domainkey.example.com": {"TXT": ["v=spf1 exp=x.example -all", rsa_key()[1]]}}
    result = evaluate(sign(mail(), "example.com"), Connection(), NO_SPF, dns(records))
    assert result.dkim[0]["result"] == "pass"
