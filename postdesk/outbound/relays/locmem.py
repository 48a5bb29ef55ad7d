"""The ``locmem:`` relay: an in-memory twin of an SMTP relay for fast tests.

Like ``django.core.mail.backends.locmem``, every accepted transaction is appended to the
module-level :data:`sent`. Failures are scripted with :func:`fail` (a reply at RCPT or at the
end of DATA, for a number of transactions) and :func:`go_down` (the relay can't be reached or
drops the connection), so the worker's retry and failure handling is tested without sockets.
The real thing is tested against a real SMTP server beside it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from postdesk.outbound.relays import Relay, RelaySession, RelayUnavailable, Reply


@dataclass(frozen=True, slots=True)
class LocmemMail:
    mail_from: str
    recipients: tuple[str, ...]
    data: bytes


@dataclass
class _Script:
    stage: Literal["rcpt", "data", "connect", "drop"]
    reply: Reply
    times: int


sent: list[LocmemMail] = []
attempts: list[LocmemMail] = []
_scripts: list[_Script] = []
_lock = threading.Lock()


def reset() -> None:
    """Forget what was sent and every scripted failure."""
    with _lock:
        sent.clear()
        attempts.clear()
        _scripts.clear()


def fail(reply: str, *, at: Literal["rcpt", "data"] = "data", times: int = 1) -> None:
    """Answer ``reply`` (``"451 4.3.0 try later"``) at RCPT or DATA for ``times`` transactions."""
    code, _, text = reply.partition(" ")
    with _lock:
        _scripts.append(_Script(at, Reply(int(code), text), times))


def go_down(*, at: Literal["connect", "drop"] = "connect", times: int = 1) -> None:
    """Refuse the connection, or drop it during DATA, ``times`` times."""
    with _lock:
        _scripts.append(_Script(at, Reply(421, "4.4.2 connection lost"), times))


def _take(stage: str) -> Reply | None:
    with _lock:
        for script in _scripts:
            if script.stage == stage and script.times > 0:
                script.times -= 1
                return script.reply
    return None


class _LocmemSession(RelaySession):
    def send(
        self, mail_from: str, recipients: Sequence[str], data: bytes, *, smtputf8: bool = False
    ) -> dict[str, Reply]:
        mail = LocmemMail(mail_from, tuple(recipients), bytes(data))
        with _lock:
            attempts.append(mail)
        if _take("drop") is not None:
            raise RelayUnavailable("connection dropped during DATA")
        replies: dict[str, Reply] = {}
        for recipient in recipients:
            refused = _take("rcpt")
            replies[recipient] = refused or Reply(250, "2.1.5 OK")
        accepted = [r for r, reply in replies.items() if reply.accepted]
        if not accepted:
            return replies
        final = _take("data") or Reply(250, "2.0.0 queued")
        if final.accepted:
            with _lock:
                sent.append(LocmemMail(mail_from, tuple(accepted), bytes(data)))
        for recipient in accepted:
            replies[recipient] = final
        return replies


class LocmemRelay(Relay):
    scheme: ClassVar[str] = "locmem"

    @contextlib.contextmanager
    def session(self) -> Iterator[RelaySession]:
        if _take("connect") is not None:
            raise RelayUnavailable("connection refused (scripted)")
        yield _LocmemSession()
