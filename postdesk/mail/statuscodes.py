"""SMTP replies Postdesk gives, named (RFC 5321 reply codes, RFC 3463 enhanced codes)."""

from __future__ import annotations

OK_RCPT = "250 2.1.5 Recipient ok"
UNKNOWN_RECIPIENT = "550 5.1.1 No such recipient here"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
TOO_LARGE = "552 5.3.4 Message too big for system"
TRY_LATER = "451 4.3.0 Temporary failure, please try again later"
TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections, try again later"
BARE_LINE_ENDING = "554 5.6.11 Bare CR or LF in message; lines must end in CRLF"
SHUTTING_DOWN = "421 4.3.2 Service shutting down"


def queued(reference: int | str) -> str:
    return f"250 2.0.0 Ok: queued as {reference}"


def is_permanent(reply: str) -> bool:
    return reply[:1] == "5"
