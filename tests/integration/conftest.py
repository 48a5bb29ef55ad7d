"""Fixtures for tests that use the database of the suite."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _close_server_thread_connections(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Threads of in-process servers keep PostgreSQL connections open; end them so the
    test database can be dropped at the end of the session."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
