"""Property-based fuzzing of ``/api/v2`` from its own OpenAPI document with schemathesis:
whatever the request — odd ids, cursors, tags, unicode, missing fields — the answer is never
a server error (5xx), and every error uses Zendesk's JSON shape."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core.cache import caches
from hypothesis import HealthCheck, settings

from postdesk.tickets import api_tokens
from postdesk.tickets.models import Comment, Group, Role, Ticket, User
from postdesk.wsgi import application

# Building the document needs no database: it is read through the WSGI app at collection.
schema = schemathesis.openapi.from_wsgi("/api/v2/openapi.json", application)


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Any:
    """Requests reach Django through WSGI here, not its test client: stop the end of each
    request from closing the connection that holds the test's transaction (the test client
    does the same)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def admin_authorization(db: None, settings: Any) -> dict[str, str]:
    settings.POSTDESK_API_RATE_LIMIT = 1_000_000
    caches["default"].clear()
    admin = User.objects.create_user("admin@desk.test", role=Role.ADMIN, name="Admin")
    customer = User.objects.create_user("ada@example.com", name="Ada")
    group = Group.objects.create(name="Support")
    for n in range(3):
        ticket = Ticket.objects.create(
            subject=f"ticket {n}", requester=customer, submitter=customer, group=group
        )
        Comment.objects.create(ticket=ticket, author=customer, body=f"body {n}")
    return {"Authorization": f"Bearer {api_tokens.create(admin)}"}


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_never_answers_5xx(case: Any, admin_authorization: dict[str, str]) -> None:
    response = case.call(headers=admin_authorization)
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    if response.status_code >= 400 and response.status_code != 405:
        assert "error" in response.json(), response.text[:500]
