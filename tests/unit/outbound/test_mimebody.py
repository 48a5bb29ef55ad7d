"""The MIME body writer: transfer encodings, line ends, boundaries, attachments, read back
by the standard library's parser."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from postdesk.mail import mimebody


def read(entity: mimebody.Entity) -> EmailMessage:
    message = message_from_bytes(entity.as_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert not message.defects and all(not part.defects for part in message.walk())
    return message


def crlf_only(data: bytes) -> bool:
    return b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        pytest.param("Hello,\n\nshort ASCII lines.\n", "7bit", id="ascii"),
        pytest.param(
            "Bonjour,\n\nvoilà une réponse " + "assez longue " * 10 + "\n", None, id="latin"
        ),
        pytest.param("x" * 300 + "\n", "quoted-printable", id="long-ascii-line"),
        pytest.param("안녕하세요, 프린터 문제를 확인했습니다.\n" * 5, "base64", id="korean"),
    ],
)
def test_text_parts_are_seven_bit_crlf_and_read_back_exactly(
    content: str, encoding: str | None
) -> None:
    entity = mimebody.text(content, "plain")
    raw = entity.as_bytes()
    assert raw.isascii() and crlf_only(raw)
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    part = read(entity)
    assert part.get_content_type() == "text/plain" and part.get_param("charset") == "utf-8"
    if encoding is not None:
        assert part["Content-Transfer-Encoding"] == encoding
    assert part.get_content().replace("\r\n", "\n") == content


def test_the_shorter_encoding_wins_for_text_that_is_not_plain_ascii() -> None:
    mostly_ascii = mimebody.text("Café au lait, " * 20 + "\n", "plain")
    korean = mimebody.text("프린터가 고장났어요 " * 20 + "\n", "plain")
    assert b"quoted-printable" in mostly_ascii.head
    assert b"base64" in korean.head


def test_any_line_end_becomes_crlf_and_trailing_spaces_survive() -> None:
    entity = mimebody.text("one\rtwo\r\nthree\nfour  \n\ttab\n", "plain")
    assert crlf_only(entity.as_bytes())
    assert read(entity).get_content().replace("\r\n", "\n") == "one\ntwo\nthree\nfour  \n\ttab\n"


def test_empty_text_is_one_empty_line() -> None:
    assert mimebody.text("", "plain").body == b"\r\n"


def test_a_multipart_keeps_its_parts_in_order_and_their_last_line_ends() -> None:
    plain = mimebody.text("plain text\n", "plain")
    html = mimebody.text("<p>html</p>\n", "html")
    message = read(mimebody.multipart("alternative", [plain, html]))
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content().replace("\r\n", "\n") for p in parts] == [
        "plain text\n",
        "<p>html</p>\n",
    ]


def test_a_boundary_found_in_a_part_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter(["a" * 32, "b" * 32])
    monkeypatch.setattr(mimebody.secrets, "token_hex", lambda _: next(drawn))
    # A 7-bit text that happens to contain the first boundary drawn.
    clash = mimebody.text("quoting --=_" + "a" * 32 + " here\n", "plain")
    entity = mimebody.multipart("mixed", [clash, mimebody.text("second\n", "plain")])
    assert b'boundary="=_' + b"b" * 32 + b'"' in entity.head
    message = read(entity)
    assert len(list(message.iter_parts())) == 2


def test_attachments_are_base64_with_their_names() -> None:
    content = bytes(range(256)) * 4
    entity = mimebody.attachment(content, "application", "pdf", "보고서 2025.pdf")
    assert entity.as_bytes().isascii() and crlf_only(entity.as_bytes())
    part = read(entity)
    assert part.get_content_disposition() == "attachment"
    assert part.get_filename() == "보고서 2025.pdf"
    assert part["Content-Transfer-Encoding"] == "base64"
    assert part.get_content() == content
