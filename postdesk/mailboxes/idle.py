"""IMAP IDLE watchers: mail in a connected mailbox is imported within seconds (SPEC F17).

The minute poll (``tasks.queue_poll``) stays the guarantee; a watcher is only a speed-up. It
is a daemon thread in the active scheduler process with its own IMAP connection to one
mailbox: it logs in, opens the folder read-only, enters IDLE and waits. When the server
reports new mail (``EXISTS``), the watcher runs ``poll_mailbox`` for that mailbox, the same
import the minute poll runs. That import holds the mailbox's lease, moves ``last_uid`` in
the spool row's own transaction, and ``spool.accept`` is idempotent on the raw bytes, so a
watcher and a worker reading the same mailbox can't import a mail twice.

The watcher stays in IDLE while the import runs on the import's own connection: whatever
the server announces meanwhile waits in the socket and leads to one more import, so there is
no window in which an announcement goes unseen. Right after entering IDLE it imports once,
which catches mail that arrived while it was disconnected. IDLE is renewed every 25 minutes
(servers may drop a client idle for 30, RFC 2177).

Any failure (unreachable, login refused, no IDLE capability, a dropped connection) is
logged once, then the watcher backs off (5 s doubling to 5 minutes) and tries again; a
server without IDLE is asked again only every 5 minutes. ``Watchers.reconcile`` (a periodic
job) keeps one watcher per enabled mailbox and stops watchers of mailboxes that were
removed, disabled or changed; ``stop_all`` (when the scheduler stops or loses its lease)
stops them within a couple of seconds.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress

from django.db import connections
from django.utils import timezone
from imapclient import IMAPClient

from postdesk.jobs.models import Lease
from postdesk.mailboxes.connect import ConnectError, select, session
from postdesk.mailboxes.models import Mailbox
from postdesk.mailboxes.poll import credentials_of, lease_name, poll_mailbox, server_of

logger = logging.getLogger(__name__)

# Leave and re-enter IDLE this often: RFC 2177 lets servers drop a client idle for 30 min.
REFRESH = 25 * 60.0
# How long one wait for the server's news lasts: how quickly a watcher notices stop().
CHECK = 1.0
BACKOFF_FIRST = 5.0
BACKOFF_MAX = 300.0
# How long stop_all waits for the watchers in all, and a stopping watcher for DONE/LOGOUT.
STOP_WAIT = 2.0
# When a worker's poll holds the mailbox's lease, try again this often for this long (its
# poll may have searched before the new mail arrived); after that the minute poll has it.
BUSY_RETRY = 5.0
BUSY_GIVE_UP = 60.0

Connect = Callable[[Mailbox], AbstractContextManager[IMAPClient]]
Importer = Callable[[Mailbox], object]


class NoIdle(Exception):
    """The server doesn't offer IDLE: the minute poll alone reads this mailbox."""


class ConnectionLost(Exception):
    pass


def open_session(mailbox: Mailbox) -> AbstractContextManager[IMAPClient]:
    return session(server_of(mailbox), credentials_of(mailbox))


def fingerprint(mailbox: Mailbox) -> str:
    """What a watcher's connection depends on: when it changes, the watcher is replaced."""
    digest = hashlib.sha256()
    for part in (
        mailbox.host, str(mailbox.port), mailbox.tls, mailbox.username, mailbox.folder,
        mailbox.secret_kind,
    ):  # fmt: skip
        digest.update(part.encode() + b"\0")
    digest.update(bytes(mailbox.secret_sealed))
    return digest.hexdigest()


def next_delay(delay: float) -> float:
    return min(delay * 2, BACKOFF_MAX)


def _news(responses: list[tuple[object, ...]]) -> bool:
    return any(len(r) >= 2 and r[1] == b"EXISTS" for r in responses)


def _bye(responses: list[tuple[object, ...]]) -> bool:
    return any(r and r[0] == b"BYE" for r in responses)


def _close_db() -> None:
    # This thread lives long and is mostly waiting on IMAP: don't keep a database
    # connection open meanwhile (connections are per thread, so this closes only ours).
    connections.close_all()


def _lease_busy(mailbox_pk: int) -> bool:
    return Lease.objects.filter(name=lease_name(mailbox_pk), expires_at__gt=timezone.now()).exists()


class Watcher:
    """One thread watching one mailbox until ``stop()``."""

    def __init__(
        self,
        mailbox_pk: int,
        fingerprint: str,
        *,
        connect: Connect = open_session,
        importer: Importer = poll_mailbox,
        refresh: float = REFRESH,
        backoff_first: float = BACKOFF_FIRST,
    ) -> None:
        self.mailbox_pk = mailbox_pk
        self.fingerprint = fingerprint
        self.connect = connect
        self.importer = importer
        self.refresh = refresh
        self.backoff_first = backoff_first
        self.stopping = threading.Event()
        # Set while the connection is in IDLE and the catch-up import after entering it is done.
        self.idling = threading.Event()
        self.connections = 0  # times IDLE was entered on a fresh connection
        self.renewals = 0  # times IDLE was left and entered again on the same connection
        self.failures = 0
        self.last_error = ""
        self.thread = threading.Thread(
            target=self._run, name=f"imap-idle-{mailbox_pk}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.backoff_first
        try:
            while not self.stopping.is_set():
                connected = self.connections
                try:
                    if self._watch():
                        return  # stopped, or the mailbox is gone
                except Exception as exc:
                    self.idling.clear()
                    if self.connections > connected:
                        delay = self.backoff_first  # it got as far as IDLE: start afresh
                    wait = BACKOFF_MAX if isinstance(exc, NoIdle) else delay
                    self._failed(exc, wait)
                    if self.stopping.wait(wait):
                        return
                    delay = next_delay(delay)
                finally:
                    _close_db()
        finally:
            self.idling.clear()

    def _load(self) -> Mailbox | None:
        try:
            return (
                Mailbox.objects.select_related("address")
                .filter(pk=self.mailbox_pk, enabled=True)
                .first()
            )
        finally:
            _close_db()

    def _watch(self) -> bool:
        """One connection's worth of watching; True when the watcher should end."""
        mailbox = self._load()
        if mailbox is None:
            return True
        with self.connect(mailbox) as client:
            if not client.has_capability("IDLE"):
                raise NoIdle(f"{mailbox.host} does not offer IDLE")
            select(client, server_of(mailbox))
            client.idle()
            self.connections += 1
            if not self._import():
                self.idling.set()
                if self.last_error:
                    logger.info("mailbox %s: IDLE watcher connected again", self.mailbox_pk)
                    self.last_error = ""
                self._idle(client)
                self.idling.clear()
            self._leave(client)
        return True

    def _idle(self, client: IMAPClient) -> None:
        """Wait in IDLE, importing on news, until stop(); raises when the connection fails."""
        entered = time.monotonic()
        while not self.stopping.is_set():
            if time.monotonic() - entered >= self.refresh:
                _text, responses = client.idle_done()
                client.idle()
                entered = time.monotonic()
                self.renewals += 1
                if _news(responses) and self._import():
                    return
                continue
            started = time.monotonic()
            responses = client.idle_check(timeout=CHECK)
            if _bye(responses):
                raise ConnectionLost("the server closed the connection")
            if _news(responses):
                if self._import():
                    return
            elif not responses and time.monotonic() - started < CHECK / 2:
                # Woken early with nothing to read: imapclient reports a closed connection
                # as no news. DONE gets an answer only from a live server.
                client.idle_done()
                client.idle()

    def _leave(self, client: IMAPClient) -> None:
        """Leave IDLE without letting a slow server hold the scheduler's shutdown."""
        with suppress(Exception):
            client.socket().settimeout(STOP_WAIT / 2)
            client.idle_done()

    def _import(self) -> bool:
        """Import the mailbox's new mail; True when the mailbox is gone or disabled."""
        deadline = time.monotonic() + BUSY_GIVE_UP
        try:
            while True:
                mailbox = self._load()
                if mailbox is None:
                    return True
                self.importer(mailbox)
                if not _lease_busy(self.mailbox_pk) or time.monotonic() > deadline:
                    return False
                if self.stopping.wait(BUSY_RETRY):
                    return False
        finally:
            _close_db()

    def _failed(self, exc: Exception, delay: float) -> None:
        self.failures += 1
        known = ConnectError | NoIdle | ConnectionLost
        message = str(exc) if isinstance(exc, known) else repr(exc)
        if message == self.last_error:
            logger.debug("mailbox %s: IDLE watcher: %s (again)", self.mailbox_pk, message)
            return
        self.last_error = message
        logger.warning(
            "mailbox %s: IDLE watcher: %s; trying again in %g s (the minute poll goes on)",
            self.mailbox_pk, message, delay,
        )  # fmt: skip


class Watchers:
    """The watchers of one scheduler process, one per enabled mailbox."""

    def __init__(self, **watcher_options: object) -> None:
        self.watcher_options = watcher_options
        self.running: dict[int, Watcher] = {}
        # Told to stop but still finishing (an import, a connect timeout): a mailbox gets a
        # new watcher only once its old one has ended, so never two connections at once.
        self.retiring: list[Watcher] = []
        self.lock = threading.Lock()

    def reconcile(self) -> None:
        wanted = {m.pk: fingerprint(m) for m in Mailbox.objects.filter(enabled=True)}
        with self.lock:
            for pk, watcher in list(self.running.items()):
                if wanted.get(pk) != watcher.fingerprint or not watcher.alive:
                    watcher.stop()
                    self.retiring.append(self.running.pop(pk))
            self.retiring = [w for w in self.retiring if w.alive]
            busy = {w.mailbox_pk for w in self.retiring}
            for pk, print_ in wanted.items():
                if pk in self.running or pk in busy:
                    continue
                watcher = Watcher(pk, print_, **self.watcher_options)  # type: ignore[arg-type]
                self.running[pk] = watcher
                watcher.start()

    def stop_all(self, timeout: float = STOP_WAIT) -> None:
        with self.lock:
            watchers = [*self.running.values(), *self.retiring]
            self.running.clear()
            self.retiring = []
        for watcher in watchers:
            watcher.stop()
        deadline = time.monotonic() + timeout
        for watcher in watchers:
            watcher.join(max(0.0, deadline - time.monotonic()))
        left = [w.mailbox_pk for w in watchers if w.alive]
        if left:
            # Daemon threads: they end on their own (or with the process) once their
            # current network call times out.
            logger.info("IDLE watchers of mailboxes %s still finishing a network call", left)


WATCHERS = Watchers()


def reconcile() -> None:
    """Periodic job: a watcher for every enabled mailbox, none for the others."""
    WATCHERS.reconcile()


def stop_all() -> None:
    """When the scheduler stops or another one takes over: stop every watcher."""
    WATCHERS.stop_all()
