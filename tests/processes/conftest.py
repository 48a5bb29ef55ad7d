"""Fixtures for tests that run real ``postdesk`` processes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.processes.harness import Database, Desk


@pytest.fixture
def desk() -> Iterator[Desk]:
    """A migrated desk on the suite's database kind (SQLite, or PostgreSQL when the suite
    runs with POSTDESK_DATABASE_URL)."""
    base = os.environ.get("POSTDESK_DATABASE_URL")
    with Database(base) as database, Desk(database.url) as running:
        running.migrate()
        yield running
