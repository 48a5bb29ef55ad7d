"""DKIM keys, records and signatures, every signature checked by dkimpy against the record.

dkimpy is the independent verifier here: it parses the published TXT record (served by the
``dnsfunc`` below, exactly as a resolver would hand it over) and recomputes everything itself.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from datetime import UTC, datetime

import dkim as dkimpy
import pytest
from dkim.canonicalization import Relaxed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postdesk.mail import dkim
from postdesk.mail.compose import Attachment, Mailbox, OutboundSpec, compose

DOMAIN = "mycompany.test"
TIMESTAMP = 1_790_000_000

needs_nacl = pytest.mark.skipif(
    importlib.util.find_spec("nacl") is None, reason="dkimpy verifies Ed25519 only with PyNaCl"
)

ALGORITHMS = [
    pytest.param("rsa-sha256", id="rsa"),
    pytest.param("ed25519-sha256", id="ed25519", marks=needs_nacl),
]


@pytest.fixture(scope="module")
def keys() -> dict[str, dkim.DkimKey]:
    # RSA-2048 generation takes a noticeable moment: once per module.
    return {
        "rsa-sha256": dkim.generate_key("rsa-sha256"),
        "ed25519-sha256": dkim.generate_key("ed25519-sha256"),
    }


def dns_for(records: dict[str, dkim.DkimKey]) -> Callable[..., bytes | None]:
    """A dkimpy ``dnsfunc`` serving each key's published TXT strings at its record name."""
    zone = {
        name.lower(): "".join(key.txt_strings()).encode("ascii") for name, key in records.items()
    }

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return zone.get(name.decode("ascii").rstrip(".").lower())

    return dnsfunc


def signed(
    message: bytes, key: dkim.DkimKey, **options: object
) -> tuple[bytes, Callable[..., bytes | None]]:
    selector = dkim.selector_name(1, key.algorithm)
    header = dkim.sign(
        message,
        domain=DOMAIN,
        selector=selector,
        private_key_pem=key.private_key_pem,
        algorithm=key.algorithm,
        timestamp=TIMESTAMP,
        **options,  # type: ignore[arg-type]
    )
    return header + message, dns_for({dkim.record_name(selector, DOMAIN): key})


PLAIN = (
    b"From: Jane Doe <help@mycompany.test>\r\n"
    b"To: bob@example.com\r\n"
    b"Subject: Your printer\r\n"
    b"Date: Thu, 02 Jan 2025 03:04:05 +0000\r\n"
    b"Message-ID: <pd.42.7.abcdefgh.abcdefghijklmnop@desk.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hello Bob,\r\n\r\nIt works again.\r\n"
)

MESSAGES = {
    "plain": PLAIN,
    "folded headers": (
        b'From: "Jane Doe (Acme Support)"\r\n <help@mycompany.test>\r\n'
        b"To: bob@example.com,\r\n\tcarol@example.com,\r\n   dave@example.com\r\n"
        b"Subject:   a subject   with  runs of   spaces \r\n\t and a fold  \r\n"
        b"Date: Thu, 02 Jan 2025 03:04:05 +0000\r\n"
        b"\r\n"
        b"Body\r\n"
    ),
    "trailing whitespace": (
        b"From: help@mycompany.test \t\r\n"
        b"Subject: trailing \t \r\n"
        b"\r\n"
        b"line with trailing spaces   \r\n"
        b"\ttabs\tinside\t\tand  spaces \t\r\n"
        b"   \r\n"
        b"\r\n\r\n\r\n"
    ),
    "empty body": b"From: help@mycompany.test\r\nSubject: nothing\r\n\r\n",
    "no body at all": b"From: help@mycompany.test\r\nSubject: nothing\r\n",
    "only empty lines": b"From: help@mycompany.test\r\n\r\n\r\n\r\n\r\n",
    "utf-8 headers and body": (
        "From: =?utf-8?b?7ZWc6rWt7Ja0?= <help@mycompany.test>\r\n"
        "Subject: 안녕하세요 raw UTF-8 in a header\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "주문하신 상품이 발송되었습니다.  Grüße, café, naïve — ☃\r\n"
    ).encode(),
    "8-bit latin-1 body": (
        b"From: help@mycompany.test\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\n"
        b"Gr\xfc\xdfe aus K\xf6ln \xa0 \xff\r\n"
    ),
    "long lines": (
        b"From: help@mycompany.test\r\n"
        b"Subject: " + b"long " * 150 + b"\r\n"
        b"\r\n" + b"x" * 5000 + b"\r\n" + (b"word " * 3000) + b"\r\n"
    ),
    "lf line ends": PLAIN.replace(b"\r\n", b"\n"),
    "duplicate headers": (
        b"Received: from a by b\r\n"
        b"Received: from c by d\r\n"
        b"From: help@mycompany.test\r\n"
        b"To: one@example.com\r\n"
        b"To: two@example.com\r\n"
        b"\r\nbody\r\n"
    ),
}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("name", list(MESSAGES))
def test_dkimpy_verifies_our_signature(
    keys: dict[str, dkim.DkimKey], algorithm: str, name: str
) -> None:
    message, dnsfunc = signed(MESSAGES[name], keys[algorithm])
    assert dkimpy.verify(message, dnsfunc=dnsfunc)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_composed_message_verifies(keys: dict[str, dkim.DkimKey], algorithm: str) -> None:
    raw = compose(
        OutboundSpec(
            secret_key=b"s" * 32,
            desk_domain="acme.postdesk.test",
            instance_id="desk-1",
            ticket_id=42,
            outbound_id=7,
            from_address="help@mycompany.test",
            agent_name="Jane Doe",
            address_name="Acme Support",
            to=[Mailbox("bob@example.com", "Bob Müller")],
            cc=[Mailbox("carol@example.org")],
            subject="Your printer — 프린터 문제 " * 4,
            text="Hello Bob,\n\nWe fixed it.   \n\n" + "long line " * 40,
            html="<p>Hello <b>Bob</b></p>",
            language="ko",
            in_reply_to="<abc@mail.example.com>",
            attachments=[
                Attachment("보고서.pdf", b"%PDF-1.4\n" + bytes(range(256)), "application/pdf")
            ],
            date=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        )
    )
    message, dnsfunc = signed(raw, keys[algorithm])
    assert dkimpy.verify(message, dnsfunc=dnsfunc)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_tampered_body_fails(keys: dict[str, dkim.DkimKey], algorithm: str) -> None:
    message, dnsfunc = signed(PLAIN, keys[algorithm])
    assert not dkimpy.verify(
        message.replace(b"It works again.", b"It works again!"), dnsfunc=dnsfunc
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_tampered_subject_fails(keys: dict[str, dkim.DkimKey], algorithm: str) -> None:
    message, dnsfunc = signed(PLAIN, keys[algorithm])
    assert not dkimpy.verify(message.replace(b"Your printer", b"Your invoice"), dnsfunc=dnsfunc)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_tampered_signature_fails(keys: dict[str, dkim.DkimKey], algorithm: str) -> None:
    message, dnsfunc = signed(PLAIN, keys[algorithm])
    match = re.search(rb"[\s;]b=", message)
    assert match is not None
    start = match.end()
    flipped = b"A" if message[start : start + 1] != b"A" else b"B"
    assert not dkimpy.verify(message[:start] + flipped + message[start + 1 :], dnsfunc=dnsfunc)


def test_an_added_from_fails_because_from_is_oversigned(keys: dict[str, dkim.DkimKey]) -> None:
    message, dnsfunc = signed(PLAIN, keys["rsa-sha256"])
    forged = message.replace(b"From: Jane", b"From: ceo@mycompany.test\r\nFrom: Jane")
    assert not dkimpy.verify(forged, dnsfunc=dnsfunc)
    forged = message + b""  # sanity: the untouched message still verifies
    assert dkimpy.verify(forged, dnsfunc=dnsfunc)


def test_an_added_reply_to_fails_although_the_message_had_none(
    keys: dict[str, dkim.DkimKey],
) -> None:
    message, dnsfunc = signed(PLAIN, keys["rsa-sha256"])
    header_end = message.index(b"\r\n\r\n")
    forged = message[:header_end] + b"\r\nReply-To: thief@evil.test" + message[header_end:]
    assert not dkimpy.verify(forged, dnsfunc=dnsfunc)


def test_relaxed_changes_on_the_way_still_verify(keys: dict[str, dkim.DkimKey]) -> None:
    message, dnsfunc = signed(PLAIN, keys["rsa-sha256"])
    # What relays legitimately do: add trace headers, refold, pad whitespace at line ends.
    relayed = (
        b"Received: from relay.example by mx.example.com; Thu, 02 Jan 2025 03:04:06 +0000\r\n"
        + message.replace(b"Subject: Your printer", b"Subject:  Your\r\n printer ").replace(
            b"Hello Bob,", b"Hello   Bob,\t"
        )
        + b"\r\n\r\n"
    )
    assert dkimpy.verify(relayed, dnsfunc=dnsfunc)


def test_unterminated_body_is_signed_as_sent_with_its_final_crlf(
    keys: dict[str, dkim.DkimKey],
) -> None:
    # SMTP ends every message with CRLF before the final ".", so that is what gets verified.
    message, dnsfunc = signed(b"From: help@mycompany.test\r\n\r\nlast line   ", keys["rsa-sha256"])
    assert dkimpy.verify(message + b"\r\n", dnsfunc=dnsfunc)


@needs_nacl
def test_rsa_and_ed25519_signatures_side_by_side_both_verify(keys: dict[str, dkim.DkimKey]) -> None:
    rsa_key, ed_key = keys["rsa-sha256"], keys["ed25519-sha256"]
    signing_keys = [
        dkim.SigningKey(DOMAIN, dkim.selector_name(1), rsa_key.private_key_pem),
        dkim.SigningKey(
            DOMAIN,
            dkim.selector_name(1, "ed25519-sha256"),
            ed_key.private_key_pem,
            "ed25519-sha256",
        ),
    ]
    message = dkim.sign_message(PLAIN, signing_keys, timestamp=TIMESTAMP)
    dnsfunc = dns_for(
        {
            dkim.record_name(dkim.selector_name(1), DOMAIN): rsa_key,
            dkim.record_name(dkim.selector_name(1, "ed25519-sha256"), DOMAIN): ed_key,
        }
    )
    verifier = dkimpy.DKIM(message)
    assert message.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
    assert verifier.verify(idx=0, dnsfunc=dnsfunc)
    assert verifier.verify(idx=1, dnsfunc=dnsfunc)


def test_signature_header_layout(keys: dict[str, dkim.DkimKey]) -> None:
    header = dkim.sign(
        PLAIN,
        domain=DOMAIN,
        selector="postdesk2",
        private_key_pem=keys["rsa-sha256"].private_key_pem,
        timestamp=TIMESTAMP,
    )
    assert header.startswith(
        b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=mycompany.test;"
    )
    assert header.endswith(b"\r\n") and not header.endswith(b"\r\n\r\n")
    lines = header[:-2].split(b"\r\n")
    assert all(len(line) <= 78 for line in lines)
    assert all(line[:1] == b"\t" for line in lines[1:])
    unfolded = header.replace(b"\r\n\t", b" ").decode("ascii")
    assert f"t={TIMESTAMP};" in unfolded
    h_tag = unfolded.split("h=", 1)[1].split(";", 1)[0].replace(" ", "")
    # Present headers once per occurrence; oversigned ones once more, absent ones included.
    assert h_tag.split(":")[:3] == ["from", "from", "reply-to"]
    assert h_tag.count("from") == 2 and h_tag.count("cc") == 1 and "sender" not in h_tag


def test_bare_lf_input_is_normalised_in_the_signed_message(keys: dict[str, dkim.DkimKey]) -> None:
    signing_key = dkim.SigningKey(DOMAIN, "postdesk1", keys["rsa-sha256"].private_key_pem)
    message = dkim.sign_message(PLAIN.replace(b"\r\n", b"\n"), [signing_key], timestamp=TIMESTAMP)
    assert b"\n" not in message.replace(b"\r\n", b"")
    assert dkimpy.verify(
        message, dnsfunc=dns_for({dkim.record_name("postdesk1", DOMAIN): keys["rsa-sha256"]})
    )


# --------------------------------------------------------------------------- refusals


def test_a_message_without_from_is_refused(keys: dict[str, dkim.DkimKey]) -> None:
    with pytest.raises(dkim.DkimError, match="From"):
        dkim.sign(
            b"Subject: x\r\n\r\nbody\r\n",
            domain=DOMAIN,
            selector="postdesk1",
            private_key_pem=keys["rsa-sha256"].private_key_pem,
        )


def test_a_key_of_the_wrong_type_is_refused(keys: dict[str, dkim.DkimKey]) -> None:
    with pytest.raises(dkim.DkimError, match="does not fit"):
        dkim.sign(
            PLAIN,
            domain=DOMAIN,
            selector="postdesk1",
            private_key_pem=keys["ed25519-sha256"].private_key_pem,
            algorithm="rsa-sha256",
        )


@pytest.mark.parametrize(
    "domain", ["mycompany.test;x=1", "my company.test", "a.test\r\nBcc: x", ""]
)
def test_header_injection_through_domain_or_selector_is_refused(
    keys: dict[str, dkim.DkimKey], domain: str
) -> None:
    pem = keys["rsa-sha256"].private_key_pem
    with pytest.raises(dkim.DkimError, match="DNS name"):
        dkim.sign(PLAIN, domain=domain, selector="postdesk1", private_key_pem=pem)
    with pytest.raises(dkim.DkimError, match="DNS name"):
        dkim.sign(PLAIN, domain=DOMAIN, selector=domain, private_key_pem=pem)


def test_a_malformed_header_line_is_refused(keys: dict[str, dkim.DkimKey]) -> None:
    with pytest.raises(dkim.DkimError, match="malformed"):
        dkim.sign(
            b"From: a@b.test\r\nnot a header\r\n\r\nbody",
            domain=DOMAIN,
            selector="postdesk1",
            private_key_pem=keys["rsa-sha256"].private_key_pem,
        )


def test_garbage_and_small_keys_are_refused() -> None:
    with pytest.raises(dkim.DkimError, match="PEM"):
        dkim.sign(PLAIN, domain=DOMAIN, selector="postdesk1", private_key_pem="not a key")
    with pytest.raises(dkim.DkimError, match="1024"):
        dkim.generate_key(rsa_bits=512)


# --------------------------------------------------------------------------- keys and DNS


def test_rsa_record_is_split_into_dns_strings(keys: dict[str, dkim.DkimKey]) -> None:
    key = keys["rsa-sha256"]
    record = key.txt_record()
    assert record.startswith("v=DKIM1; k=rsa; p=MIIB")  # SubjectPublicKeyInfo, 2048 bits
    strings = key.txt_strings()
    assert len(strings) == 2
    assert all(len(part.encode("ascii")) <= 255 for part in strings)
    assert "".join(strings) == record
    assert key.private_key_pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    entry = key.zone_entry("postdesk1", DOMAIN)
    assert entry.startswith('postdesk1._domainkey.mycompany.test. IN TXT ( "v=DKIM1; k=rsa; p=')
    assert entry.count('"') == 4


def test_ed25519_record_is_the_bare_32_byte_key(keys: dict[str, dkim.DkimKey]) -> None:
    key = keys["ed25519-sha256"]
    assert key.txt_record().startswith("v=DKIM1; k=ed25519; p=")
    assert len(key.public_key) == 44  # base64 of 32 octets
    assert key.txt_strings() == (key.txt_record(),)


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
def test_the_record_can_be_recomputed_from_the_stored_key(
    keys: dict[str, dkim.DkimKey], algorithm: str
) -> None:
    stored = keys[algorithm]
    assert dkim.key_from_pem(stored.private_key_pem) == stored
    assert (
        dkim.key_from_pem(stored.private_key_pem.encode("ascii")).txt_record()
        == stored.txt_record()
    )


def test_dkimpy_signs_with_our_rsa_pem_too(keys: dict[str, dkim.DkimKey]) -> None:
    # The stored PKCS#1 PEM stays usable by other DKIM/ARC software such as dkimpy itself.
    key = keys["rsa-sha256"]
    header = dkimpy.sign(PLAIN, b"postdesk1", DOMAIN.encode(), key.private_key_pem.encode("ascii"))
    assert dkimpy.verify(
        header + PLAIN, dnsfunc=dns_for({dkim.record_name("postdesk1", DOMAIN): key})
    )


def test_two_rotating_selectors_per_algorithm() -> None:
    assert [dkim.selector_name(slot) for slot in dkim.SELECTOR_SLOTS] == ["postdesk1", "postdesk2"]
    assert dkim.selector_name(2, "ed25519-sha256") == "postdesk2-ed25519"
    assert dkim.other_slot(1) == 2 and dkim.other_slot(2) == 1
    assert dkim.record_name("postdesk2", "MyCompany.test") == "postdesk2._domainkey.mycompany.test"
    with pytest.raises(dkim.DkimError):
        dkim.selector_name(3)


# --------------------------------------------------------------------------- properties

_line = st.text(alphabet=st.sampled_from(["a", "b", " ", "\t", "é", "x"]), max_size=12)
_bodies = st.builds(
    lambda lines, end: "\r\n".join(lines).encode("utf-8") + (b"\r\n" if end else b""),
    st.lists(_line, max_size=8),
    st.booleans(),
).filter(lambda body: body == b"" or body.endswith(b"\r\n"))


@given(_bodies)
def test_body_canonicalisation_matches_dkimpy(body: bytes) -> None:
    assert dkim.canonicalize_body(body) == Relaxed.canonicalize_body(body)


_header_value = st.lists(
    st.sampled_from(["a", "B", " ", "\t", "\r\n ", "\r\n\t", ":", "ü"]), max_size=20
).map("".join)


@given(_header_value)
def test_header_canonicalisation_matches_dkimpy(value: str) -> None:
    raw = b"Subject:" + value.encode("utf-8")
    ((name, canonical_value),) = Relaxed.canonicalize_headers([(b"Subject", value.encode("utf-8"))])
    assert dkim.canonicalize_header(raw) == name + b":" + canonical_value.removesuffix(b"\r\n")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    subject=_header_value.filter(lambda v: not v.startswith(("\r\n", " ", "\t")) or v.strip()),
    body=_bodies,
)
def test_random_messages_verify(keys: dict[str, dkim.DkimKey], subject: str, body: bytes) -> None:
    message = (
        b"From: help@mycompany.test\r\nSubject: " + subject.encode("utf-8") + b"\r\n\r\n" + body
    )
    signed_message, dnsfunc = signed(message, keys["rsa-sha256"])
    assert dkimpy.verify(signed_message, dnsfunc=dnsfunc)
