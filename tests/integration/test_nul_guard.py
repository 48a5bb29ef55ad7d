"""API input with NUL characters gets 422, never a database error (found by schemathesis
against PostgreSQL: a group named "\\u0000")."""

from __future__ import annotations

import json

import pytest

from postdesk.operations import create_admin
from postdesk.tickets.models import Group

pytestmark = pytest.mark.django_db

TOKEN = "n" * 32


@pytest.fixture
def auth() -> dict[str, str]:
    create_admin("root@desk.test", "long enough pw", api_token=TOKEN)
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("name", ["\x00", "a\x00b"])
def test_a_nul_in_a_json_body_is_refused(client, auth, name):
    response = client.post(
        "/api/v2/groups",
        json.dumps({"group": {"name": name}}),
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 422
    assert response.json()["error"] == "RecordInvalid"
    assert Group.objects.count() == 0


def test_a_nul_in_the_query_string_is_refused(client, auth):
    response = client.get("/api/v2/users/search?query=a%00b", headers=auth)
    assert response.status_code == 422


def test_ordinary_requests_pass(client, auth):
    response = client.post(
        "/api/v2/groups",
        json.dumps({"group": {"name": "Billing"}}),
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 201
