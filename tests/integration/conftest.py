"""Fixtures for tests that use the database of the suite: the people most tests need, and
closing in-process servers' connections."""

from __future__ import annotations

import pytest

from postdesk.tickets.models import Role, User

PASSWORD = "correct horse 9"  # every user of make_user has it


def make_user(email: str, role: str = Role.AGENT, password: str = PASSWORD) -> User:
    return User.objects.create_user(email, password=password, role=role, name=email.split("@")[0])


@pytest.fixture
def agent(db: None) -> User:
    return make_user("agent@desk.test", Role.AGENT)


@pytest.fixture
def admin(db: None) -> User:
    return make_user("admin@desk.test", Role.ADMIN)


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
