"""The API's shared behaviour: authentication, roles, Zendesk's error bodies, pagination,
rate limiting, ``.json`` aliases and the OpenAPI document."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from django.test import Client

from postdesk.tickets import api_tokens
from postdesk.tickets.models import Group, User

from .conftest import basic

pytestmark = pytest.mark.django_db


def test_basic_email_token_auth_as_zendesk(agent: User) -> None:
    token = api_tokens.create(agent)
    response = Client().get("/api/v2/users/me.json", HTTP_AUTHORIZATION=basic(agent.email, token))
    assert response.status_code == 200
    assert response.json()["user"]["email"] == "agent@desk.test"
    assert response.json()["user"]["role"] == "agent"


def test_bearer_token_auth(agent: User) -> None:
    token = api_tokens.create(agent)
    response = Client().get("/api/v2/users/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response.json()["user"]["id"] == agent.pk


def test_token_of_another_email_is_refused(agent: User, admin: User) -> None:
    token = api_tokens.create(agent)
    response = Client().get("/api/v2/users/me", HTTP_AUTHORIZATION=basic(admin.email, token))
    assert response.status_code == 401
    assert response.json()["error"] == "Couldn't authenticate you"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_password_in_basic_auth_is_not_accepted(agent: User) -> None:
    header = "Basic " + base64.b64encode(b"agent@desk.test:correct horse 9").decode()
    assert Client().get("/api/v2/users/me", HTTP_AUTHORIZATION=header).status_code == 401


def test_revoked_token_is_refused(agent: User) -> None:
    from django.utils import timezone

    token = api_tokens.create(agent)
    agent.api_tokens.update(revoked_at=timezone.now())
    response = Client().get("/api/v2/users/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


def test_anonymous_gets_nothing(db: None) -> None:
    client = Client()
    for url in ("/api/v2/users/me", "/api/v2/groups", "/api/v2/users/1", "/api/v2/users/search"):
        response = client.get(url)
        assert response.status_code == 401, url
        assert set(response.json()) >= {"error"}


def test_end_user_with_valid_token_is_forbidden(
    end_user: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(end_user)
    for url in ("/api/v2/users/me", "/api/v2/groups", f"/api/v2/users/{end_user.pk}"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert response.json()["error"] == "Forbidden"


def test_agent_cannot_do_admin_things(agent_api: Client) -> None:
    response = agent_api.post(
        "/api/v2/groups", {"group": {"name": "Billing"}}, content_type="application/json"
    )
    assert response.status_code == 403
    response = agent_api.post(
        "/api/v2/users",
        {"user": {"email": "new-agent@desk.test", "role": "agent"}},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not Group.objects.exists()
    assert not User.objects.filter(email="new-agent@desk.test").exists()


def test_session_auth_needs_csrf_for_writes(admin: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")  # the sign-in page sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    client.force_login(admin)
    assert client.get("/api/v2/users/me").status_code == 200
    response = client.post(
        "/api/v2/groups", {"group": {"name": "Billing"}}, content_type="application/json"
    )
    assert response.status_code == 403
    assert not Group.objects.exists()
    # With the token from the cookie, as the page's script would send it.
    response = client.post(
        "/api/v2/groups",
        {"group": {"name": "Billing"}},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert response.status_code == 201


def test_not_found_has_zendesk_shape(agent_api: Client) -> None:
    response = agent_api.get("/api/v2/groups/999999.json")
    assert response.status_code == 404
    assert response.json() == {"error": "RecordNotFound", "description": "Not found"}


def test_validation_error_is_422_record_invalid(admin_api: Client) -> None:
    response = admin_api.post(
        "/api/v2/users", {"user": {"name": "No email"}}, content_type="application/json"
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "RecordInvalid"
    assert body["description"] == "Record validation errors"
    assert "email" in body["details"]
    assert {"description", "error"} <= set(body["details"]["email"][0])


def test_malformed_json_is_a_client_error(admin_api: Client) -> None:
    response = admin_api.post("/api/v2/groups", "{not json", content_type="application/json")
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_duplicate_email_is_record_invalid(admin_api: Client, agent: User) -> None:
    response = admin_api.post(
        "/api/v2/users", {"user": {"email": "AGENT@desk.test"}}, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["details"]["email"][0]["error"] == "DuplicateValue"


def test_offset_pagination(agent_api: Client) -> None:
    Group.objects.bulk_create([Group(name=f"group {n:02}") for n in range(5)])
    first = agent_api.get("/api/v2/groups.json?per_page=2").json()
    assert [g["name"] for g in first["groups"]] == ["group 00", "group 01"]
    assert first["count"] == 5
    assert first["previous_page"] is None
    assert "page=2" in first["next_page"] and first["next_page"].startswith("http")
    second = agent_api.get(first["next_page"]).json()
    assert [g["name"] for g in second["groups"]] == ["group 02", "group 03"]
    third = agent_api.get(second["next_page"]).json()
    assert [g["name"] for g in third["groups"]] == ["group 04"]
    assert third["next_page"] is None
    assert "page=2" in third["previous_page"]


def test_cursor_pagination_walks_forward_and_back(agent_api: Client) -> None:
    Group.objects.bulk_create([Group(name=f"group {n:02}") for n in range(5)])
    seen: list[str] = []
    url = "/api/v2/groups.json?page[size]=2"
    pages = []
    while url:
        body = agent_api.get(url).json()
        pages.append(body)
        seen += [g["name"] for g in body["groups"]]
        url = body["links"]["next"] if body["meta"]["has_more"] else None
    assert seen == [f"group {n:02}" for n in range(5)]
    assert pages[0]["links"]["prev"] is None
    back = agent_api.get(pages[-1]["links"]["prev"]).json()
    assert [g["name"] for g in back["groups"]] == ["group 02", "group 03"]


def test_bad_cursor_is_a_400(agent_api: Client) -> None:
    response = agent_api.get("/api/v2/groups?page[after]=%%%not-a-cursor")
    assert response.status_code == 400
    assert response.json()["error"]


def test_rate_limit_answers_429_with_retry_after(agent_api: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.POSTDESK_API_RATE_LIMIT = 3
    statuses = [agent_api.get("/api/v2/users/me").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = agent_api.get("/api/v2/users/me")
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.json()["error"] == "APIRateLimitExceeded"


def test_token_guessing_is_rate_limited(agent: User, settings) -> None:  # type: ignore[no-untyped-def]
    settings.POSTDESK_API_AUTH_FAILURES = 3
    client = Client()
    statuses = [
        client.get("/api/v2/users/me", HTTP_AUTHORIZATION=f"Bearer guess-{n}").status_code
        for n in range(5)
    ]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429]
    # Even the right token waits until the window ends: the address is blocked.
    token = api_tokens.create(agent)
    response = client.get("/api/v2/users/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 429
    assert "Retry-After" in response.headers


def test_openapi_document(db: None) -> None:
    response = Client().get("/api/v2/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "/api/v2/users/me" in document["paths"]
    schemes = document["components"]["securitySchemes"]
    assert {s.get("scheme") for s in schemes.values()} >= {"basic", "bearer"}


def test_unknown_endpoint_is_a_json_404(agent_api: Client) -> None:
    for url in ("/api/v2/nothing-here.json", "/api/v2/tickets/-1", "/api/v2/tickets/1/x"):
        response = agent_api.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]


def test_ids_beyond_64_bits_are_client_errors(agent_api: Client) -> None:
    huge = 2**63
    assert agent_api.get(f"/api/v2/tickets/{huge}").status_code == 400
    assert agent_api.get(f"/api/v2/tickets?assignee_id={huge}").status_code == 400
    response = agent_api.put(
        "/api/v2/tickets/1",
        {"ticket": {"group_id": huge}},
        content_type="application/json",
    )
    assert response.status_code == 422


def test_api_docs_page_uses_no_cdn(db: None) -> None:
    response = Client().get("/api/v2/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui-bundle.js" in html
    assert "cdn." not in html and "unpkg" not in html
