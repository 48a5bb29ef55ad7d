"""The desk's SMTP server and its LMTP twin (aiosmtpd), the ``postdesk smtpd`` process.

The protocol side knows nothing of policy: ``SpoolHandler`` decides recipients and hands the
bytes to ``spool.accept``. The event loop never blocks: database work runs in a thread
through ``sync_to_async``. Nothing is parsed here.

RFC 5321 (SMTP), RFC 2033 (LMTP), RFC 1870 (SIZE), RFC 6531 (SMTPUTF8). Bare CR or LF inside
DATA is refused (RFC 5321 §2.3.8): accepting it is what makes SMTP smuggling possible.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from pathlib import Path
from typing import Any, AnyStr

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from asgiref.sync import sync_to_async

from postdesk.mail import statuscodes
from postdesk.mail.envelope import Envelope, Transport
from postdesk.transports.smtp_journal import Journal, Mover

logger = logging.getLogger(__name__)


def has_bare_line_ending(raw: bytes) -> bool:
    """A CR or LF that is not part of a CRLF pair (the stuff of SMTP smuggling). Once the
    pairs are gone any CR or LF left is bare; bytes operations keep this a fraction of the
    cost of a look-around regex over every mail."""
    rest = raw.replace(b"\r\n", b"")
    return b"\r" in rest or b"\n" in rest


@dataclass(frozen=True)
class Limits:
    max_message_size: int = 50 * 1024 * 1024
    max_recipients: int = 100
    max_connections: int = 200
    idle_timeout: float = 300.0
    max_line_length: int = 1024 * 1024
    desk_domain: str = ""


def is_desk_recipient(address: str, desk_domain: str) -> bool:
    local, at, domain = address.strip().rpartition("@")
    return bool(desk_domain and at and local and domain.lower() == desk_domain)


class GroupCommitter:
    """Stores the mails of concurrent SMTP sessions together, one transaction per batch.

    Every commit costs an fsync and, on SQLite, the one write lock; twenty sessions each
    committing alone queue behind each other. Here a single thread commits whatever has
    gathered while the previous batch was being written (group commit), so a burst costs a
    few commits instead of one per mail. A batch that fails is retried mail by mail, so one
    bad mail cannot make its neighbours fail.
    """

    def __init__(
        self, store: Callable[[list[tuple[bytes, Envelope]]], list[str]], max_batch: int = 64
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self.queue: asyncio.Queue[tuple[bytes, Envelope, asyncio.Future[str]]] = asyncio.Queue()
        self.runner: asyncio.Task[None] | None = None

    async def submit(self, raw: bytes, envelope: Envelope) -> str:
        """Store one mail with whatever else is waiting; returns its queue reference."""
        loop = asyncio.get_running_loop()
        if self.runner is None or self.runner.done():
            self.runner = loop.create_task(self._run())
        future: asyncio.Future[str] = loop.create_future()
        await self.queue.put((raw, envelope, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            mails = [(raw, envelope) for raw, envelope, _ in batch]
            try:
                results = await loop.run_in_executor(self.executor, self.store, mails)
            except Exception:
                logger.exception("storing a batch of %d failed; storing one by one", len(batch))
                for raw, envelope, future in batch:
                    try:
                        single = await loop.run_in_executor(
                            self.executor, self.store, [(raw, envelope)]
                        )
                    except Exception as exc:
                        if not future.done():
                            future.set_exception(exc)
                    else:
                        if not future.done():
                            future.set_result(single[0])
                continue
            for (_, _, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    def close(self) -> None:
        if self.runner is not None:
            self.runner.cancel()
        self.executor.shutdown(wait=True)


class SpoolHandler:
    """aiosmtpd handler: RCPT policy and DATA into the spool."""

    def __init__(
        self, limits: Limits, committer: GroupCommitter, transport: str = Transport.SMTP
    ) -> None:
        self.limits = limits
        self.transport = transport
        self.committer = committer
        self._check_recipient = sync_to_async(_accepts_recipient, thread_sensitive=False)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: SmtpEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= self.limits.max_recipients:
            return statuscodes.TOO_MANY_RECIPIENTS
        try:
            # The desk domain takes any local part (the common case) and needs no database
            # round trip; other domains must be registered support addresses.
            known = is_desk_recipient(address, self.limits.desk_domain) or (
                await self._check_recipient(address)
            )
        except Exception:
            logger.exception("recipient check failed")
            return statuscodes.TRY_LATER
        if not known:
            logger.info("refused recipient %s", address)  # the log filter redacts it
            return statuscodes.UNKNOWN_RECIPIENT
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return statuscodes.OK_RCPT

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        raw = envelope.original_content or b""
        if has_bare_line_ending(raw):
            return self._per_recipient(server, envelope, statuscodes.BARE_LINE_ENDING)
        peer = session.peer
        spool_envelope = Envelope(
            transport=self.transport,
            rcpt_tos=tuple(envelope.rcpt_tos),
            mail_from=envelope.mail_from or "",
            peer_ip=str(peer[0]) if isinstance(peer, tuple) else "",
            helo=session.host_name or "",
            tls=session.ssl is not None,
            extra=dict(getattr(session, "xforward", {}) or {}),
        )
        if len(raw) > self.limits.max_message_size:
            return self._per_recipient(server, envelope, statuscodes.TOO_LARGE)
        try:
            reference = await self.committer.submit(raw, spool_envelope)
        except Exception:
            logger.exception("spooling failed; asking the client to retry")
            return self._per_recipient(server, envelope, statuscodes.TRY_LATER)
        return self._per_recipient(server, envelope, statuscodes.queued(reference))

    def _per_recipient(self, server: SMTP, envelope: SmtpEnvelope, reply: str) -> str:
        # LMTP answers DATA once per recipient (RFC 2033 §4.2); the stored mail is one row
        # for all of them, so every recipient gets the same answer.
        if isinstance(server, LMTP):
            return "\r\n".join([reply] * len(envelope.rcpt_tos))
        return reply


def _accepts_recipient(address: str) -> bool:
    from django.db import close_old_connections

    from postdesk.channels.addresses import accepts_recipient

    close_old_connections()
    return accepts_recipient(address)


def _accept_batch(mails: list[tuple[bytes, Envelope]]) -> list[Any]:
    from django.db import close_old_connections

    from postdesk.spool.accept import accept_many

    close_old_connections()
    return accept_many(mails)


def _spool_directly(mails: list[tuple[bytes, Envelope]]) -> list[str]:
    return [str(accepted.message_id) for accepted in _accept_batch(mails)]


class _Journalled:
    """The committer's store when smtpd has a journal: durable in the journal, then moved."""

    def __init__(self, path: Path) -> None:
        self.journal = Journal(path)
        self.mover = Mover(self.journal, _accept_batch)

    def __call__(self, mails: list[tuple[bytes, Envelope]]) -> list[str]:
        ids = self.journal.append(mails)
        self.mover.wake()
        return [f"J{journal_id}" for journal_id in ids]

    def close(self) -> None:
        self.mover.stop()
        self.journal.close()


class _SizeReplies:
    """aiosmtpd refuses an oversize mail itself, at ``MAIL FROM ... SIZE=`` and when DATA
    runs over, with "552 Error: ..." and no enhanced status code; MTAs read RFC 3463's
    ``5.3.4`` to tell "too big" from other permanent failures, so those replies become
    ours."""

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str) and status.startswith("552 Error:"):
            status = statuscodes.TOO_LARGE
        await super().push(status)  # type: ignore[misc]


class _AddressParsing:
    """MAIL and RCPT address parsing without aiosmtpd's cost: its ``_getaddr`` defines a
    ``typing.Protocol`` class on every call, which under load was a twentieth of smtpd's
    CPU. Same parser (the email package's), same answers, except where that parser breaks:
    on a lone ``"`` it raises IndexError, which aiosmtpd would answer with a 500 naming the
    exception; here it is the malformed address it is."""

    local_part_limit: int

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        if not arg:
            return "", ""
        parse = get_angle_addr if arg.lstrip().startswith("<") else get_addr_spec
        try:
            parsed, rest = parse(arg)
            address = str(parsed.addr_spec)
        except (HeaderParseError, IndexError):
            return None, None
        local_part = address.rpartition("@")[0]
        if self.local_part_limit and len(local_part) > self.local_part_limit:
            return None, None
        return address, rest


class DeskSMTP(_SizeReplies, _AddressParsing, SMTP):
    """SMTP with long DATA lines allowed (real mail has them) and XFORWARD from loopback,
    which ``postdesk deliver`` uses to say the mail came through an MTA pipe."""

    line_length_limit = Limits.max_line_length

    async def smtp_XFORWARD(self, arg: str) -> None:
        session = self.session
        peer = session.peer if session is not None else None
        if session is None or not (
            isinstance(peer, tuple) and str(peer[0]) in ("127.0.0.1", "::1")
        ):
            await self.push("550 5.7.0 XFORWARD not allowed from this address")
            return
        values = dict(item.partition("=")[::2] for item in (arg or "").split())
        session.xforward = {k.lower(): v[:255] for k, v in values.items()}
        await self.push("250 2.0.0 Ok")


class DeskLMTP(_SizeReplies, _AddressParsing, LMTP):
    line_length_limit = Limits.max_line_length


class _ConnectionCounter:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0


def _protocol_factory(
    protocol_class: type[SMTP],
    handler: SpoolHandler,
    limits: Limits,
    counter: _ConnectionCounter,
    hostname: str,
    tls_context: ssl.SSLContext | None,
) -> Any:
    def make() -> SMTP:
        server = protocol_class(
            handler,
            data_size_limit=limits.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=hostname,
            ident="Postdesk",
            timeout=limits.idle_timeout,
            tls_context=tls_context,
        )
        original_made = server.connection_made
        original_lost = server.connection_lost
        rejected = False

        def connection_made(transport: asyncio.BaseTransport) -> None:
            nonlocal rejected
            counter.open += 1
            if counter.open > counter.limit:
                rejected = True
                transport.write((statuscodes.TOO_MANY_CONNECTIONS + "\r\n").encode())  # type: ignore[attr-defined]
                transport.close()
                return
            original_made(transport)

        def connection_lost(error: Exception | None) -> None:
            counter.open -= 1
            if not rejected:
                original_lost(error)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]
        return server

    return make


async def serve(
    *,
    host: str,
    port: int,
    lmtp_socket: str | None,
    limits: Limits,
    hostname: str,
    tls_context: ssl.SSLContext | None = None,
    ready: asyncio.Event | None = None,
    journal: Path | None = None,
) -> None:
    """Run the SMTP listener (and the LMTP socket if asked) until cancelled or signalled.

    With ``journal``, mail is acknowledged once it is durable in that file and moved into
    the spool right after (see ``smtp_journal``); without, it goes to the spool directly.
    """
    loop = asyncio.get_running_loop()
    counter = _ConnectionCounter(limits.max_connections)
    journalled = _Journalled(journal) if journal is not None else None
    if journalled is not None:
        # Whatever a crash left in the journal goes first.
        journalled.mover.start()
        journalled.mover.wake()
    committer = GroupCommitter(journalled or _spool_directly)
    servers = []
    smtp_factory = _protocol_factory(
        DeskSMTP,
        SpoolHandler(limits, committer, Transport.SMTP),
        limits,
        counter,
        hostname,
        tls_context,
    )
    servers.append(await loop.create_server(smtp_factory, host=host, port=port))
    logger.info("SMTP listening on %s:%s", host, port)
    if lmtp_socket:
        Path(lmtp_socket).unlink(missing_ok=True)
        lmtp_factory = _protocol_factory(
            DeskLMTP,
            SpoolHandler(limits, committer, Transport.LMTP),
            limits,
            counter,
            hostname,
            None,
        )
        servers.append(await loop.create_unix_server(lmtp_factory, path=lmtp_socket))
        os.chmod(lmtp_socket, 0o660)
        logger.info("LMTP listening on %s", lmtp_socket)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Outside the main thread (tests) there are no signals: cancellation stops us.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        for server in servers:
            server.close()
            # A client cut off mid-DATA never got 250, so it will send again.
            server.close_clients()
            await server.wait_closed()
        committer.close()
        if journalled is not None:
            await loop.run_in_executor(None, journalled.close)
