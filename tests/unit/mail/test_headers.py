"""Headers: a read-only view that decodes lazily and never raises on junk."""

from __future__ import annotations

from postdesk.mail.headers import Headers, unfold


def test_get_is_case_insensitive_decoded_and_unfolded() -> None:
    headers = Headers([("Subject", "=?utf-8?B?7ZWc6riA?=\r\n =?utf-8?Q?_mail?=")])
    assert headers.get("subject") == "한글 mail"
    assert "SUBJECT" in headers
    assert "X-Missing" not in headers
    assert headers.get("X-Missing", "default") == "default"


def test_get_all_and_raw_keep_order() -> None:
    headers = Headers([("Received", "one"), ("X-A", "a"), ("received", "two")])
    assert headers.get_all("Received") == ["one", "two"]
    assert headers.raw("RECEIVED") == ["one", "two"]
    assert headers.items() == [("Received", "one"), ("X-A", "a"), ("received", "two")]


def test_decoded_values_carry_no_line_breaks() -> None:
    # An encoded CR LF must not become a header line break downstream.
    headers = Headers([("Subject", "=?utf-8?Q?a=0D=0ABcc:_x@evil.example?=")])
    assert "\n" not in headers.get("Subject") and "\r" not in headers.get("Subject")


def test_raw_8bit_values_are_repaired() -> None:
    raw = "제목입니다".encode("cp949").decode("ascii", errors="surrogateescape")
    headers = Headers([("Subject", raw), ("From", raw + " <a@example.kr>")])
    assert headers.get("Subject") == "제목입니다"
    assert headers.raw("Subject") == [raw]


def test_junk_never_raises() -> None:
    headers = Headers([("X-Junk", "=?bogus?Q?=ZZ?= =?utf-8?B?%%%?= \udcff\x00")])
    assert isinstance(headers.get("X-Junk"), str)


def test_unfold() -> None:
    assert unfold("a\r\n b\n\tc\r\n") == "a b\tc"


def test_read_headers_reads_only_the_header_section() -> None:
    from postdesk.mail.parse import read_headers

    raw = b"Subject: =?euc-kr?B?waa48Q==?=\r\nFrom: a@example.kr\r\n\r\nSubject: not a header\r\n"
    headers = read_headers(raw)
    assert headers.get("Subject") == "제목"
    assert headers.get_all("Subject") == ["제목"]
    assert read_headers(b"Subject: no body at all").get("Subject") == "no body at all"
    assert len(read_headers(b"")) == 0
    assert isinstance(read_headers(b"\x00\xff: \xfe\r\n\r\n").items(), list)
