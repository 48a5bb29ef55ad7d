"""A hostile corpus (SPEC §5 reliability): mail built to break parsers, databases and the
agent UI. Each entry is (name, raw bytes); shared by the corpus test and by the benchmark's
sanity run."""

from __future__ import annotations

import base64

HEAD = (
    b"From: Ada <ada@example.com>\r\nTo: support@desk.test\r\nSubject: hostile\r\n"
    b"Date: Thu, 26 Nov 2026 09:00:00 +0000\r\n"
)


def _mail(name: str, headers: bytes, body: bytes) -> tuple[str, bytes]:
    message_id = f"Message-ID: <{name}@hostile.example>\r\n".encode()
    return name, HEAD + message_id + headers + b"\r\n" + body


def _nested_multiparts(depth: int) -> bytes:
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    closing = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    return opening + b"Content-Type: text/plain\r\n\r\ndeep inside" + closing


def _nested_messages(depth: int) -> bytes:
    inner = b"Subject: innermost\r\nContent-Type: text/plain\r\n\r\nbottom\r\n"
    for level in range(depth):
        inner = b"Subject: level %d\r\nContent-Type: message/rfc822\r\n\r\n" % level + inner
    return inner


def _many_parts(count: int) -> bytes:
    parts = b"".join(
        b"--p\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="f%d.bin"\r\n\r\n%d\r\n' % (i, i)
        for i in range(count)
    )
    return b'Content-Type: multipart/mixed; boundary="p"\r\n\r\n' + parts + b"--p--\r\n"


XSS_HTML = (
    b"<html><head><style>body{background:url(javascript:alert(1))}</style>"
    b"<script>alert('head')</script></head><body>"
    b'<p onmouseover="alert(1)">hover</p><img src=x onerror=alert(2)>'
    b'<a href="javascript:alert(3)">click</a><a href="JaVaScRiPt&#58;alert(4)">x</a>'
    b'<svg><script>alert(5)</script></svg><iframe src="https://evil.example"></iframe>'
    b'<form action="https://evil.example"><input name=p></form>'
    b'<img src="https://tracker.example/pixel.gif"><math><mtext><table><mglyph><style>'
    b"<img src=x onerror=alert(6)></style></mglyph></table></mtext></math>"
    b'<object data="javascript:alert(7)"></object><body onload=alert(8)>'
    b"</body></html>"
)


def hostile_mails() -> list[tuple[str, bytes]]:
    """Each mail from its own sender: one sender opening 30 tickets at once is a flood (SPEC
    F10) and would be held as such, which is not what these mails test."""
    return [
        (name, raw.replace(b"ada@example.com", b"ada-%d@example.com" % index, 1))
        for index, (name, raw) in enumerate(_hostile_mails())
    ]


def _hostile_mails() -> list[tuple[str, bytes]]:
    cc_400 = ", ".join(f"cc{i}@example.com" for i in range(400)).encode()
    return [
        _mail(
            "missing-boundary-parameter",
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n",
            b"--x\r\nContent-Type: text/plain\r\n\r\nbody\r\n--x--\r\n",
        ),
        _mail(
            "boundary-never-appears",
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="nowhere"\r\n',
            b"Just some text and no parts at all.\r\n",
        ),
        _mail(
            "bad-base64",
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: base64\r\n",
            b"SGVsbG8g!!!d29y*bGQ=\r\n=====\r\nA\r\n",
        ),
        _mail(
            "nul-bytes-everywhere",
            b"X-Note: a\x00b\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="n"\r\n',
            b"--n\r\nContent-Type: text/plain\r\n\r\nbody\x00with\x00nul\r\n"
            b"--n\r\nContent-Type: text/html\r\n\r\n<p>ht\x00ml</p>\r\n"
            b"--n\r\nContent-Type: application/x-\x00bin\r\nContent-ID: <c\x00id>\r\n"
            b'Content-Disposition: attachment; filename="a\x00b.txt"\r\n\r\n\x00\x00\r\n--n--\r\n',
        ),
        (
            "nul-in-subject-and-from",
            b"From: Ad\x00a <ada\x00@example.com>\r\nTo: support@desk.test\r\n"
            b"Subject: sub\x00ject =?utf-8?q?enc=00oded?=\r\nMessage-ID: <n\x00ul@x>\r\n\r\nbody\r\n",
        ),
        _mail(
            "8bit-headers",
            b"X-Raw: \xe4\xf6\xfc\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n",
            b"K\xe4se\r\n",
        ),
        (
            "8bit-subject-and-from",
            b"From: J\xfcrgen M\xfcller <juergen@example.de>\r\nTo: support@desk.test\r\n"
            b"Subject: Pr\xfcfung f\xfcr \xc4rger \xff\xfe\r\n\r\nbody\r\n",
        ),
        _mail(
            "200kb-line",
            b"Content-Type: text/plain; charset=us-ascii\r\n",
            b"x" * 200_000 + b"\r\nend\r\n",
        ),
        _mail("200kb-header-line", b"X-Long: " + b"y" * 200_000 + b"\r\n", b"short body\r\n"),
        (
            "200kb-subject",
            HEAD.replace(b"Subject: hostile", b"Subject: " + b"s" * 200_000) + b"\r\nbody\r\n",
        ),
        _mail(
            "unknown-charset",
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-no-such-charset-42\r\n",
            "Ünïcødé in a charset nobody knows".encode() + b"\r\n",
        ),
        _mail(
            "unknown-charset-encoded-word",
            b"X-Subject: =?x-klingon?B?SGVsbG8=?=\r\n",
            b"hi\r\n",
        ),
        _mail("400-ccs", b"Cc: " + cc_400 + b"\r\n", b"hello everyone\r\n"),
        (
            "deep-multipart-nesting",
            HEAD
            + b"Message-ID: <deep@hostile.example>\r\nMIME-Version: 1.0\r\n"
            + _nested_multiparts(2000),
        ),
        (
            "zip-bomb-like-message-nesting",
            HEAD
            + b"Message-ID: <nest@hostile.example>\r\nMIME-Version: 1.0\r\n"
            + _nested_messages(500),
        ),
        (
            "thousands-of-parts",
            HEAD + b"Message-ID: <parts@hostile.example>\r\n"
            b"MIME-Version: 1.0\r\n" + _many_parts(3000),
        ),
        _mail(
            "xss-html",
            b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n",
            XSS_HTML,
        ),
        _mail(
            "xss-in-headers-and-filename",
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="z"\r\n'
            b"X-Subject: <script>alert(1)</script>\r\n",
            b"--z\r\nContent-Type: text/plain\r\n\r\n<script>alert(1)</script>\r\n"
            b"--z\r\nContent-Type: text/html\r\nContent-Disposition: attachment; "
            b'filename="<img src=x onerror=alert(1)>.html"\r\n\r\n<script>x</script>\r\n--z--\r\n',
        ),
        _mail("headers-only", b"", b""),
        ("no-header-section", b"this is not a mail at all\r\njust text\r\n"),
        ("binary-garbage", bytes(range(256)) * 40),
        ("only-nul", b"\x00" * 1000),
        _mail(
            "invalid-utf8-declared-utf8",
            b"Content-Type: text/plain; charset=utf-8\r\n",
            b"caf\xc3 \xff\xfe broken \xed\xa0\x80 surrogate\r\n",
        ),
        (
            "lone-cr-line-ends",
            b"From: ada@example.com\rTo: support@desk.test\rSubject: cr\r\rbody\rmore\r",
        ),
        _mail("message-id-2000-chars", b"References: <" + b"r" * 2000 + b"@x>\r\n", b"b\r\n"),
        _mail(
            "10k-references",
            b"References: " + b" ".join(b"<ref%d@x.example>" % i for i in range(10_000)) + b"\r\n",
            b"b\r\n",
        ),
        (
            "long-from-address",
            HEAD.replace(b"ada@example.com", b"a" * 600 + b"@example.com")
            + b"Message-ID: <long-from@hostile.example>\r\n\r\nbody\r\n",
        ),
        _mail("garbage-date", b"Date: the day after tomorrow at 99:99\r\n", b"b\r\n"),
        _mail(
            "garbage-content-type",
            b'Content-Type: text/html; charset="\x00\xff"; ;;; =; boundary\r\n'
            b"Content-Transfer-Encoding: x-\xff-weird\r\n",
            b"<p>hi</p>\r\n",
        ),
        _mail(
            "path-traversal-filename",
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="t"\r\n',
            b"--t\r\nContent-Type: text/plain\r\n\r\nsee file\r\n"
            b"--t\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
            b'filename="../../../etc/passwd"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + base64.b64encode(b"root:x:0:0")
            + b"\r\n--t--\r\n",
        ),
        _mail(
            "empty-alternative",
            b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="e"\r\n',
            b"--e--\r\n",
        ),
        _mail(
            "rfc2231-garbage-filename",
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="g"\r\n',
            b"--g\r\nContent-Type: application/pdf\r\n"
            b"Content-Disposition: attachment; filename*=x-bogus''%FF%00%E0\r\n\r\nPDF\r\n--g--\r\n",
        ),
        _mail(
            "reply-to-and-from-garbage",
            b"Reply-To: <<<>>>, @, ,,\r\nSender: \x00\r\n",
            b"b\r\n",
        ),
    ]
