"""The test database itself: on SQLite it lives in shared-cache memory, and a page the live
server renders while a worker thread holds a write transaction must still read (as it would
on the desk's WAL file), not fail with "database table is locked"."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from postdesk.tickets.models import Group

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reader_does_not_fail_while_another_thread_writes() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL readers never wait for writers")
    Group.objects.create(name="Billing")
    writing = threading.Event()
    read_done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        from django.db import connection as thread_connection

        try:
            with transaction.atomic():
                Group.objects.create(name="Sales")
                writing.set()
                read_done.wait(10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            thread_connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(10)
        assert "Billing" in set(Group.objects.values_list("name", flat=True))
    finally:
        read_done.set()
        thread.join(10)
    assert not errors
    assert set(Group.objects.values_list("name", flat=True)) >= {"Billing", "Sales"}
