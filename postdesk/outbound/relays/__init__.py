"""Relays: where the worker hands outbound mail, chosen by the ``POSTDESK_RELAY`` URL.

As Django's mail backends, every relay is a tiny class behind one interface, picked by the
URL scheme:

- ``smtp://[user:pass@]host:port[?starttls=1][&cafile=/path]`` and ``smtps://`` (implicit
  TLS): a real SMTP relay through ``smtplib`` (``relays.smtp``);
- ``outbox:``: nothing leaves the machine; the mail stays in the local outbox, readable in the
  UI (the default for a first run, ``relays.outbox``);
- ``locmem:``: an in-memory twin for fast tests, with scripted failures (``relays.locmem``).

A relay session sends one SMTP transaction at a time (one envelope sender, its recipients,
the bytes) and answers with one :class:`Reply` per recipient. A relay that can't be reached
or drops the connection before answering raises :class:`RelayUnavailable`: nothing is known
to be accepted, so the worker tries again later.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urlsplit

__all__ = [
    "Relay",
    "RelayError",
    "RelaySession",
    "RelayUnavailable",
    "Reply",
    "relay_from_url",
]


class RelayError(ValueError):
    """A ``POSTDESK_RELAY`` value Postdesk can't use."""


class RelayUnavailable(ConnectionError):
    """The relay could not be reached, or went away before it answered."""


@dataclass(frozen=True, slots=True)
class Reply:
    """An SMTP reply as it concerns one recipient (RFC 5321 4.2)."""

    code: int
    text: str

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 400

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


class RelaySession(ABC):
    """An open connection to a relay."""

    @abstractmethod
    def send(
        self, mail_from: str, recipients: Sequence[str], data: bytes, *, smtputf8: bool = False
    ) -> dict[str, Reply]:
        """One transaction; a reply for every recipient. Raises :class:`RelayUnavailable`."""


class Relay(ABC):
    """A configured relay; :meth:`session` opens a connection for a few transactions."""

    scheme: ClassVar[str]

    @property
    def name(self) -> str:
        return self.scheme

    @abstractmethod
    def session(self) -> contextlib.AbstractContextManager[RelaySession]:
        """A context manager yielding a session; raises :class:`RelayUnavailable`."""


def relay_from_url(url: str) -> Relay:
    """The relay a ``POSTDESK_RELAY`` value names."""
    from postdesk.outbound.relays.locmem import LocmemRelay
    from postdesk.outbound.relays.outbox import OutboxRelay
    from postdesk.outbound.relays.smtp import SmtpRelay

    scheme = urlsplit(url.strip()).scheme.lower()
    if scheme in ("smtp", "smtps"):
        return SmtpRelay.from_url(url)
    if scheme == "outbox":
        return OutboxRelay()
    if scheme == "locmem":
        return LocmemRelay()
    raise RelayError(f"POSTDESK_RELAY: unsupported relay {url!r} (smtp://, outbox: or locmem:)")
