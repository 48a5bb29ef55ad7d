"""Fixtures for API tests: users of each role, their API tokens, and clients using them."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from django.core.cache import caches
from django.test import Client

from postdesk.tickets import api_tokens
from postdesk.tickets.models import Role, User
from tests.integration.conftest import make_user


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    # Counters live in the cache; one test's requests must not throttle the next.
    caches["default"].clear()


@pytest.fixture
def end_user(db: None) -> User:
    return make_user("customer@example.com", Role.END_USER)


def basic(email: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()


@pytest.fixture
def client_for() -> Callable[[User], Client]:
    """A test client sending Zendesk's Basic ``email/token:TOKEN`` for ``user``."""

    def make(user: User) -> Client:
        token = api_tokens.create(user, "test")
        return Client(HTTP_AUTHORIZATION=basic(user.email, token))

    return make


@pytest.fixture
def agent_api(agent: User, client_for: Callable[[User], Client]) -> Client:
    return client_for(agent)


@pytest.fixture
def admin_api(admin: User, client_for: Callable[[User], Client]) -> Client:
    return client_for(admin)
