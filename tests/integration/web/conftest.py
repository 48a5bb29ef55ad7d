"""Fixtures for the agent UI tests: people of each role and signed-in clients."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.test import Client

from postdesk.tickets.models import Comment, Role, Ticket, User
from tests.integration.conftest import make_user


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    caches["default"].clear()


@pytest.fixture(autouse=True)
def _english_by_default() -> None:
    from django.utils import translation

    translation.activate("en")


def make_ticket(requester: User, subject: str = "Printer on fire", body: str = "Help!") -> Ticket:
    ticket = Ticket.objects.create(subject=subject, requester=requester, submitter=requester)
    Comment.objects.create(ticket=ticket, author=requester, body=body)
    return ticket


@pytest.fixture
def customer(db: None) -> User:
    return make_user("ada@example.com", Role.END_USER)


@pytest.fixture
def agent_client(agent: User) -> Client:
    client = Client()
    client.force_login(agent)
    return client


@pytest.fixture
def admin_client(admin: User) -> Client:
    client = Client()
    client.force_login(admin)
    return client
