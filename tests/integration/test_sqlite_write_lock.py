"""The SQLite backend's cross-process write lock (postdesk.db.sqlite3)."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from postdesk.config import sqlite_database
from postdesk.db.sqlite3.base import DatabaseWrapper


def wrapper(path: Path) -> DatabaseWrapper:
    settings = {
        **sqlite_database(path),
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "TIME_ZONE": None,
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "TEST": {},
    }
    return DatabaseWrapper(settings, alias=f"lock-{path.name}")


def lock_is_free(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


@pytest.fixture
def database(tmp_path, django_db_blocker):
    with django_db_blocker.unblock():
        path = tmp_path / "db.sqlite3"
        first = wrapper(path)
        with first.cursor() as cursor:
            cursor.execute("CREATE TABLE t (n INTEGER)")
        yield path, first
        first.close()


def test_a_transaction_holds_the_lock_from_begin_to_commit(database):
    """As atomic() opens its transaction: BEGIN IMMEDIATE under the lock."""
    path, connection = database
    lock_path = Path(f"{path}.writelock")
    connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO t VALUES (1)")
    assert not lock_is_free(lock_path)
    connection.commit()
    connection.set_autocommit(True)
    assert lock_is_free(lock_path)
    connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    connection.rollback()
    connection.set_autocommit(True)
    assert lock_is_free(lock_path)


def test_another_writer_waits_for_the_lock_then_goes_on_at_once(database):
    path, holder = database
    waited: list[float] = []

    def autocommit_write() -> None:
        other = wrapper(path)
        started = time.monotonic()
        with other.cursor() as cursor:
            cursor.execute("INSERT INTO t VALUES (2)")
        waited.append(time.monotonic() - started)
        other.close()

    holder.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    thread = threading.Thread(target=autocommit_write)
    thread.start()
    time.sleep(0.3)
    assert not waited, "the second writer went ahead while the lock was held"
    released = time.monotonic()
    holder.commit()
    holder.set_autocommit(True)
    thread.join(5)
    assert waited and waited[0] >= 0.3
    # Woken by the kernel, not by SQLite's sleeping busy handler.
    assert time.monotonic() - released < 0.2
    with holder.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM t")
        assert cursor.fetchone() == (1,)


def test_reads_outside_a_transaction_take_no_lock(database):
    path, holder = database
    holder.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    reader = wrapper(path)
    with reader.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM t")  # would block if it took the lock
        assert cursor.fetchone() == (0,)
    reader.close()
    holder.rollback()
    holder.set_autocommit(True)
