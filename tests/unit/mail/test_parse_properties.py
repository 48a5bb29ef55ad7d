"""Property tests: whatever bytes come in, parse returns a ParsedMail or raises ParseError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postdesk.mail.charsets import decode_bytes, decode_header_value
from postdesk.mail.html import html_to_text, sanitize
from postdesk.mail.parse import ParsedMail, ParseError, parse
from postdesk.mail.quotes import split_reply

from .conftest import SHARED_CORPUS
from .test_parse import CID_IMAGE, ISO_2022_JP, KOREAN_EUC_KR, RFC2231_ATTACHMENT

SEEDS = [KOREAN_EUC_KR, ISO_2022_JP, RFC2231_ATTACHMENT, CID_IMAGE] + [
    path.read_bytes()
    for path in sorted((SHARED_CORPUS / "zammad").glob("*.box"))[:20]
    if path.stat().st_size < 12_000
]

# Pieces that steer mutations into the parser's interesting corners.
MIME_FRAGMENTS = [
    b"\r\n", b"\n\n", b"--", b"=?", b"?=", b"=?utf-8?B?", b"=?euc-kr?Q?=B0", b"\x00", b"\xff\xfe",
    b"Content-Type: multipart/mixed; boundary=x\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"charset=ks_c_5601-1987", b"filename*0*=utf-8''%ED%95", b"<script>", b"\xb0\xa1",
    b"Content-Type: message/rfc822\r\n\r\n", b" ", b":", b"\t",
]  # fmt: skip


def assert_parses_or_rejects(raw: bytes) -> None:
    try:
        result = parse(raw)
    except ParseError as error:
        assert not error.internal, error
        return
    assert isinstance(result, ParsedMail)
    assert isinstance(result.text, str) and isinstance(result.html, str)
    assert "<script" not in result.html.lower()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_any_bytes(raw: bytes) -> None:
    assert_parses_or_rejects(raw)


@st.composite
def mutated_mails(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        position = draw(st.integers(min_value=0, max_value=len(raw)))
        action = draw(st.sampled_from(["insert", "delete", "flip", "truncate"]))
        if action == "insert":
            raw[position:position] = draw(st.sampled_from(MIME_FRAGMENTS) | st.binary(max_size=8))
        elif action == "delete":
            del raw[position : position + draw(st.integers(min_value=1, max_value=64))]
        elif action == "flip" and position < len(raw):
            raw[position] ^= draw(st.integers(min_value=1, max_value=255))
        else:
            del raw[position:]
    return bytes(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_mails())
def test_mutated_real_mails(raw: bytes) -> None:
    assert_parses_or_rejects(raw)


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=500),
    st.sampled_from([None, "utf-8", "euc-kr", "iso-2022-jp", "gb2312", "bogus"]),
)
def test_decode_bytes_always_returns_text(data: bytes, charset: str | None) -> None:
    text, defect = decode_bytes(data, charset)
    assert isinstance(text, str)
    assert defect is None or isinstance(defect, str)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_text_helpers_never_raise(value: str) -> None:
    assert isinstance(decode_header_value(value), str)
    assert isinstance(html_to_text(value), str)
    assert "<script" not in sanitize(value).lower()
    new, quoted = split_reply(value)
    assert new + quoted == value
