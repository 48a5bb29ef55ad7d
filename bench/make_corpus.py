"""Write a benchmark corpus of .eml files of our own making.

    python bench/make_corpus.py OUT_DIR [--count N] [--seed S]

The mix is what a help desk really receives: plain text, HTML (multipart/alternative), mail
with attachments, Korean mail in EUC-KR with RFC 2047 headers, auto-replies (RFC 3834),
bounces (RFC 3464 delivery status notifications) and malformed mail (missing boundary, bad
base64, 8-bit headers, NUL bytes, long lines, unknown charsets). Every file is generated from
a seeded random generator, so the same arguments always give byte-identical files.
"""

from __future__ import annotations

import argparse
import base64
import random
from collections.abc import Callable
from pathlib import Path

DESK = "support@acme.postdesk.example"
FIRST_NAMES = ["Alex", "Sam", "Jordan", "Robin", "Kim", "Lee", "Park", "Maria", "Jonas", "Aiko"]
LAST_NAMES = ["Smith", "Müller", "Garcia", "Tanaka", "Choi", "Novak", "Jensen", "Rossi"]
KOREAN_NAMES = ["김민수", "이영희", "박지훈", "최수진", "정다은"]
TOPICS = ["invoice", "login problem", "refund", "delivery delay", "password reset", "upgrade"]
KOREAN_TOPICS = ["배송 문의", "환불 요청", "로그인 오류", "결제 확인", "계정 해지"]
SENTENCES = [
    "I tried again this morning and it still does not work.",
    "Could you please check my account and let me know what happened?",
    "The order number is in the subject line.",
    "Thank you for the quick answer last time.",
    "We need this resolved before the end of the month.",
    "Attached is a screenshot of the error message.",
]
KOREAN_SENTENCES = [
    "안녕하세요. 지난주에 주문한 상품이 아직 도착하지 않았습니다.",
    "확인 후 연락 부탁드립니다.",
    "결제는 카드로 완료했습니다.",
    "빠른 답변 감사합니다.",
]


class MailMaker:
    """Builds one message of each kind from a shared seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.serial = 0

    def _common(self, subject: str, sender: str) -> str:
        self.serial += 1
        day = self.rng.randint(1, 28)
        hour, minute = self.rng.randint(0, 23), self.rng.randint(0, 59)
        return (
            f"From: {sender}\r\n"
            f"To: {DESK}\r\n"
            f"Subject: {subject}\r\n"
            f"Date: Mon, {day:02d} Mar 2026 {hour:02d}:{minute:02d}:00 +0000\r\n"
            f"Message-ID: <bench-{self.serial}-{self.rng.getrandbits(48):012x}@customer.example>\r\n"
            "MIME-Version: 1.0\r\n"
        )

    def _sender(self) -> str:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        local = f"{first}.{last}".lower().encode("ascii", "ignore").decode()
        return f'"{first} {last}" <{local}{self.rng.randint(1, 999)}@customer.example>'

    def _paragraphs(self, count: int) -> str:
        return "\r\n\r\n".join(
            " ".join(self.rng.choice(SENTENCES) for _ in range(self.rng.randint(1, 4)))
            for _ in range(count)
        )

    def _boundary(self) -> str:
        return f"=_bench_{self.rng.getrandbits(64):016x}"

    def plain(self) -> bytes:
        head = self._common(f"Question about {self.rng.choice(TOPICS)}", self._sender())
        body = self._paragraphs(self.rng.randint(1, 5))
        quote = (
            "\r\n\r\nOn Sun, 1 Mar 2026, Acme Support wrote:\r\n> Hello,\r\n> how can we help?\r\n"
        )
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + quote).encode()

    def html(self) -> bytes:
        boundary = self._boundary()
        text = self._paragraphs(self.rng.randint(1, 4))
        markup = "".join(f"<p>{paragraph}</p>" for paragraph in text.split("\r\n\r\n"))
        head = self._common(f"Re: {self.rng.choice(TOPICS)}", self._sender())
        return (
            head + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
            f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            f'<html><body style="font-family: Arial">{markup}'
            '<img src="https://tracker.example/p.gif"></body></html>\r\n'
            f"--{boundary}--\r\n"
        ).encode()

    def attachment(self) -> bytes:
        boundary = self._boundary()
        size = self.rng.choice([2_000, 20_000, 200_000])
        data = bytes(self.rng.getrandbits(8) for _ in range(size))
        encoded = base64.encodebytes(data).decode().replace("\n", "\r\n")
        head = self._common("Screenshot of the error", self._sender())
        return (
            head + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"{self._paragraphs(1)}\r\n"
            f"--{boundary}\r\nContent-Type: image/png\r\n"
            f"Content-Disposition: attachment; filename*=UTF-8''%EC%98%A4%EB%A5%98-{self.serial}.png\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
            f"--{boundary}--\r\n"
        ).encode()

    def korean(self) -> bytes:
        name = self.rng.choice(KOREAN_NAMES)
        topic = self.rng.choice(KOREAN_TOPICS)
        encoded_name = base64.b64encode(name.encode("cp949")).decode()
        encoded_topic = base64.b64encode(topic.encode("cp949")).decode()
        sender = f"=?EUC-KR?B?{encoded_name}?= <user{self.rng.randint(1, 9999)}@example.co.kr>"
        head = self._common(f"=?ks_c_5601-1987?B?{encoded_topic}?=", sender)
        body = "\r\n".join(self.rng.choice(KOREAN_SENTENCES) for _ in range(self.rng.randint(2, 6)))
        return (
            head.encode()
            + b"Content-Type: text/plain; charset=euc-kr\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + body.encode("cp949")
            + b"\r\n"
        )

    def auto_reply(self) -> bytes:
        head = self._common("Automatic reply: Your request", self._sender())
        return (
            head + "Auto-Submitted: auto-replied\r\nX-Autoreply: yes\r\nPrecedence: auto_reply\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "I am out of the office until Monday and will answer your mail then.\r\n"
        ).encode()

    def bounce(self) -> bytes:
        boundary = self._boundary()
        failed = f"gone{self.rng.randint(1, 9999)}@customer.example"
        self.serial += 1
        return (
            "From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
            f"To: {DESK}\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
            f"Message-ID: <bounce-{self.serial}@mx.customer.example>\r\n"
            "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            f"I'm sorry to have to inform you that your message could not be delivered.\r\n"
            f"--{boundary}\r\nContent-Description: Delivery report\r\n"
            "Content-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.customer.example\r\n\r\n"
            f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
            f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
            f"From: {DESK}\r\nTo: {failed}\r\nSubject: Your request\r\n\r\nHello\r\n"
            f"--{boundary}--\r\n"
        ).encode()

    def malformed(self) -> bytes:
        kind = self.rng.choice(
            ["no-boundary", "bad-base64", "8bit-header", "nul", "long-line", "unknown-charset"]
        )
        head = self._common(f"Broken mail ({kind})", self._sender()).encode()
        if kind == "no-boundary":
            return head + b"Content-Type: multipart/mixed\r\n\r\n--lost\r\nsome text\r\n"
        if kind == "bad-base64":
            return (
                head + b"Content-Type: text/plain; charset=utf-8\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8gd29ybGQ!!!*\r\nbm90IHBhZGRlZA\r\n"
            )
        if kind == "8bit-header":
            return head.replace(b"Subject: ", "Subject: 한글 제목 ".encode("cp949")) + (
                b"Content-Type: text/plain\r\n\r\n" + "본문".encode("cp949") + b"\r\n"
            )
        if kind == "nul":
            return head + b"Content-Type: text/plain\r\n\r\nbefore\x00\x00after\r\n"
        if kind == "long-line":
            return head + b"Content-Type: text/plain\r\n\r\n" + b"x" * 200_000 + b"\r\n"
        return head + b"Content-Type: text/plain; charset=x-unknown-7\r\n\r\nhello \xe9\xe8\r\n"


# Relative frequencies of the kinds in the corpus.
MIX: list[tuple[str, int]] = [
    ("plain", 30),
    ("html", 25),
    ("attachment", 10),
    ("korean", 15),
    ("auto_reply", 7),
    ("bounce", 5),
    ("malformed", 8),
]


def make_corpus(out_dir: Path, count: int, seed: int) -> dict[str, int]:
    """Write ``count`` messages into ``out_dir``; return how many of each kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    maker = MailMaker(rng)
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    written: dict[str, int] = dict.fromkeys(kinds, 0)
    for index in range(count):
        kind = rng.choices(kinds, weights)[0]
        build: Callable[[], bytes] = getattr(maker, kind)
        (out_dir / f"{index:06d}-{kind}.eml").write_bytes(build())
        written[kind] += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20260302)
    args = parser.parse_args()
    written = make_corpus(args.out_dir, args.count, args.seed)
    summary = ", ".join(f"{kind} {number}" for kind, number in written.items())
    print(f"wrote {args.count} messages to {args.out_dir}: {summary}")


if __name__ == "__main__":
    main()
