"""Header injection regressions: every value below once was, somewhere, a way into the headers.

Each attempt must raise :class:`UnsafeHeader` naming the field, never be "cleaned" into
something the user didn't type.
"""

from __future__ import annotations

import pytest

from postdesk.mail import headersafe
from postdesk.mail.headersafe import UnsafeHeader

INJECTIONS = [
    pytest.param("Hello\r\nBcc: victim@example.com", id="crlf-bcc"),
    pytest.param("Hello\nBcc: victim@example.com", id="lf-bcc"),
    pytest.param("Hello\rBcc: victim@example.com", id="cr-bcc"),
    pytest.param("Hello\r\n\r\n<html>body takeover", id="crlfcrlf-body"),
    pytest.param("Hello\x00Bcc: victim@example.com", id="nul"),
    pytest.param("Hello\u2028Bcc: victim@example.com", id="u2028-line-separator"),
    pytest.param("Hello\u2029Bcc: victim@example.com", id="u2029-paragraph-separator"),
    pytest.param("Hello\u0085Bcc: victim@example.com", id="u0085-next-line"),
    pytest.param("Hello\x0bBcc: x", id="vertical-tab"),
    pytest.param("Hello\x0cBcc: x", id="form-feed"),
    pytest.param("Hello\x1b[31m", id="escape"),
    pytest.param("Hello\x7f", id="delete"),
    pytest.param("Hello\tthere", id="tab"),
    pytest.param("=?utf-8?q?Hello=0D=0ABcc:_victim@example.com?=", id="encoded-word-crlf"),
    pytest.param("=?utf-8?b?c3VwcG9ydEBiYW5rLmNvbQ==?=", id="encoded-word-address"),
    pytest.param("x =?UTF-8?Q?a?= y", id="encoded-word-inside"),
    pytest.param("=?iso-8859-1?q?sloppy word with spaces?=", id="encoded-word-sloppy"),
    pytest.param("Invoice \u202egpj.exe", id="bidi-override"),
    pytest.param("Refund \u2066ok\u2069", id="bidi-isolate"),
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_subject_injection_is_refused(value: str) -> None:
    with pytest.raises(UnsafeHeader) as raised:
        headersafe.subject(value)
    assert raised.value.field == "subject"
    assert str(raised.value).startswith("subject: ")


@pytest.mark.parametrize("value", INJECTIONS)
def test_display_name_injection_is_refused(value: str) -> None:
    with pytest.raises(UnsafeHeader):
        headersafe.mailbox("bob@example.com", value, field="to")


@pytest.mark.parametrize("value", INJECTIONS)
def test_typed_address_list_injection_is_refused(value: str) -> None:
    with pytest.raises(UnsafeHeader):
        headersafe.parse_mailbox_list(f"{value} <bob@example.com>", field="cc")


@pytest.mark.parametrize(
    "address",
    [
        "bob@example.com\r\nBcc: victim@example.com",
        "bob@example.com>\r\nBcc: victim@example.com",
        "bob@example.com\u2028",
        "bob@exa\x00mple.com",
        "bob@example.com, victim@example.com",
        "bob@example.com>, <victim@example.com",
        "Bob <bob@example.com>",
        '"bob"@example.com',
        "bob@[127.0.0.1]",
        "bob@example.com (comment)",
        "bob..x@example.com",
        ".bob@example.com",
        "bob@",
        "@example.com",
        "bob",
        "bob@-example.com",
        "bob@exam_ple.com",
        "b" * 65 + "@example.com",
        "bob@" + ("a" * 60 + ".") * 5 + "com",
        "bøb@example.com",
    ],
)
def test_bad_addresses_are_refused(address: str) -> None:
    with pytest.raises(UnsafeHeader) as raised:
        headersafe.addr_spec(address, field="to")
    assert raised.value.field == "to"


def test_utf8_local_part_needs_smtputf8() -> None:
    with pytest.raises(UnsafeHeader, match="SMTPUTF8"):
        headersafe.addr_spec("bøb@example.com")
    assert headersafe.addr_spec("bøb@example.com", allow_utf8=True) == "bøb@example.com"


def test_addresses_are_normalised() -> None:
    assert headersafe.addr_spec("  Bob.Smith+tag@Example.COM ") == "Bob.Smith+tag@example.com"
    assert headersafe.addr_spec("info@bücher.example") == "info@xn--bcher-kva.example"


def test_display_names_are_quoted_by_the_email_package() -> None:
    address = headersafe.mailbox("help@mycompany.test", 'Jane "JD" Doe (Acme, Support)')
    assert str(address) == '"Jane \\"JD\\" Doe (Acme, Support)" <help@mycompany.test>'


def test_parse_mailbox_list() -> None:
    parsed = headersafe.parse_mailbox_list(
        '"Doe, Jane" <jane@example.com>, bob@example.org, Müller <m@bücher.example>, '
    )
    assert [(a.display_name, a.addr_spec) for a in parsed] == [
        ("Doe, Jane", "jane@example.com"),
        ("", "bob@example.org"),
        ("Müller", "m@xn--bcher-kva.example"),
    ]
    assert headersafe.parse_mailbox_list("  ") == []


@pytest.mark.parametrize(
    "value",
    ["a@b.com <c@d.com>", "not an address", "a@b.com,, c@d.com", "<>", "Bob <bob@example.com> x"],
)
def test_unparseable_address_lists_are_refused(value: str) -> None:
    with pytest.raises(UnsafeHeader):
        headersafe.parse_mailbox_list(value, field="cc")


def test_address_list_has_a_limit() -> None:
    many = ", ".join(f"user{n}@example.com" for n in range(101))
    with pytest.raises(UnsafeHeader, match="more than 100"):
        headersafe.parse_mailbox_list(many)


def test_parse_mailbox_needs_exactly_one() -> None:
    assert headersafe.parse_mailbox("Jane <jane@example.com>").addr_spec == "jane@example.com"
    with pytest.raises(UnsafeHeader, match="exactly one"):
        headersafe.parse_mailbox("a@example.com, b@example.com")


def test_subject_is_kept_as_typed_with_space_runs_collapsed() -> None:
    assert headersafe.subject("  Printer   on fire — 프린터 🔥 ") == "Printer on fire — 프린터 🔥"
    assert headersafe.subject("Price: 5 =? 3 ?") == "Price: 5 =? 3 ?"  # "=?" alone is fine


def test_lengths_are_limited() -> None:
    with pytest.raises(UnsafeHeader, match="longer than 500"):
        headersafe.subject("x" * 501)
    with pytest.raises(UnsafeHeader, match="longer than 128"):
        headersafe.display_name("x" * 129)
    assert headersafe.subject("x" * 500) == "x" * 500


@pytest.mark.parametrize("name", ["X-Custom", "X-Postdesk-Verification", "List-Unsubscribe"])
def test_valid_field_names(name: str) -> None:
    assert headersafe.field_name(name) == name


@pytest.mark.parametrize("name", ["", "X Custom", "X:Custom", "X-\r\nBcc", "Ümlaut", "X" * 77])
def test_invalid_field_names(name: str) -> None:
    with pytest.raises(UnsafeHeader, match="header field name"):
        headersafe.field_name(name)


@pytest.mark.parametrize(
    "value",
    [
        "<abc@example.com>",
        "<pd.42.7.abcdefgh.abcdefghijklmnop@acme.postdesk.test>",
        "<CAF=_+x.y@mail.gmail.com>",
        "<1234@[192.0.2.1]>",
    ],
)
def test_valid_message_ids(value: str) -> None:
    assert headersafe.msg_id(f" {value} ") == value


@pytest.mark.parametrize(
    "value",
    [
        "<abc@example.com>\r\nBcc: victim@example.com",
        "<abc@example.com> <def@example.com>",
        "abc@example.com",
        "<abc example@com>",
        "<abc@exa mple.com>",
        "<abc>",
        "<@example.com>",
        "<abc@example.com\u2028>",
        "<" + "a" * 300 + "@example.com>",
    ],
)
def test_invalid_message_ids(value: str) -> None:
    with pytest.raises(UnsafeHeader, match="message-id"):
        headersafe.msg_id(value)


def test_clean_msg_ids_drops_junk_and_duplicates() -> None:
    values = ["<a@x.test>", "junk", "<b@x.test>\r\nBcc: v@x.test", "<a@x.test>", "<c@x.test>"]
    assert headersafe.clean_msg_ids(values) == ["<a@x.test>", "<c@x.test>"]


def test_filenames() -> None:
    assert headersafe.filename("C:\\Users\\bob\\보고서.pdf") == "보고서.pdf"
    assert headersafe.filename("../../etc/passwd") == "passwd"
    for bad in ["a\r\nContent-Type: text/html", "..", "/", "=?utf-8?q?x?="]:
        with pytest.raises(UnsafeHeader):
            headersafe.filename(bad)


def test_non_text_input_is_refused() -> None:
    with pytest.raises(UnsafeHeader, match="must be text"):
        headersafe.text(b"bytes", field="x")  # type: ignore[arg-type]
