"""The SMTP envelope and connection facts that travel with a raw mail into the spool.

Every inbound transport (SMTP, LMTP, pipe, HTTP, IMAP) fills one of these; the admin later
reads it to see exactly how a mail reached the desk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class Transport:
    SMTP = "smtp"
    LMTP = "lmtp"
    PIPE = "pipe"
    HTTP = "http"
    IMAP = "imap"

    ALL = (SMTP, LMTP, PIPE, HTTP, IMAP)


@dataclass(frozen=True)
class Envelope:
    transport: str
    rcpt_tos: tuple[str, ...]
    mail_from: str = ""
    peer_ip: str = ""
    helo: str = ""
    tls: bool = False
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.transport not in Transport.ALL:
            raise ValueError(f"unknown transport {self.transport!r}")
        if not self.rcpt_tos:
            raise ValueError("an envelope needs at least one recipient")

    def as_json(self) -> dict[str, Any]:
        # Spelled out rather than dataclasses.asdict, whose deep copies smtpd paid per mail.
        return {
            "transport": self.transport,
            "rcpt_tos": list(self.rcpt_tos),
            "mail_from": self.mail_from,
            "peer_ip": self.peer_ip,
            "helo": self.helo,
            "tls": self.tls,
            "received_at": self.received_at.isoformat(),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Envelope:
        """The inverse of ``as_json``."""
        return cls(
            transport=data["transport"],
            rcpt_tos=tuple(data["rcpt_tos"]),
            mail_from=data.get("mail_from", ""),
            peer_ip=data.get("peer_ip", ""),
            helo=data.get("helo", ""),
            tls=bool(data.get("tls", False)),
            received_at=datetime.fromisoformat(data["received_at"]),
            extra=dict(data.get("extra") or {}),
        )
