"""parse(): literal RFC 5322 messages for each feature, and the malformed mail that must not
break it."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest

from postdesk.mail.parse import ParseError, parse

from .conftest import RawMailFactory

KOREAN_EUC_KR = (
    b"From: =?ks_c_5601-1987?B?yKux5rW/?= <gildong@example.co.kr>\r\n"
    b"To: support@postdesk.example\r\n"
    b"Subject: =?EUC-KR?B?wda5riC56LzbILmuwMc=?=\r\n"
    b"Date: Tue, 03 Mar 2026 09:15:00 +0900\r\n"
    b"Message-ID: <kr-1@example.co.kr>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=euc-kr\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n" + "안녕하세요. 똠방각하 주문 건으로 문의드립니다.\r\n".encode("cp949")
)


def test_korean_euc_kr_subject_body_and_sender() -> None:
    mail = parse(KOREAN_EUC_KR)
    assert mail.subject == "주문 배송 문의"
    assert mail.from_address is not None
    assert mail.from_address.name == "홍길동"
    assert mail.from_address.email == "gildong@example.co.kr"
    assert mail.text == "안녕하세요. 똠방각하 주문 건으로 문의드립니다."
    assert mail.date == datetime(2026, 3, 3, 0, 15, tzinfo=UTC)
    assert mail.message_id == "kr-1@example.co.kr"
    assert not mail.message_id_generated


ISO_2022_JP = (
    b"From: =?ISO-2022-JP?B?GyRCRURDZhsoQg==?= <tanaka@example.jp>\r\n"
    b"To: support@postdesk.example\r\n"
    b"Subject: =?ISO-2022-JP?B?GyRCJCpMZCQkOWckbyQ7GyhC?=\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=ISO-2022-JP\r\n"
    b"Content-Transfer-Encoding: 7bit\r\n"
    b"\r\n" + "お問い合わせありがとうございます。\r\n".encode("iso2022_jp")
)


def test_iso_2022_jp_subject_and_body() -> None:
    mail = parse(ISO_2022_JP)
    assert mail.subject == "お問い合わせ"
    assert mail.from_address is not None and mail.from_address.name == "田中"
    assert mail.text == "お問い合わせありがとうございます。"


def test_rfc2047_subject_split_mid_character() -> None:
    encoded = "환불 요청드립니다".encode()
    first = base64.b64encode(encoded[:5]).decode()  # ends inside "불"
    second = base64.b64encode(encoded[5:]).decode()
    raw = (
        b"From: a@example.com\r\nSubject: =?utf-8?B?" + first.encode() + b"?=\r\n"
        b" =?utf-8?B?" + second.encode() + b"?=\r\n\r\nbody\r\n"
    )
    assert parse(raw).subject == "환불 요청드립니다"


RFC2231_ATTACHMENT = b"""From: a@example.com
To: support@postdesk.example
Subject: invoice
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XX"

--XX
Content-Type: text/plain; charset=utf-8

See attached.
--XX
Content-Type: application/pdf
Content-Disposition: attachment;
 filename*0*=UTF-8''%EA%B2%AC%EC%A0%81%EC%84%9C;
 filename*1*=%20%282026%29.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--XX--
"""


def test_rfc2231_continued_and_encoded_filename() -> None:
    mail = parse(RFC2231_ATTACHMENT)
    assert mail.text == "See attached."
    (part,) = mail.files
    assert part.filename == "견적서 (2026).pdf"
    assert part.content_type == "application/pdf"
    assert part.data == b"%PDF-1.4\n"
    assert part.sha256 == hashlib.sha256(b"%PDF-1.4\n").hexdigest()
    assert not part.inline


def test_rfc2047_encoded_filename_and_path_is_stripped() -> None:
    raw = RFC2231_ATTACHMENT.replace(
        b"filename*0*=UTF-8''%EA%B2%AC%EC%A0%81%EC%84%9C;\n filename*1*=%20%282026%29.pdf",
        b'filename="=?utf-8?B?Li4vLi4vZXRjL+qyrOyggeyEnC5wZGY=?="',
    )
    (part,) = parse(raw).files
    assert part.filename == "견적서.pdf"  # "../../etc/" removed


CID_IMAGE = b"""From: a@example.com
Subject: screenshot
MIME-Version: 1.0
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

See the screenshot below.
--alt
Content-Type: text/html; charset=utf-8

<p>See the screenshot below.</p><img src="cid:shot@example.com" alt="screenshot">
--alt--
--rel
Content-Type: image/png
Content-ID: <shot@example.com>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--rel--
"""


def test_cid_inline_image_is_kept_and_referenced() -> None:
    mail = parse(CID_IMAGE)
    assert mail.content_type == "multipart/related"
    assert mail.text == "See the screenshot below."
    assert 'src="cid:shot@example.com"' in mail.html
    (image,) = mail.files
    assert image.content_id == "shot@example.com"
    assert image.inline
    assert image.data == b"\x89PNG\r\n\x1a\n"


def test_original_html_is_kept_as_an_inert_attachment() -> None:
    mail = parse(CID_IMAGE)
    (original,) = mail.original_html
    assert original.filename == "original.html"
    assert original.content_type == "text/plain; charset=utf-8"
    assert b'<img src="cid:shot@example.com"' in original.data


XSS_HTML = """<html><head><style>body{background:url(http://evil.example/x)}</style>
<script>alert('head')</script></head>
<body onload="alert(1)">
<p>Hello<script>alert(2)</script></p>
<img src="x" onerror="alert(3)">
<a href="javascript:alert(4)">click</a>
<a href="JaVaScRiPt&colon;alert(5)">click</a>
<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCg2KTwvc2NyaXB0Pg==">data</a>
<svg onload="alert(7)"><script>alert(8)</script></svg>
<div style="width: expression(alert(9)); color: red">styled</div>
<div style="background-image: url('javascript:alert(10)')">bg</div>
<iframe src="https://evil.example/"></iframe>
<form action="https://evil.example/"><input name="password"></form>
<img src="https://tracker.example/pixel.gif">
<math><mtext><table><mglyph><style><img src=x onerror=alert(11)></style></mglyph></table></mtext></math>
<p title="</p><script>alert(12)</script>">tricky</p>
<<script>script>alert(13)<</script>/script>
<a href="https://example.com/ok">fine link</a>
"""


def test_html_with_xss_payloads_keeps_nothing_executable() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: xss\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        + XSS_HTML.encode()
    )
    html = parse(raw).html.lower()
    for forbidden in (
        "<script", "onerror", "onload", "javascript:", "<svg", "<math", "expression(",
        "url(", "<iframe", "<form", "<input", "<style", "tracker.example", "data:text",
    ):  # fmt: skip
        assert forbidden not in html, forbidden
    assert 'href="https://example.com/ok"' in html
    assert "color: red" in html
    assert "hello" in html


def test_no_from_header_falls_back_to_reply_to() -> None:
    mail = parse(b"Reply-To: <someone@example.com>\r\nSubject: x\r\n\r\nbody")
    assert mail.from_address is not None and mail.from_address.email == "someone@example.com"
    assert any("Reply-To" in defect for defect in mail.defects)


def test_encoded_word_in_address_is_not_decoded() -> None:
    mail = parse(b"From: =?utf-8?Q?agent?=@example.com\r\nSubject: x\r\n\r\nbody")
    assert mail.from_address is not None
    assert mail.from_address.email == "=?utf-8?Q?agent?=@example.com"


def test_missing_message_id_gets_a_deterministic_one(raw_mail: RawMailFactory) -> None:
    raw = raw_mail().replace(b"Message-ID: <factory@example.com>\r\n", b"")
    first, second = parse(raw), parse(raw)
    assert first.message_id_generated
    assert first.message_id == second.message_id
    assert first.message_id == hashlib.sha256(raw).hexdigest() + "@postdesk.invalid"


def test_threading_headers(raw_mail: RawMailFactory) -> None:
    raw = raw_mail(
        extra_headers=(
            ("In-Reply-To", "<a@x.example>"),
            ("References", "<root@x.example>\r\n <a@x.example> <a@x.example>"),
        )
    )
    mail = parse(raw)
    assert mail.in_reply_to == ("a@x.example",)
    assert mail.references == ("root@x.example", "a@x.example")


def test_address_lists(raw_mail: RawMailFactory) -> None:
    raw = raw_mail(
        to='"Kim, Minsu" <minsu@example.kr>, =?utf-8?B?7J207JiB7Z2s?= <yh@example.kr>',
        extra_headers=(("Cc", "undisclosed-recipients:;"), ("Reply-To", "Boss <BOSS@Example.com>")),
    )
    mail = parse(raw)
    assert [(a.name, a.email) for a in mail.to] == [
        ("Kim, Minsu", "minsu@example.kr"),
        ("이영희", "yh@example.kr"),
    ]
    assert mail.cc == ()
    assert mail.reply_to[0].normalized == "boss@example.com"


# --- malformed input: always a result with defects ------------------------------------------


def test_missing_boundary_is_read_as_text() -> None:
    raw = b"From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\nplain words\r\n"
    mail = parse(raw)
    assert "plain words" in mail.text
    assert mail.defects


def test_bad_base64_is_decoded_leniently() -> None:
    raw = (
        b"From: a@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n7ZWc6riA!!!6rW t7Ja0\r\n"
    )
    mail = parse(raw)
    assert mail.text.startswith("한글")
    assert any("base64" in defect for defect in mail.defects)


def test_nul_bytes_and_long_lines() -> None:
    body = b"x" * 200_000 + b"\x00\x00 end"
    mail = parse(b"From: a@example.com\r\nSubject: \x00nul\r\n\r\n" + body)
    assert "\x00" not in mail.text and "\x00" not in mail.subject
    assert mail.text.endswith(" end")
    assert len(mail.text) > 200_000


def test_8bit_headers_are_decoded() -> None:
    raw = "From: 김철수 <cs@example.kr>\r\nSubject: 배송 문의\r\n\r\nbody".encode()
    mail = parse(raw)
    assert mail.subject == "배송 문의"
    assert mail.from_address is not None and mail.from_address.name == "김철수"
    raw_cp949 = "Subject: 배송 문의 드립니다\r\nFrom: 김철수 <cs@example.kr>\r\n\r\nbody".encode(
        "cp949"
    )
    assert parse(raw_cp949).subject == "배송 문의 드립니다"


def test_unknown_charset_and_transfer_encoding() -> None:
    raw = (
        b"From: a@example.com\r\nContent-Type: text/plain; charset=x-martian\r\n"
        b"Content-Transfer-Encoding: x-teleport\r\n\r\nhello"
    )
    mail = parse(raw)
    assert mail.text == "hello"
    assert any("x-martian" in defect for defect in mail.defects)
    assert any("x-teleport" in defect for defect in mail.defects)


def _nested(depth: int) -> bytes:
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (level, level)
        for level in range(depth)
    )
    closing = b"".join(b"\r\n--b%d--\r\n" % level for level in reversed(range(depth)))
    return b"From: a@example.com\r\n" + opening + b"Content-Type: text/plain\r\n\r\ndeep" + closing


@pytest.mark.parametrize("depth", [25, 2000])
def test_deep_nesting_is_limited(depth: int) -> None:
    mail = parse(_nested(depth))
    assert any("nested" in defect for defect in mail.defects)


def test_part_count_is_limited() -> None:
    parts = b"".join(
        b"--p\r\nContent-Type: application/octet-stream\r\n\r\n%d\r\n" % index
        for index in range(50)
    )
    raw = (
        b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n"
        + parts
        + b"--p--"
    )
    mail = parse(raw, max_parts=10)
    assert len(mail.files) < 10
    assert any("more than 10" in defect for defect in mail.defects)


def test_oversize_attachment_is_dropped_with_a_defect() -> None:
    data = base64.b64encode(b"z" * 5000)
    raw = (
        b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n--p\r\n"
        b"Content-Type: application/zip\r\nContent-Disposition: attachment; filename=big.zip\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + data + b"\r\n--p--\r\n"
    )
    mail = parse(raw, max_attachment_size=1000)
    assert mail.files == ()
    assert any("big.zip" in defect for defect in mail.defects)


def test_header_section_copied_with_a_banner_and_unfolded_lines() -> None:
    raw = (
        b"---- Original email message ----\r\nFrom: a@example.com\r\n"
        b"X-Spam: one,\r\ntwo=3: x\r\nSubject: kept\r\n\r\nbody"
    )
    mail = parse(raw)
    assert mail.subject == "kept"
    assert mail.text == "body"


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"no header here at all"])
def test_input_that_is_not_a_mail_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse(raw)


def test_non_bytes_raise_parse_error() -> None:
    with pytest.raises(ParseError):
        parse("From: a@example.com\r\n\r\nx")  # type: ignore[arg-type]


def test_undeclared_body_text_is_read_in_the_charset_the_headers_declare() -> None:
    # Four Latin-1 letters alone were read as two CJK characters by statistical guessing;
    # the Subject says the sender writes ISO-8859-1.
    raw = (
        b"From: Martin <martin@example.com>\r\nTo: support@desk.test\r\n"
        b"Subject: =?iso-8859-1?Q?aa=E4=F6=FC=DFad?=\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n=E4=F6=FC=DF ad asd\r\n"
    )
    assert parse(raw).text == "äöüß ad asd"
