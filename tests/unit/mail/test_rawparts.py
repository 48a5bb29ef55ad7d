"""Attached messages are kept byte for byte as they stand in the raw mail (rawparts + parse)."""

from __future__ import annotations

import base64

from postdesk.mail.parse import parse
from postdesk.mail.rawparts import body_of, split_multipart

# Header lines longer than 78 characters and an empty header value: the two things a
# re-serialisation of the parsed message changes (it refolds the first, respaces the second).
INNER = (
    b"Return-Path: <bounce@example.net>\n"
    b"Received: from mx.example.net (mx.example.net [192.0.2.7]) by mail.example.org (Postfix)"
    b" with ESMTP id 207FF for <customer@example.org>; Fri, 26 May 2017 17:01:45 +0200\n"
    b"From: Help Desk <desk@example.org>\n"
    b"To: customer@example.org\n"
    b"Subject: Your request\n"
    b"In-Reply-To:\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s1; h=from:to:subject;\n"
    b"\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==\n"
    b"\n"
    b"We received your request.\n"
    b"\n"
    b"-- \n"
    b"The desk\n"
)


def report(inner: bytes, *, newline: bytes = b"\n", rfc822_headers: bytes = b"") -> bytes:
    """A delivery report (multipart/report) that carries ``inner`` as message/rfc822."""
    lines = (
        b"From: MAILER-DAEMON@example.org\n"
        b"To: desk@example.org\n"
        b"Subject: Undelivered Mail Returned to Sender\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"\n'
        b"\n"
        b"This is a MIME-encapsulated message.\n"
        b"\n"
        b"--B1\n"
        b"Content-Type: text/plain\n"
        b"\n"
        b"The mail could not be delivered.\n"
        b"\n"
        b"--B1\n"
        b"Content-Description: Undelivered Message\n"
        b"Content-Type: message/rfc822\n" + rfc822_headers + b"\n" + inner + b"\n"
        b"--B1--\n"
    )
    return lines.replace(b"\n", newline)


def attached(raw: bytes) -> bytes:
    mail = parse(raw)
    (message,) = [part for part in mail.attachments if part.content_type == "message/rfc822"]
    return message.data


def test_attached_message_is_kept_as_sent() -> None:
    assert attached(report(INNER)) == INNER


def test_attached_message_is_kept_as_sent_with_crlf_line_ends() -> None:
    crlf = INNER.replace(b"\n", b"\r\n")
    assert attached(report(INNER, newline=b"\r\n")) == crlf


def test_attached_message_in_a_nested_multipart() -> None:
    raw = (
        b"From: a@example.org\n"
        b'Content-Type: multipart/mixed; boundary="outer"\n'
        b"\n"
        b"--outer\n"
        b"Content-Type: text/plain\n"
        b"\n"
        b"See the forwarded mail.\n"
        b"--outer\n"
        b'Content-Type: multipart/mixed; boundary="inner"\n'
        b"\n"
        b"--inner\n"
        b"Content-Type: text/plain\n"
        b"\n"
        b"first\n"
        b"--inner\n"
        b"Content-Type: message/rfc822\n"
        b"\n" + INNER + b"\n"
        b"--inner--\n"
        b"--outer--\n"
    )
    assert attached(raw) == INNER


def test_each_of_several_attached_messages_gets_its_own_bytes() -> None:
    second = INNER.replace(b"Subject: Your request", b"Subject: Your second request")
    raw = (
        b"From: a@example.org\n"
        b'Content-Type: multipart/digest; boundary="d"\n'
        b"\n"
        b"--d\n"
        b"\n" + INNER + b"\n"
        b"--d\n"
        b"\n" + second + b"\n"
        b"--d--\n"
    )
    mail = parse(raw)
    # multipart/digest parts default to message/rfc822 (RFC 2046 section 5.1.5).
    assert [part.data for part in mail.attachments] == [INNER, second]
    assert [part.filename for part in mail.attachments] == [
        "Your request.eml",
        "Your second request.eml",
    ]


def test_base64_encoded_attached_message_is_decoded() -> None:
    encoded = base64.encodebytes(INNER)
    raw = report(encoded.rstrip(b"\n"), rfc822_headers=b"Content-Transfer-Encoding: base64\n")
    assert attached(raw) == INNER


def test_without_close_delimiter_the_last_part_runs_to_the_end() -> None:
    # As the stdlib parser reads it: the raw bytes split into the same two parts, and the
    # attached message keeps everything up to the end of the mail.
    raw = report(INNER).replace(b"--B1--\n", b"")
    assert attached(raw) == INNER + b"\n"


def test_split_multipart_follows_the_delimiter_rules() -> None:
    body = (
        b"preamble\r\n"
        b"--b\r\n"
        b"A: 1\r\n\r\none\r\n"
        b"--b-not-a-delimiter\r\n"
        b"--b  \r\n"
        b"\r\ntwo\r\n"
        b"\r\n"
        b"--b--\r\n"
        b"epilogue\r\n"
    )
    assert split_multipart(body, "b") == [
        b"A: 1\r\n\r\none\r\n--b-not-a-delimiter",
        b"\r\ntwo\r\n",
    ]
    assert split_multipart(b"no delimiter here\n", "b") is None


def test_body_of_divides_like_the_stdlib_parser() -> None:
    assert body_of(b"A: 1\n folded\n\nbody\n") == b"body\n"
    assert body_of(b"\nbody only\n") == b"body only\n"
    # A line that can't be a header field starts the body (a missing blank line).
    assert body_of(b"A: 1\nnot a header\nmore\n") == b"not a header\nmore\n"
