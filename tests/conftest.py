"""Shared fixtures: literal test mails, running queued tasks, a live SMTP server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
from django.db.backends.signals import connection_created
from hypothesis import settings as hypothesis_settings

from tests.dkim_keys import rsa_key
from tests.unit.dns.table import TableLookup

# CI (.ci/run sets HYPOTHESIS_PROFILE=ci) must give the same answer for the same commit, so
# there the property tests draw a fixed sequence of examples; elsewhere every run explores
# new ones, which is how a developer finds the next bug before CI does.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# How long a statement on the shared-memory test database waits for another thread's lock,
# as SQLite's busy timeout makes the desk's database file wait.
SHARED_MEMORY_LOCK_WAIT_SECONDS = 10.0


def _wait_while_locked(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    """Run a statement, and while another thread's shared-cache lock refuses it, try again."""
    from django.db import OperationalError

    deadline = time.monotonic() + SHARED_MEMORY_LOCK_WAIT_SECONDS
    while True:
        try:
            return execute(sql, params, many, context)
        except OperationalError as error:
            # A refused statement did nothing, and SQLite keeps the transaction it was in.
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _wait_for_locks_in_shared_memory(sender: object, connection: Any, **kwargs: object) -> None:
    """The SQLite test database lives in shared-cache memory, where a statement that meets
    another connection's table lock fails at once with "database table is locked"; SQLite's
    busy timeout, which makes the desk's database file wait instead, does not apply there.
    So a page the live server renders while a worker thread holds a write transaction failed
    with a 500 that no desk shows. Each connection to that database waits, as on disk."""
    if (
        connection.vendor == "sqlite"
        and connection.is_in_memory_db()
        and _wait_while_locked not in connection.execute_wrappers
    ):
        connection.execute_wrappers.append(_wait_while_locked)


connection_created.connect(_wait_for_locks_in_shared_memory)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_mail(
    *,
    sender: str = "Ada Lovelace <ada@example.com>",
    to: str = "support@desk.test",
    subject: str = "Printer on fire",
    body: str = "Hello,\r\nmy printer is on fire.\r\n",
    message_id: str | None = None,
    extra_headers: str = "",
) -> bytes:
    """A small RFC 5322 mail as the bytes an MTA would hand over (CRLF line endings)."""
    message_id = message_id or make_msgid(domain="example.com")
    head = (
        f"From: {sender}\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {format_datetime(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))}\r\n"
        f"Message-ID: {message_id}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        f"{extra_headers}"
    )
    return (head + "\r\n" + body).encode("utf-8")


@pytest.fixture(autouse=True)
def _fresh_snapshots() -> Iterator[None]:
    """Tables cached in memory (``postdesk.snapshots``) must not outlive a test's database."""
    from postdesk.snapshots import clear_all

    clear_all()
    yield
    clear_all()


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """A request in Korean leaves Korean active in the thread (LocaleMiddleware activates the
    request's language and nothing deactivates it): each test starts and ends in the default
    language, so a test's wording never depends on the test that ran before it."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def inbound_dns(monkeypatch: pytest.MonkeyPatch) -> TableLookup:
    """The DNS that inbound authentication (SPEC F11) asks in tests: a table, empty unless a
    test publishes records in it (``inbound_dns.records[name] = {"TXT": [...]}``), so no test
    depends on the machine's resolver. The real DNS path is covered by tests/e2e against
    dnsmasq."""
    table = TableLookup({})
    monkeypatch.setattr("postdesk.inbound.authentication.mail_lookup", lambda: table)
    return table


@pytest.fixture
def dkim_sign(inbound_dns: TableLookup) -> Callable[..., bytes]:
    """``dkim_sign(raw, domain)``: the mail DKIM-signed by ``domain`` (selector s1), with the
    key published in ``inbound_dns``, as the sender's own mail server would sign it."""
    import dkim

    pem, record = rsa_key()

    def sign(raw: bytes, domain: str) -> bytes:
        inbound_dns.records[f"s1._domainkey.{domain}"] = {"TXT": [record]}
        headers = [b"from", b"to", b"subject", b"message-id"]
        return bytes(dkim.sign(raw, b"s1", domain.encode(), pem, include_headers=headers)) + raw

    return sign


@pytest.fixture
def mail() -> Callable[..., bytes]:
    return make_mail


def run_queued_tasks(max_tasks: int = 1000) -> int:
    """Run every task that is due, in this process, as a worker would. Returns how many."""
    from unittest import mock

    from django_tasks_db.management.commands import db_worker
    from django_tasks_db.models import DBTaskResult

    before = DBTaskResult.objects.finished().count()
    worker = db_worker.Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=max_tasks,
        worker_id="test-worker",
        excluded_queue_names=[],
    )
    # The worker closes "old" connections between tasks; inside a test's transaction that
    # would close the test's own PostgreSQL connection.
    with mock.patch.object(db_worker, "close_old_connections", lambda: None):
        worker.run()
    return DBTaskResult.objects.finished().count() - before


@pytest.fixture
def run_tasks() -> Callable[..., int]:
    return run_queued_tasks


class LiveSMTP:
    """``postdesk smtpd``'s server running in a thread of the test process."""

    def __init__(
        self, lmtp_socket: str | None = None, journal: Path | None = None, **limits: object
    ) -> None:
        from postdesk.transports.smtp import Limits

        self.port = free_port()
        self.lmtp_socket = lmtp_socket
        self.journal = journal
        self.limits = Limits(**limits)  # type: ignore[arg-type]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()
        self.task: asyncio.Task[None] | None = None

    def _run(self) -> None:
        from postdesk.transports.smtp import serve

        asyncio.set_event_loop(self.loop)
        started = asyncio.Event()

        async def main() -> None:
            self.task = asyncio.current_task()
            waiter = asyncio.ensure_future(started.wait())
            server = asyncio.ensure_future(
                serve(
                    host="127.0.0.1",
                    port=self.port,
                    lmtp_socket=self.lmtp_socket,
                    limits=self.limits,
                    hostname="desk.test",
                    ready=started,
                    journal=self.journal,
                )
            )
            await waiter
            self.ready.set()
            try:
                await server
            except asyncio.CancelledError:
                server.cancel()

        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(main())

    def __enter__(self) -> LiveSMTP:
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("SMTP server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(10)


@pytest.fixture
def live_smtp(transactional_db: None) -> Iterator[LiveSMTP]:
    with LiveSMTP() as server:
        yield server
