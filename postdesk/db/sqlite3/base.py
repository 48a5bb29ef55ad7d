"""SQLite with a fair write lock shared by every process of the desk.

SQLite lets one writer at a time in; the others wait in its busy handler, which polls with
sleeps growing to 100 ms. With smtpd, workers and the scheduler writing at once, a mail's
``250`` could wait hundreds of milliseconds for no work at all. Here every write
transaction first takes an exclusive ``flock`` on a file beside the database: waiters block
in the kernel and wake the moment the lock is released. SQLite's own locking stays in place
underneath; the flock only orders who asks. A process that dies holding it releases it.
"""

from __future__ import annotations

import fcntl
import os
from typing import Any

from django.db.backends.sqlite3 import base

_READ_ONLY = ("SELECT", "PRAGMA", "EXPLAIN", "WITH")


class WriteLock:
    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None
        self.held = False

    def acquire(self) -> None:
        if self.held:
            return
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.held = True

    def release(self) -> None:
        if self.held and self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.held = False

    def close(self) -> None:
        self.release()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class LockingCursor(base.SQLiteCursorWrapper):
    """Takes the write lock for a write statement run outside a transaction."""

    write_lock: WriteLock

    def _locked(self, query: str | None) -> bool:
        if self.connection.in_transaction or self.write_lock.held or not query:
            return False
        return not query.lstrip().upper().startswith(_READ_ONLY)

    def execute(self, query: str, params: Any = None) -> Any:
        if not self._locked(query):
            return super().execute(query, params)
        self.write_lock.acquire()
        try:
            return super().execute(query, params)
        finally:
            self.write_lock.release()

    def executemany(self, query: str, param_list: Any) -> Any:
        if not self._locked(query):
            return super().executemany(query, param_list)
        self.write_lock.acquire()
        try:
            return super().executemany(query, param_list)
        finally:
            self.write_lock.release()


class DatabaseWrapper(base.DatabaseWrapper):
    write_lock: WriteLock | None = None

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        # Decided per connection: the test runner renames the database after start-up.
        if self.write_lock is not None:
            self.write_lock.close()
        name = self.settings_dict["NAME"]
        self.write_lock = None if self.is_in_memory_db() else WriteLock(f"{name}.writelock")
        return super().get_new_connection(conn_params)

    def create_cursor(self, name: str | None = None) -> Any:
        if self.write_lock is None:
            return super().create_cursor(name)
        cursor = self.connection.cursor(factory=LockingCursor)
        cursor.write_lock = self.write_lock
        return cursor

    def _start_transaction_under_autocommit(self) -> None:
        if self.write_lock is None:
            super()._start_transaction_under_autocommit()
            return
        self.write_lock.acquire()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self.write_lock.release()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            if self.write_lock is not None:
                self.write_lock.release()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            if self.write_lock is not None:
                self.write_lock.release()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            if self.write_lock is not None:
                self.write_lock.close()
