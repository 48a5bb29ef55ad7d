"""DKIM signing throughput: Postdesk's signer against dkimpy on the same composed messages.

Composes N realistic outbound mails (text + HTML alternatives, some with an attachment,
English and Korean), then signs all of them with RSA-2048 rsa-sha256 relaxed/relaxed, once with
``postdesk.mail.dkim.sign`` and once with ``dkim.sign`` from dkimpy, in the same process, with
the same key, header list and messages. Prints messages per second for both (dkimpy is the
baseline), the speed-up, and Ed25519 for reference. A sample of our signatures is verified with
dkimpy first, so the number is for signatures that are actually valid.

    .venv/bin/python bench/dkim_sign.py [--messages 500]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dkim as dkimpy

from postdesk.mail import dkim
from postdesk.mail.compose import Attachment, Mailbox, OutboundSpec, compose

DOMAIN = "mycompany.test"
SELECTOR = "postdesk1"
TARGET = 100.0  # SPEC §5: signed messages per second per worker


def messages(count: int) -> list[bytes]:
    composed = []
    for number in range(count):
        korean = number % 2 == 1
        text = (
            "안녕하세요 고객님,\n\n요청하신 내용을 확인했습니다. 프린터 드라이버를 다시 설치해 주세요.\n"
            if korean
            else "Hello,\n\nThanks for reaching out. Please reinstall the printer driver and retry.\n"
        ) * 6
        composed.append(
            compose(
                OutboundSpec(
                    secret_key=b"bench-secret-key-0123456789abcdef",
                    desk_domain="acme.postdesk.test",
                    instance_id="bench",
                    ticket_id=1000 + number,
                    outbound_id=5000 + number,
                    from_address=f"help@{DOMAIN}",
                    agent_name="Jane Doe",
                    address_name="Acme Support",
                    to=[Mailbox(f"customer{number}@example.com", "Customer Name")],
                    cc=[Mailbox("manager@example.com")] if number % 3 == 0 else [],
                    subject="프린터가 작동하지 않아요" if korean else "My printer does not work",
                    text=text,
                    html="<p>" + text.replace("\n", "<br>\n") + "</p>",
                    language="ko" if korean else "en",
                    in_reply_to=f"<customer-{number}@mail.example.com>",
                    attachments=(
                        [Attachment("log.txt", b"line of a log file\n" * 200, "text/plain")]
                        if number % 5 == 0
                        else []
                    ),
                    date=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
                )
            )
        )
    return composed


def rate(sign_one: Callable[[bytes], bytes], corpus: list[bytes]) -> float:
    sign_one(corpus[0])  # warm caches (key parsing) outside the measurement
    started = time.perf_counter()
    for message in corpus:
        sign_one(message)
    return len(corpus) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()

    corpus = messages(args.messages)
    rsa_key = dkim.generate_key("rsa-sha256")
    ed_key = dkim.generate_key("ed25519-sha256")
    record = "".join(rsa_key.txt_strings()).encode("ascii")
    pem = rsa_key.private_key_pem.encode("ascii")
    header_list = [name.encode("ascii") for name in dkim.SIGNED_HEADERS]

    def ours(message: bytes) -> bytes:
        return dkim.sign(message, domain=DOMAIN, selector=SELECTOR, private_key_pem=pem)

    def ours_ed25519(message: bytes) -> bytes:
        return dkim.sign(
            message,
            domain=DOMAIN,
            selector=dkim.selector_name(1, "ed25519-sha256"),
            private_key_pem=ed_key.private_key_pem,
            algorithm="ed25519-sha256",
        )

    def baseline(message: bytes) -> bytes:
        signature: bytes = dkimpy.sign(
            message,
            SELECTOR.encode(),
            DOMAIN.encode(),
            pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=header_list,
        )
        return signature

    for message in corpus[:20]:
        if not dkimpy.verify(ours(message) + message, dnsfunc=lambda name, timeout=5: record):
            raise SystemExit("a signature made by postdesk.mail.dkim did not verify with dkimpy")

    average = sum(map(len, corpus)) / len(corpus)
    print(
        f"{len(corpus)} composed messages, {average / 1024:.1f} KiB on average, RSA-2048 relaxed/relaxed"
    )
    dkimpy_rate = rate(baseline, corpus)
    ours_rate = rate(ours, corpus)
    ed_rate = rate(ours_ed25519, corpus)
    print(f"baseline dkimpy rsa-sha256        : {dkimpy_rate:9.1f} msgs/s")
    print(
        f"postdesk.mail.dkim rsa-sha256     : {ours_rate:9.1f} msgs/s   ({ours_rate / dkimpy_rate:.1f}x dkimpy)"
    )
    print(f"postdesk.mail.dkim ed25519-sha256 : {ed_rate:9.1f} msgs/s")
    print(f"target ≥ {TARGET:.0f} msgs/s per worker: {'met' if ours_rate >= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
