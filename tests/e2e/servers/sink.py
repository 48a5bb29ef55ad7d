"""A capturing SMTP server for tests: the far end of an outbound relay, told when to fail.

``SmtpSink`` is an aiosmtpd ``Controller`` on 127.0.0.1:<free port> running in its own thread.
Every accepted message is kept with its envelope and exact bytes (``ReceivedMail``); every
attempt, accepted or not, is kept too (``Attempt``) so tests can count retries and duplicates.

Failures are scripted with ``fail()`` and ``drop()``, each for a number of times or for good:

- ``fail("451 4.3.0 Try again later", at="data")``: a temporary refusal (the client retries);
  ``"550 5.1.1 No such user"`` at ``"rcpt"``, ``"554 5.6.0 ..."`` at ``"data"``: permanent;
- ``drop(at="body")``: the connection is reset after the client has started sending the
  message body (RFC 5321 4.1.1.4: no reply, so nothing was accepted);
- ``drop(at="end")``: the whole message arrives, then the connection is reset before the
  reply. The client cannot tell this from a lost message, so it sends again: the one duplicate
  SMTP itself makes unavoidable (RFC 1047). The message is recorded as an attempt, not as
  received.

Optionally STARTTLS (``tls=trustme.CA``) and AUTH PLAIN/LOGIN (``credentials``) so a relay
client's TLS and authentication are exercised against a real server.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from . import (
    LOOPBACK,
    Lifecycle,
    ServerError,
    free_port,
    make_server_dir,
    remove_dir,
    wait_for_port_closed,
)

if TYPE_CHECKING:
    import trustme

Stage = Literal["mail", "rcpt", "data"]
DropPoint = Literal["body", "end"]

# A reset connection must stay reset: the handler waits here until aiosmtpd's
# connection_lost() cancels it, so nothing more is read or written on that session.
_DROP_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class ReceivedMail:
    """A message the sink accepted with ``250``: envelope and the exact bytes of DATA."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    helo: str | None
    peer: tuple[str, int]
    tls: bool
    authenticated_as: str | None
    received_at: float

    @property
    def message(self) -> EmailMessage:
        """The message parsed with the modern policy (headers as ``str``)."""
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def __getitem__(self, header: str) -> str | None:
        value = self.message[header]
        return None if value is None else str(value)


@dataclass(frozen=True)
class Attempt:
    """One MAIL transaction as the sink saw it, whatever the outcome."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    outcome: str  # "accepted", the refusal reply, or "dropped at body" / "dropped at end"
    data: bytes = b""


@dataclass
class _Rule:
    stage: str  # "mail", "rcpt", "data", "drop:body" or "drop:end"
    reply: str
    times: int | None  # None: for good

    def take(self) -> bool:
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass
class _State:
    lock: threading.Condition = field(default_factory=threading.Condition)
    messages: list[ReceivedMail] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    rules: list[_Rule] = field(default_factory=list)

    def rule_for(self, stage: str) -> _Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.stage == stage and rule.take():
                    return rule
        return None

    def record(self, attempt: Attempt, mail: ReceivedMail | None = None) -> None:
        with self.lock:
            self.attempts.append(attempt)
            if mail is not None:
                self.messages.append(mail)
            self.lock.notify_all()


class _Handler:
    """aiosmtpd handler: applies the scripted failures, records what arrives."""

    def __init__(self, state: _State) -> None:
        self.state = state

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        rule = self.state.rule_for("mail")
        if rule is not None:
            self.state.record(Attempt(_reverse_path(address), (), rule.reply))
            return rule.reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        rule = self.state.rule_for("rcpt")
        if rule is not None:
            self.state.record(Attempt(_reverse_path(envelope.mail_from), (address,), rule.reply))
            return rule.reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        mail_from = _reverse_path(envelope.mail_from)
        rcpt_tos = tuple(envelope.rcpt_tos)
        if self.state.rule_for("drop:end") is not None:
            self.state.record(Attempt(mail_from, rcpt_tos, "dropped at end", data))
            await _reset(server)
        rule = self.state.rule_for("data")
        if rule is not None:
            self.state.record(Attempt(mail_from, rcpt_tos, rule.reply, data))
            return rule.reply
        authenticated_as = session.auth_data if isinstance(session.auth_data, str) else None
        peer = session.peer if isinstance(session.peer, tuple) else (str(session.peer), 0)
        mail = ReceivedMail(
            mail_from=mail_from,
            rcpt_tos=rcpt_tos,
            data=data,
            helo=session.host_name,
            peer=(str(peer[0]), int(peer[1])),
            tls=session.ssl is not None,
            authenticated_as=authenticated_as,
            received_at=time.time(),
        )
        self.state.record(Attempt(mail_from, rcpt_tos, "accepted", data), mail)
        return "250 2.0.0 OK queued"


def _reverse_path(address: str | None) -> str:
    """The envelope sender as recorded: the null reverse-path of bounces (``MAIL FROM:<>``)
    is ``""``. aiosmtpd itself keeps ``"<>"``, whose truthiness its RCPT check relies on."""
    return "" if address in (None, "<>") else str(address)


async def _reset(server: SMTP) -> None:
    """Reset the connection (RST, no reply) and wait to be cancelled by connection_lost()."""
    transport = server.transport
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    elif transport is not None:
        transport.close()
    await asyncio.sleep(_DROP_WAIT_SECONDS)


class _SinkSMTP(SMTP):
    """aiosmtpd's SMTP with one addition: a reset while the body is being sent.

    aiosmtpd calls the handler only after the final dot, so dropping the connection in the
    middle of DATA has to happen in the protocol itself.
    """

    def __init__(self, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._sink_state = handler.state

    async def smtp_DATA(self, arg: str) -> None:
        envelope = self.envelope
        # Only a DATA command that would be accepted (recipients given, no argument) can be
        # dropped in its body; the rule is consumed only then.
        if (
            envelope is not None
            and envelope.rcpt_tos
            and not arg
            and self._sink_state.rule_for("drop:body") is not None
        ):
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            # Wait for the first line so the client is really inside the body.
            first_line = await self._reader.readuntil(b"\r\n")
            recipients = tuple(envelope.rcpt_tos)
            mail_from = _reverse_path(envelope.mail_from)
            attempt = Attempt(mail_from, recipients, "dropped at body", first_line)
            self._sink_state.record(attempt)
            await _reset(self)
            return
        await super().smtp_DATA(arg)


class _SinkController(Controller):
    def factory(self) -> SMTP:
        return _SinkSMTP(self.handler, **self.SMTP_kwargs)


class SmtpSink(Lifecycle):
    """A capturing SMTP server on 127.0.0.1:<free port>; a context manager.

    ``messages`` are the accepted mails, ``attempts`` every transaction. ``wait_for()`` blocks
    until enough mail arrived. ``fail()``/``drop()`` script failures, ``accept_all()`` clears
    them.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        hostname: str = "sink.test",
        tls: trustme.CA | None = None,
        require_starttls: bool = False,
        credentials: Mapping[str, str] | None = None,
        data_size_limit: int = 100 * 1024 * 1024,
        start_timeout: float = 10.0,
    ) -> None:
        self.host = LOOPBACK
        self.port = port or free_port()
        self.hostname = hostname
        self.tls = tls
        self.require_starttls = require_starttls
        self.credentials = dict(credentials or {})
        self.data_size_limit = data_size_limit
        self.start_timeout = start_timeout
        self._state = _State()
        self._controller: _SinkController | None = None
        self._cert_dir: Path | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def relay_url(self) -> str:
        """The ``POSTDESK_RELAY`` value that sends straight to this sink."""
        userinfo = ""
        if self.credentials:
            user, password = next(iter(self.credentials.items()))
            userinfo = f"{user}:{password}@"
        query = "?starttls=1" if self.tls is not None else ""
        return f"smtp://{userinfo}{self.host}:{self.port}{query}"

    @property
    def ca_file(self) -> Path | None:
        """PEM file of the CA that signed the STARTTLS certificate, for clients to trust."""
        return None if self._cert_dir is None else self._cert_dir / "ca.pem"

    # -- life cycle ------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        self._cert_dir = make_server_dir("sink-tls")
        leaf = self.tls.issue_cert(self.hostname, LOOPBACK, "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        self.tls.cert_pem.write_to_path(str(self._cert_dir / "ca.pem"))
        return context

    def _authenticator(self) -> Callable[..., AuthResult] | None:
        if not self.credentials:
            return None
        credentials = self.credentials

        def authenticate(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
        ) -> AuthResult:
            if not isinstance(auth_data, LoginPassword):
                return AuthResult(success=False, handled=False)
            user = auth_data.login.decode()
            ok = credentials.get(user) == auth_data.password.decode()
            return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

        return authenticate

    def start(self) -> Self:
        kwargs: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "server_hostname": self.hostname,
            "ready_timeout": self.start_timeout,
            "data_size_limit": self.data_size_limit,
            "enable_SMTPUTF8": True,
            "decode_data": False,
        }
        tls_context = self._tls_context()
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=self.require_starttls)
        authenticator = self._authenticator()
        if authenticator is not None:
            kwargs.update(
                authenticator=authenticator,
                auth_required=True,
                # Loopback tests may authenticate without TLS unless TLS is configured.
                auth_require_tls=self.tls is not None,
            )
        self._controller = _SinkController(_Handler(self._state), **kwargs)
        try:
            self._controller.start()
        except BaseException as exc:
            self._controller = None
            raise ServerError(f"SMTP sink did not start on {self.address}: {exc}") from exc
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
            if not wait_for_port_closed(self.port, 5.0):
                raise ServerError(f"SMTP sink still listening on {self.address} after stop")
        if self._cert_dir is not None:
            remove_dir(self._cert_dir)
            self._cert_dir = None

    # -- scripted failures -----------------------------------------------------------------

    def fail(self, reply: str, *, at: Stage = "data", times: int | None = None) -> None:
        """Answer ``reply`` (e.g. ``"451 4.3.0 Try again later"``) at MAIL, RCPT or the end
        of DATA, ``times`` times (``None``: until ``accept_all()``)."""
        code = reply[:3]
        if not (code.isdigit() and code[0] in "45"):
            raise ValueError(f"a failure reply starts with a 4xx or 5xx code: {reply!r}")
        with self._state.lock:
            self._state.rules.append(_Rule(at, reply, times))

    def drop(self, *, at: DropPoint = "body", times: int | None = 1) -> None:
        """Reset the connection during DATA: in the ``"body"`` or after its ``"end"``."""
        with self._state.lock:
            self._state.rules.append(_Rule(f"drop:{at}", "", times))

    def accept_all(self) -> None:
        """Forget every scripted failure: accept from now on."""
        with self._state.lock:
            self._state.rules.clear()

    # -- what arrived ----------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._state.lock:
            return list(self._state.messages)

    @property
    def attempts(self) -> list[Attempt]:
        with self._state.lock:
            return list(self._state.attempts)

    def clear(self) -> None:
        with self._state.lock:
            self._state.messages.clear()
            self._state.attempts.clear()

    def wait_for(
        self,
        count: int = 1,
        *,
        timeout: float = 30.0,
        where: Callable[[ReceivedMail], bool] | None = None,
    ) -> list[ReceivedMail]:
        """Wait until at least ``count`` accepted messages (matching ``where``) arrived and
        return them; raise ``TimeoutError`` listing what did arrive otherwise."""
        deadline = time.monotonic() + timeout
        with self._state.lock:
            while True:
                matching = [m for m in self._state.messages if where is None or where(m)]
                if len(matching) >= count:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(a.mail_from, a.rcpt_tos, a.outcome) for a in self._state.attempts]
                    raise TimeoutError(
                        f"SMTP sink {self.address}: {len(matching)} of {count} messages after "
                        f"{timeout:.0f} s; attempts seen: {seen}"
                    )
                self._state.lock.wait(remaining)

    def wait_for_attempts(self, count: int, *, timeout: float = 30.0) -> list[Attempt]:
        """Wait until at least ``count`` transactions (any outcome) were seen."""
        deadline = time.monotonic() + timeout
        with self._state.lock:
            while len(self._state.attempts) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"SMTP sink {self.address}: {len(self._state.attempts)} of {count} "
                        f"attempts after {timeout:.0f} s"
                    )
                self._state.lock.wait(remaining)
            return list(self._state.attempts)

    def __repr__(self) -> str:
        return f"<SmtpSink {self.address}>"
