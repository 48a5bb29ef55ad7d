"""smtpd's own durable queue in front of the spool, for desks on SQLite.

On SQLite the whole desk shares one write lock. When smtpd stored mail straight into the
spool it had to take that lock before every ``250``, so a worker in the middle of a long
transaction (or descheduled while holding the lock on a busy machine) delayed the reply by
hundreds of milliseconds. Here smtpd makes each group of mails durable in a small SQLite
file that only it writes (WAL, fsync on commit, as an MTA's queue files) and answers ``250``
at once; a mover thread then hands the mails to ``spool.accept_many`` and forgets them.

Nothing acknowledged is lost at any point of a crash: a mail still in the journal is moved at
the next start, and ``accept_many`` is idempotent on the raw hash, so a mail moved twice (a
crash between the spool's commit and the journal's delete) is stored once.

PostgreSQL has no such single lock, so there smtpd writes to the spool directly.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from postdesk.mail.envelope import Envelope

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mail (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    raw BLOB NOT NULL,
    envelope TEXT NOT NULL
)
"""


class Journal:
    """Append-then-forget storage for raw mails and their envelopes.

    Writes from the threads of one process are ordered by a plain lock, so no thread ever
    sleeps in SQLite's busy handler; only one smtpd process is expected per journal file,
    and a second one would still be safe through SQLite's own locking.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write = threading.Lock()
        self._appender = self._connect(synchronous="FULL")
        # Forgetting a moved mail needs no fsync of its own: if a power cut loses the
        # delete, the mail is moved again and the spool recognises it by its hash.
        self._mover = self._connect(synchronous="NORMAL")
        with self._write:
            self._appender.execute(_SCHEMA)

    def _connect(self, *, synchronous: str) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        return connection

    def append(self, mails: Sequence[tuple[bytes, Envelope]]) -> list[int]:
        """Make ``mails`` durable in one commit; returns their journal ids."""
        rows = [(raw, json.dumps(envelope.as_json())) for raw, envelope in mails]
        with self._write:
            cursor = self._appender.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                ids = [
                    int(
                        cursor.execute(
                            "INSERT INTO mail (raw, envelope) VALUES (?, ?)", row
                        ).lastrowid
                        or 0
                    )
                    for row in rows
                ]
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        return ids

    def pending(self, limit: int, after: int = 0) -> list[tuple[int, bytes, Envelope | None]]:
        """The oldest mails not yet moved, with ids above ``after``. A row whose envelope
        can't be read (a damaged file) comes with ``None``: it stays, and the rest move."""
        rows = self._mover.execute(
            "SELECT id, raw, envelope FROM mail WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        ).fetchall()
        return [(row[0], bytes(row[1]), _envelope(row[0], row[2])) for row in rows]

    def forget(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        low, high = min(ids), max(ids)
        with self._write:
            if high - low + 1 == len(ids):  # the usual case: a whole batch, one range
                self._mover.execute("DELETE FROM mail WHERE id BETWEEN ? AND ?", (low, high))
            else:
                self._mover.executemany("DELETE FROM mail WHERE id = ?", [(i,) for i in ids])

    def count(self) -> int:
        return int(self._mover.execute("SELECT count(*) FROM mail").fetchone()[0])

    def close(self) -> None:
        with self._write:
            self._appender.close()
            self._mover.close()


def _envelope(journal_id: int, text: str) -> Envelope | None:
    try:
        return Envelope.from_json(json.loads(text))
    except (ValueError, TypeError, KeyError):
        logger.error("journalled mail %s has an unreadable envelope; it stays", journal_id)
        return None


def waiting_in(path: Path) -> int:
    """How many mails wait in the journal at ``path`` (for ``postdesk status``); 0 when
    there is no journal."""
    if not path.exists():
        return 0
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return int(connection.execute("SELECT count(*) FROM mail").fetchone()[0])
        finally:
            connection.close()
    except sqlite3.Error:
        return 0


class Mover:
    """Moves journalled mails into the spool in its own thread, oldest first.

    ``store`` is ``spool.accept_many`` (passed in so this module needs no Django). A batch
    that fails is retried mail by mail; a mail that still fails stays in the journal and is
    tried again after a back-off, so a database outage delays mail but never drops it.
    """

    batch_size = 64
    max_backoff = 10.0
    # After a move, gather for this long before the next one: under load a move then carries
    # dozens of mails in one spool transaction instead of a few, and costs smtpd's event loop
    # (same process, same GIL) and the shared write lock less. An idle desk's first mail
    # still moves at once.
    gather = 0.1

    def __init__(
        self, journal: Journal, store: Callable[[list[tuple[bytes, Envelope]]], Any]
    ) -> None:
        self.journal = journal
        self.store = store
        # A mail that failed on its own is tried again after its own back-off, so that it
        # neither holds up the mail behind it nor fills the log on every pass.
        self._retry_at: dict[int, tuple[float, float]] = {}  # id -> (when, back-off)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smtpd-journal", daemon=True)
        self.moved = 0  # by the last move_once

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._idle.clear()
        self._wake.set()

    def wait_idle(self, timeout: float) -> bool:
        """Block until the journal has been emptied once after the last ``wake``."""
        return self._idle.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            try:
                moved_all, moved = self.move_once(), self.moved
            except Exception:
                logger.exception("moving journalled mail into the spool failed")
                moved_all, moved = False, 0
            if moved:
                backoff = 0.0
                self._stop.wait(self.gather)
            elif moved_all:
                self._idle.set()
                self._wake.wait(1.0)
                self._wake.clear()
            else:
                # Nothing could move (the spool is down, or only mails waiting for their
                # own retry are left): back off, but new mail still wakes us.
                backoff = min(self.max_backoff, backoff * 2 or 0.25)
                self._wake.wait(backoff)
                self._wake.clear()
        # On a clean stop, hand over what is left; what cannot be moved now is moved at
        # the next start.
        try:
            self.move_once()
        except Exception:
            logger.exception("journalled mail left for the next start")

    def move_once(self) -> bool:
        """Move everything that is in the journal now; ``False`` if some mail could not
        be moved (it stays for the next try)."""
        after = 0
        clean = True
        self.moved = 0
        now = time.monotonic()
        while True:
            rows = self.journal.pending(self.batch_size, after)
            if not rows:
                return clean
            after = rows[-1][0]
            batch: list[tuple[int, bytes, Envelope]] = []
            for journal_id, raw, envelope in rows:
                if envelope is None or self._retry_at.get(journal_id, (0.0, 0.0))[0] > now:
                    clean = False
                else:
                    batch.append((journal_id, raw, envelope))
            if not batch:
                continue
            try:
                self.store([(raw, envelope) for _, raw, envelope in batch])
                moved = [journal_id for journal_id, _, _ in batch]
            except Exception:
                logger.exception("moving %d journalled mails failed; one by one", len(batch))
                moved = []
                for journal_id, raw, envelope in batch:
                    try:
                        self.store([(raw, envelope)])
                    except Exception:
                        logger.exception("journalled mail %s stays for a later try", journal_id)
                        last = self._retry_at.get(journal_id, (0.0, 0.25))[1]
                        backoff = min(self.max_backoff, last * 2)
                        self._retry_at[journal_id] = (time.monotonic() + backoff, backoff)
                        clean = False
                    else:
                        moved.append(journal_id)
            for journal_id in moved:
                self._retry_at.pop(journal_id, None)
            self.journal.forget(moved)
            self.moved += len(moved)
