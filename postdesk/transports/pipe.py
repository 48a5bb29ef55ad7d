"""``postdesk deliver``: the client an MTA pipe (``pipe(8)``, ``.forward``) runs per mail.

It must start fast and must not need Django: it reads the configuration, then hands the
bytes over SMTP to the running ``postdesk smtpd``, announcing itself with ``XFORWARD
PROTO=PIPE`` so the spool records the pipe as the transport. Exit codes follow sysexits(3),
which MTAs understand: 0 delivered, 67 unknown recipient, 65 refused content, 75 try later.
"""

from __future__ import annotations

import os
import re
import smtplib
import sys
from typing import BinaryIO

from postdesk import config

EX_OK = 0
EX_DATAERR = 65
EX_NOUSER = 67
EX_TEMPFAIL = 75

LINE_ENDING = re.compile(rb"\r\n|\r|\n")
TIMEOUT = 60.0


def _recipient(explicit: str | None, cfg: config.Config) -> str:
    # Postfix's pipe(8) and local(8) put the recipient in the environment.
    return (
        explicit
        or os.environ.get("ORIGINAL_RECIPIENT")
        or os.environ.get("RECIPIENT")
        or cfg.system_address
    )


def deliver(
    stream: BinaryIO, recipient: str | None = None, sender: str | None = None
) -> tuple[int, str]:
    """Send the mail on ``stream`` to the local smtpd; returns (exit code, message)."""
    cfg = config.load()
    raw = stream.read(cfg.max_message_size + 1)
    if len(raw) > cfg.max_message_size:
        return EX_DATAERR, f"message larger than {cfg.max_message_size} bytes"
    if not raw.strip():
        return EX_DATAERR, "no message on standard input"
    # SMTP needs CRLF; pipes deliver local line endings.
    raw = LINE_ENDING.sub(b"\r\n", raw)
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    rcpt = _recipient(recipient, cfg)
    mail_from = sender if sender is not None else os.environ.get("SENDER", "")
    # smtpd may listen on every interface; this client always talks to it locally.
    wildcard = {"0.0.0.0", "::"}  # noqa: S104 - compared against, not bound to
    host = "127.0.0.1" if cfg.smtp.host in wildcard else cfg.smtp.host
    try:
        with smtplib.SMTP(host, cfg.smtp.port, timeout=TIMEOUT) as smtp:
            smtp.ehlo("localhost")
            smtp.docmd("XFORWARD", "PROTO=PIPE")
            code, reply = smtp.mail(mail_from, ["SMTPUTF8"] if _needs_utf8(rcpt, mail_from) else [])
            if code >= 400:
                return _failure(code, reply)
            code, reply = smtp.rcpt(rcpt)
            if code >= 500:
                return EX_NOUSER, f"unknown recipient {rcpt}: {reply.decode(errors='replace')}"
            if code >= 400:
                return _failure(code, reply)
            code, reply = smtp.data(raw)
            if code != 250:
                return _failure(code, reply)
            return EX_OK, reply.decode(errors="replace")
    except (TimeoutError, OSError, smtplib.SMTPException) as exc:
        return EX_TEMPFAIL, f"postdesk smtpd at {cfg.smtp} unavailable: {exc}"


def _needs_utf8(*addresses: str) -> bool:
    return any(not address.isascii() for address in addresses)


def _failure(code: int, reply: bytes) -> tuple[int, str]:
    text = f"{code} {reply.decode(errors='replace')}"
    return (EX_TEMPFAIL if code < 500 else EX_DATAERR), text


def main(recipient: str | None, sender: str | None) -> int:
    code, message = deliver(sys.stdin.buffer, recipient, sender)
    stream = sys.stdout if code == EX_OK else sys.stderr
    print(message, file=stream)
    return code
