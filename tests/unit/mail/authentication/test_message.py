"""The From domain DMARC is about, and mail that can't be read at all."""

from __future__ import annotations

import random

import pytest

from postdesk.mail.authentication import Connection, Trust, evaluate
from postdesk.mail.authentication.message import split

from .support import DIRECT, dns, key_record, mail, sign

HEADERS = b"To: support@postdesk.example\r\nSubject: x\r\nMessage-ID: <1@example.com>\r\n"


def test_no_from_header_fails() -> None:
    result = evaluate(HEADERS + b"\r\nbody", DIRECT, Trust(), dns())
    assert result.verdict == "fail"
    assert result.reason == "the message has no From header, so it cannot be authenticated"
    assert result.from_domain == ""


def test_two_from_headers_fail_even_when_one_is_signed() -> None:
    raw = b"From: Mallory <m@attacker.example>\r\n" + sign(mail(), "example.com")
    result = evaluate(raw, DIRECT, Trust(), dns(key_record("example.com")))
    assert result.verdict == "fail"
    assert "more than one From header" in result.reason


def test_several_addresses_in_one_from_fail() -> None:
    raw = mail(sender="a@example.com, b@example.org")
    result = evaluate(raw, DIRECT, Trust(), dns())
    assert result.verdict == "fail"
    assert "more than one address" in result.reason


@pytest.mark.parametrize(
    "sender", ["undisclosed", "Bob <bob@>", "bob@[192.0.2.1]", "bob@exa mple.com", ""]
)
def test_a_from_without_a_usable_domain_fails(sender: str) -> None:
    result = evaluate(mail(sender=sender), DIRECT, Trust(), dns())
    assert result.verdict == "fail"
    assert result.from_domain == ""


def test_the_from_domain_is_lowercased_and_idna_encoded() -> None:
    result = evaluate(mail(sender="Bob <Bob@EXAMPLE.com.>"), Connection(), Trust(), dns())
    assert result.from_domain == "example.com"
    result = evaluate(mail(sender="a@bücher.example"), Connection(), Trust(), dns())
    assert result.from_domain == "xn--bcher-kva.example"


def test_lf_line_ends_and_a_stray_bad_header_line_still_verify() -> None:
    signed = sign(mail(), "example.com")
    lf = signed.replace(b"\r\n", b"\n")
    result = evaluate(lf, Connection(), Trust(), dns(key_record("example.com")))
    assert result.verdict == "pass"
    head, _, body = signed.partition(b"\r\n\r\n")
    stray = head + b"\r\nthis line is no header\r\n\r\n" + body
    assert evaluate(stray, Connection(), Trust(), dns(key_record("example.com"))).verdict == "pass"


@pytest.mark.parametrize("raw", [b"", b"\r\n\r\nonly a body", b"\x00\xff\xfe garbage"])
def test_unreadable_input_is_none(raw: bytes) -> None:
    result = evaluate(raw, DIRECT, Trust(), dns())
    assert result.verdict == "none"
    assert result.reason == "the message could not be parsed"


def test_random_bytes_never_raise() -> None:
    rng = random.Random(7)
    signed = sign(mail(), "example.com")
    trust = Trust(arc_sealers=frozenset({"x.example"}), authserv_ids=frozenset({"x.example"}))
    for _ in range(300):
        data = bytearray(signed)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        noise = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
        for raw in (bytes(data), noise, b"From: a@example.com\r\n" + noise):
            result = evaluate(raw, DIRECT, trust, dns(key_record("example.com")))
            assert result.verdict in ("pass", "fail", "temperror", "none")


def test_folded_fields_keep_every_line_as_dkim_reads_them() -> None:
    raw = b"Subject: one\r\n\ttwo\r\n three\nFrom: a@example.com\r\n\r\nbody"
    mail = split(raw)
    assert mail.headers == [
        [b"Subject", b" one\r\n\ttwo\r\n three\r\n"],
        [b"From", b" a@example.com\r\n"],
    ]
    assert mail.values("Subject") == ["one\ttwo three"]


def test_a_field_folded_over_many_lines_is_read_whole() -> None:
    # Rebuilding the value per continuation line made this take seconds (minutes at a few MB).
    raw = b"From: a@example.com\r\nSubject: x" + b"\r\n y" * 300_000 + b"\r\n\r\nbody"
    mail = split(raw)
    assert [name for name, _ in mail.headers] == [b"From", b"Subject"]
    assert mail.headers[1][1].count(b"\r\n y") == 300_000


def test_the_from_domain_is_encoded_as_the_sending_domain_check_encodes_it() -> None:
    # IDNA 2008, as postdesk.dns.names: "ß" is its own letter, not "ss" as in IDNA 2003.
    result = evaluate(mail(sender="a@faß.example"), Connection(), Trust(), dns())
    assert result.from_domain == "xn--fa-hia.example"


HOSTILE = {
    "unclosed comments": b"From: " + b"(" * 50_000 + b"a@example.com\r\n\r\nx",
    "quotes": b"From: " + b'"' * 50_000 + b"\r\n\r\nx",
    "angle brackets": b"From: " + b"<" * 50_000 + b"a@example.com\r\n\r\nx",
    "bad encoded word": b"From: =?utf-8?q?" + b"=FF" * 20_000 + b"?= <a@example.com>\r\n\r\nx",
    "address literal": b"From: a@[192.0.2.1]\r\n\r\nx",
    "huge seal instance": b"ARC-Seal: i=" + b"9" * 10_000 + b"; d=x.example\r\n"
    b"From: a@example.com\r\n\r\nx",
    "many signatures": b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; h=from;"
    b" bh=AAAA; b=AAAA\r\n" * 5_000 + b"From: a@example.com\r\n\r\nx",
    "nested results": b"Authentication-Results: x.example; " + b"(" * 20_000 + b"\r\n"
    b"From: a@example.com\r\n\r\nx",
}


@pytest.mark.parametrize("raw", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_headers_never_raise(raw: bytes) -> None:
    trust = Trust(arc_sealers=frozenset({"x.example"}), authserv_ids=frozenset({"x.example"}))
    result = evaluate(raw, DIRECT, trust, dns(key_record("example.com")))
    assert result.verdict in ("fail", "temperror")
