"""The exact bytes of outbound mail: headers, threading, loop control, bodies, attachments."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from postdesk.mail import tokens
from postdesk.mail.compose import (
    MAX_REFERENCES,
    Attachment,
    Mailbox,
    OutboundSpec,
    compose,
    compose_message,
    reply_delimiter,
    sender_display_name,
    subject_with_marker,
)
from postdesk.mail.headersafe import UnsafeHeader

KEY = b"0123456789abcdef0123456789abcdef"
DESK = "acme.postdesk.test"
DATE = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def spec(**changes: Any) -> OutboundSpec:
    base = OutboundSpec(
        secret_key=KEY,
        desk_domain=DESK,
        instance_id="desk-7f3a",
        ticket_id=42,
        outbound_id=7,
        from_address="help@mycompany.test",
        agent_name="Jane Doe",
        address_name="Acme Support",
        to=[Mailbox("bob@example.com", "Bob Example")],
        subject="Printer on fire",
        text="Hello Bob,\n\nWe replaced the printer.\n",
        date=DATE,
    )
    return dataclasses.replace(base, **changes)


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    # The parser keeps the wire's CRLFs inside 7bit parts; compare text with plain newlines.
    return str(part.get_content()).replace("\r\n", "\n")


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


# --------------------------------------------------------------------------- wire format


def test_the_bytes_are_crlf_seven_bit_and_within_line_limits() -> None:
    raw = compose(
        spec(
            subject="프린터가 불타고 있어요 — Printer on fire " * 5,
            text="긴 줄 " * 400 + "\n" + "x" * 2000 + "\n",
            html="<p>" + "긴 줄 " * 400 + "</p>",
            attachments=[Attachment("보고서.pdf", bytes(range(256)) * 10, "application/pdf")],
        )
    )
    assert raw.isascii()  # no 8-bit data: nothing for a relay to re-encode under a signature
    assert b"\n" not in raw.replace(b"\r\n", b"")
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in header_block.split(b"\r\n"))
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def test_header_order_and_values() -> None:
    raw = compose(
        spec(
            cc=[Mailbox("carol@example.org")],
            reply_to=[Mailbox("help@mycompany.test", "Acme Support")],
            in_reply_to="<CAF-original@mail.example.com>",
            references=["<root@mail.example.com>"],
            auto_submitted="auto-replied",
        )
    )
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    names = [
        line.split(":", 1)[0] for line in head.split("\r\n") if not line.startswith((" ", "\t"))
    ]
    assert names == [
        "From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To",
        "References", "Auto-Submitted", "X-Auto-Response-Suppress", "X-Postdesk-Loop",
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
    ]  # fmt: skip
    message = parsed(raw)
    assert message["From"] == '"Jane Doe (Acme Support)" <help@mycompany.test>'
    assert message["To"] == "Bob Example <bob@example.com>"
    assert message["Cc"] == "carol@example.org"
    assert message["Subject"] == "Printer on fire [#42]"
    assert message["Date"] == "Thu, 02 Jan 2025 03:04:05 +0000"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["X-Postdesk-Loop"] == "desk-7f3a"
    assert "Bcc" not in message


def test_an_agent_reply_is_not_marked_automatic() -> None:
    message = parsed(compose(spec()))
    assert "Auto-Submitted" not in message  # RFC 3834: human-written
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["X-Postdesk-Loop"] == "desk-7f3a"


def test_automatic_notice_is_auto_generated() -> None:
    assert (
        parsed(compose(spec(auto_submitted="auto-generated")))["Auto-Submitted"] == "auto-generated"
    )


# --------------------------------------------------------------------------- From and subject


@pytest.mark.parametrize(
    ("agent", "address", "expected"),
    [
        ("Jane Doe", "Acme Support", "Jane Doe (Acme Support)"),
        ("", "Acme Support", "Acme Support"),
        ("Jane Doe", "", "Jane Doe"),
        ("jane@mycompany.test", "Acme Support", "Acme Support"),
        ("Jane", "support@bank.test", "Jane"),
        ("", "", ""),
    ],
)
def test_sender_display_name(agent: str, address: str, expected: str) -> None:
    assert sender_display_name(agent, address) == expected


def test_long_agent_and_address_names_together() -> None:
    message = parsed(compose(spec(agent_name="A" * 128, address_name="B" * 128)))
    assert message["From"].addresses[0].display_name == f"{'A' * 128} ({'B' * 128})"


def test_from_without_display_name() -> None:
    message = parsed(compose(spec(agent_name="", address_name="")))
    assert message["From"] == "help@mycompany.test"


def test_korean_display_names_are_encoded_words() -> None:
    raw = compose(
        spec(
            agent_name="김지수", address_name="고객지원", to=[Mailbox("bob@example.com", "박민준")]
        )
    )
    assert b"=?utf-8?" in raw
    message = parsed(raw)
    assert message["From"].addresses[0].display_name == "김지수 (고객지원)"
    assert message["To"].addresses[0].display_name == "박민준"


def test_subject_marker() -> None:
    assert subject_with_marker("Printer", 42) == "Printer [#42]"
    assert subject_with_marker("Re: Printer [#42]", 42) == "Re: Printer [#42]"
    assert subject_with_marker("", 42) == "[#42]"
    assert parsed(compose(spec(ticket_marker=False)))["Subject"] == "Printer on fire"


def test_a_long_korean_subject_folds_and_decodes_back() -> None:
    subject = "주문하신 상품의 배송이 지연되고 있습니다 — 죄송합니다 " * 4
    raw = compose(spec(subject=subject))
    assert parsed(raw)["Subject"] == " ".join(subject.split()) + " [#42]"


# --------------------------------------------------------------------------- threading


def test_message_id_is_signed_and_maps_back_to_ticket_and_outbound() -> None:
    composed = compose_message(spec())
    message = parsed(composed.raw)
    assert message["Message-ID"] == composed.message_id
    assert tokens.read_message_id(KEY, composed.message_id) == tokens.OwnMessageId(42, 7)
    assert composed.message_id.endswith(f"@{DESK}>")


def test_a_message_id_minted_earlier_is_used() -> None:
    minted = tokens.make_message_id(KEY, DESK, 42, 7)
    assert compose_message(spec(message_id=minted)).message_id == minted


def test_references_start_with_the_ticket_reference_and_end_with_the_parent() -> None:
    message = parsed(
        compose(
            spec(
                in_reply_to="<parent@mail.example.com>",
                references=["<root@mail.example.com>", "not-an-id", "<parent@mail.example.com>"],
            )
        )
    )
    assert message["In-Reply-To"] == "<parent@mail.example.com>"
    references = str(message["References"]).split()
    assert references == [
        tokens.ticket_reference(KEY, DESK, 42),
        "<root@mail.example.com>",
        "<parent@mail.example.com>",
    ]
    assert tokens.own_message_ids(KEY, str(message["References"])) == [
        tokens.OwnMessageId(42, None)
    ]


def test_a_first_mail_still_carries_the_ticket_reference() -> None:
    message = parsed(compose(spec()))
    assert "In-Reply-To" not in message
    assert str(message["References"]) == tokens.ticket_reference(KEY, DESK, 42)


def test_long_reference_chains_are_trimmed_keeping_the_ends() -> None:
    chain = [f"<m{n}@mail.example.com>" for n in range(40)]
    references = str(parsed(compose(spec(references=chain)))["References"]).split()
    assert len(references) == MAX_REFERENCES
    assert references[0] == tokens.ticket_reference(KEY, DESK, 42)
    assert references[-1] == "<m39@mail.example.com>"


# --------------------------------------------------------------------------- bodies


def test_text_body_has_delimiter_on_top_and_token_at_the_bottom() -> None:
    body = text_part(parsed(compose(spec())))
    lines = body.splitlines()
    assert lines[0] == "##- Please type your reply above this line -##"
    assert "We replaced the printer." in body
    assert lines[-1] == f"[{tokens.make_ticket_token(KEY, 42)}]"
    assert tokens.find_ticket_token(KEY, body) == 42


def test_korean_delimiter() -> None:
    body = text_part(parsed(compose(spec(language="ko", text="안녕하세요"))))
    assert body.splitlines()[0] == "##- 이 줄 위에 답장을 입력해 주세요 -##"
    assert (
        reply_delimiter("ko-KR")
        == reply_delimiter("ko_kr")
        == "##- 이 줄 위에 답장을 입력해 주세요 -##"
    )
    assert reply_delimiter("fr") == "##- Please type your reply above this line -##"


def test_html_alternative_carries_delimiter_and_token_too() -> None:
    message = parsed(compose(spec(html="<p>Hello <b>Bob</b></p>")))
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    html = html_part(message)
    assert html.index("##- Please type your reply above this line -##") < html.index("<p>Hello")
    assert tokens.find_ticket_token(KEY, html) == 42


def test_delimiter_and_token_can_be_left_out() -> None:
    body = text_part(
        parsed(compose(spec(include_reply_delimiter=False, include_ticket_token=False)))
    )
    assert body == "Hello Bob,\n\nWe replaced the printer.\n"


def test_attachments_make_a_mixed_message() -> None:
    message = parsed(
        compose(
            spec(
                html="<p>Hi</p>",
                attachments=[
                    Attachment("보고서 2025.pdf", b"%PDF-1.4 data", "application/pdf"),
                    Attachment("log.txt", b"line one\nline two\n", "text/plain"),
                ],
            )
        )
    )
    assert message.get_content_type() == "multipart/mixed"
    parts = list(message.iter_attachments())
    assert [(p.get_filename(), p.get_content_type()) for p in parts] == [
        ("보고서 2025.pdf", "application/pdf"),
        ("log.txt", "text/plain"),
    ]
    assert parts[0].get_content() == b"%PDF-1.4 data"
    # MIME-Version belongs on the top-level header only.
    assert all("MIME-Version" not in part for part in message.walk() if part is not message)


# --------------------------------------------------------------------------- envelope


def test_recipients_and_verp_return_paths() -> None:
    composed = compose_message(
        spec(
            to=[Mailbox("bob@example.com")],
            cc=[Mailbox("carol@example.org"), Mailbox("BOB@example.com")],
            bcc=[Mailbox("audit@mycompany.test")],
            bounce_domain="bounces.acme.postdesk.test",
        )
    )
    assert composed.recipients == ("bob@example.com", "carol@example.org", "audit@mycompany.test")
    assert b"audit@mycompany.test" not in composed.raw
    for recipient, return_path in composed.return_paths.items():
        info = tokens.read_verp(KEY, return_path)
        assert info is not None and info.outbound_id == 7
        assert tokens.verp_recipient(KEY, info, composed.recipients) == recipient
    assert compose_message(spec()).return_paths == {}


def test_smtputf8_addresses_only_when_asked() -> None:
    with pytest.raises(UnsafeHeader, match="SMTPUTF8"):
        compose(spec(to=[Mailbox("jürgen@example.com")]))
    raw = compose(spec(to=[Mailbox("jürgen@example.com")], smtputf8=True))
    assert "jürgen@example.com".encode() in raw


def test_verification_mail_header() -> None:
    token, _ = tokens.new_verification_token()
    message = parsed(
        compose(
            spec(
                subject=f"Postdesk forwarding test {token}",
                extra_headers=[(tokens.VERIFICATION_HEADER, token)],
                auto_submitted="auto-generated",
            )
        )
    )
    assert (
        tokens.find_verification_token(
            header=message[tokens.VERIFICATION_HEADER], subject=message["Subject"], body=None
        )
        == token
    )


# --------------------------------------------------------------------------- injection


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"subject": "Hi\r\nBcc: victim@example.com"}, id="subject-crlf"),
        pytest.param({"subject": "Hi\u2028Bcc: victim@example.com"}, id="subject-u2028"),
        pytest.param(
            {"subject": "=?utf-8?q?Hi=0D=0ABcc:_victim@example.com?="}, id="subject-encoded-word"
        ),
        pytest.param({"agent_name": "Jane\r\nBcc: victim@example.com"}, id="agent-name"),
        pytest.param(
            {"agent_name": "=?utf-8?b?c3VwcG9ydEBiYW5rLmNvbQ==?="}, id="agent-name-encoded-word"
        ),
        pytest.param({"address_name": "Support\x00"}, id="address-name-nul"),
        pytest.param({"from_address": "help@mycompany.test\r\nBcc: victim@example.com"}, id="from"),
        pytest.param({"to": [Mailbox("bob@example.com", "Bob\u0085Bcc: x")]}, id="to-name-nel"),
        pytest.param(
            {"to": [Mailbox("bob@example.com>\r\nBcc: <victim@example.com")]}, id="to-address"
        ),
        pytest.param({"cc": [Mailbox("a@example.com, victim@example.com")]}, id="cc-two-addresses"),
        pytest.param({"reply_to": [Mailbox("thief@evil.test\n")]}, id="reply-to-lf"),
        pytest.param({"bcc": [Mailbox("x@example.com\r\nSubject: y")]}, id="bcc"),
        pytest.param({"in_reply_to": "<a@b.test>\r\nBcc: victim@example.com"}, id="in-reply-to"),
        pytest.param({"message_id": "<a@b.test>\nBcc: victim@example.com"}, id="message-id"),
        pytest.param({"instance_id": "desk\r\nBcc: victim@example.com"}, id="instance-id"),
        pytest.param(
            {"extra_headers": [("X-Tag", "a\r\nBcc: victim@example.com")]}, id="extra-value"
        ),
        pytest.param({"extra_headers": [("X-Tag\r\nBcc", "victim@example.com")]}, id="extra-name"),
        pytest.param({"extra_headers": [("Bcc", "victim@example.com")]}, id="extra-reserved-bcc"),
        pytest.param({"extra_headers": [("From", "ceo@mycompany.test")]}, id="extra-reserved-from"),
        pytest.param({"attachments": [Attachment("a.txt\r\nX: y", b"x")]}, id="attachment-name"),
        pytest.param(
            {"attachments": [Attachment("a.txt", b"x", "text/html\r\nX: y")]}, id="attachment-type"
        ),
        pytest.param(
            {"attachments": [Attachment("a.txt", b"x", "text")]}, id="attachment-type-shape"
        ),
        pytest.param({"to": []}, id="no-recipient"),
        pytest.param({"auto_submitted": "no\r\nBcc: victim@example.com"}, id="auto-submitted"),
    ],
)
def test_unsafe_input_never_reaches_the_wire(changes: dict[str, Any]) -> None:
    with pytest.raises(UnsafeHeader):
        compose(spec(**changes))


def test_references_from_inbound_mail_are_filtered_not_fatal() -> None:
    message = parsed(
        compose(spec(references=["<ok@x.test>", "<a@b.test>\r\nBcc: victim@example.com"]))
    )
    assert "Bcc" not in message
    assert str(message["References"]).split()[1:] == ["<ok@x.test>"]


def test_a_naive_date_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        compose(spec(date=datetime(2025, 1, 2, 3, 4, 5)))


# --------------------------------------------------------------------------- folding
# The email package's own folder turns long Message-IDs into encoded words, drops the quotes
# of long display names and can write an empty line into the header block; compose() renders
# its headers itself. Each test pins one of those failures.

LONG_ID = "<" + "a" * 100 + ".b-c_d=e@" + "x" * 30 + ".example.com>"


def header_block(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def test_long_message_ids_stay_plain() -> None:
    raw = compose(spec(in_reply_to=LONG_ID, references=[LONG_ID]))
    assert b"=?" not in b"\r\n".join(header_block(raw))
    message = parsed(raw)
    assert message["In-Reply-To"] == LONG_ID
    assert str(message["References"]).split()[-1] == LONG_ID


def test_long_names_never_put_an_empty_line_into_the_header_block() -> None:
    raw = compose(
        spec(agent_name="A" * 128, address_name="B" * 128, to=[Mailbox("b@example.com", "C" * 128)])
    )
    lines = header_block(raw)
    assert all(line for line in lines)
    assert all(line[:1] not in (b" ", b"\t") or line.strip() for line in lines)
    assert [h.split(b":")[0] for h in lines if h[:1] not in (b" ", b"\t")][:2] == [b"From", b"To"]


def test_quoted_names_keep_their_parentheses_when_folded() -> None:
    name = 'Jane "JD" Doe, senior support engineer for printers and scanners'
    message = parsed(compose(spec(agent_name=name, address_name="Acme (EMEA) Support")))
    assert message["From"].addresses[0].display_name == f"{name} (Acme (EMEA) Support)"


def test_long_korean_names_fold_into_whole_encoded_words() -> None:
    name = "김지수" * 20
    raw = compose(spec(to=[Mailbox("bob@example.com", name)]))
    assert all(len(line) <= 78 for line in header_block(raw))
    decoded = parsed(raw)["To"].addresses[0].display_name
    assert "".join(decoded.split()) == name


def test_extra_header_text_is_kept_exactly() -> None:
    message = parsed(compose(spec(extra_headers=[("X-Note", "a  b 김  박 c")])))
    assert message["X-Note"] == "a  b 김  박 c"


def test_headers_that_do_not_read_back_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from postdesk.mail import compose as module

    real = module._text_atoms
    monkeypatch.setattr(
        module,
        "_text_atoms",
        lambda text: ["=?utf-8?q?other?="] if "Printer" in text else real(text),
    )
    with pytest.raises(UnsafeHeader, match="Subject: does not survive encoding"):
        compose(spec())


def test_a_header_that_read_back_once_is_checked_again_when_written_differently(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from postdesk.mail import compose as module

    compose(spec())  # this Subject, as written, read back correctly and is remembered
    real = module._text_atoms
    monkeypatch.setattr(
        module,
        "_text_atoms",
        lambda text: ["Printer", "on", "=?utf-8?q?ice?="] if "Printer" in text else real(text),
    )
    with pytest.raises(UnsafeHeader, match="Subject: does not survive encoding"):
        compose(spec())


def test_a_header_block_with_a_line_that_starts_a_new_field_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from postdesk.mail import compose as module

    real = module._folded
    monkeypatch.setattr(
        module,
        "_folded",
        lambda name, atoms: (
            real(name, atoms) + ("\r\nBcc: x@evil.test" if name == "Subject" else "")
        ),
    )
    with pytest.raises(UnsafeHeader, match="headers: do not read back as written"):
        compose(spec())


def test_repeated_extra_headers_each_read_back() -> None:
    message = parsed(compose(spec(extra_headers=[("X-Note", "first"), ("X-Note", "second")])))
    assert message.get_all("X-Note") == ["first", "second"]
