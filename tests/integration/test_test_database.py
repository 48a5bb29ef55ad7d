"""The test database itself: on SQLite it lives in shared-cache memory, where a statement that
meets another thread's lock would fail at once. A page the live server renders while a worker
thread holds a write transaction must wait for it, as it would on the desk's database file
(SQLite's busy timeout), not fail with "database table is locked" (tests/conftest.py)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from postdesk.tickets.models import Group

pytestmark = pytest.mark.django_db(transaction=True)

WRITE_SECONDS = 0.3


def test_a_reader_waits_for_another_threads_write_and_sees_it_committed() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL readers never wait for writers")
    Group.objects.create(name="Billing")
    writing = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        from django.db import connection as thread_connection

        try:
            with transaction.atomic():
                Group.objects.create(name="Sales")
                writing.set()
                time.sleep(WRITE_SECONDS)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            writing.set()
        finally:
            thread_connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(10)
        started = time.monotonic()
        names = set(Group.objects.values_list("name", flat=True))
        waited = time.monotonic() - started
    finally:
        thread.join(10)
    assert not errors
    assert names == {"Billing", "Sales"}  # read after the writer committed, not before
    assert waited > 0  # it did wait (the write held its lock for WRITE_SECONDS)
