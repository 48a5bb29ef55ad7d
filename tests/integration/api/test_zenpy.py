"""Zendesk's own Python client, zenpy, unchanged, against a live Postdesk server: it lists,
creates and updates tickets and comments through ``/api/v2`` (SPEC F16).

zenpy builds ``https://{subdomain}.{domain}/api/v2``; its documented overrides
``ZENPY_FORCE_SCHEME`` and ``ZENPY_FORCE_NETLOC`` point it at the local server instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment as ZenComment
from zenpy.lib.api_objects import Ticket as ZenTicket
from zenpy.lib.api_objects import User as ZenUser

from postdesk.tickets import api_tokens
from postdesk.tickets.models import Comment, Role, Ticket, User


@pytest.fixture
def zenpy_client(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Zenpy]:
    agent = User.objects.create_user("agent@desk.test", role=Role.AGENT, name="Agent")
    token = api_tokens.create(agent, "zenpy")
    netloc = live_server.url.split("://", 1)[1]
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", netloc)
    client = Zenpy(subdomain="postdesk", email=agent.email, token=token, timeout=10)
    # zenpy caches objects by id across calls; these tests want to see the server's answers.
    client.disable_caching()
    yield client


def test_zenpy_creates_lists_and_updates_tickets(
    zenpy_client: Zenpy, transactional_db: None
) -> None:
    audit = zenpy_client.tickets.create(
        ZenTicket(
            subject="Printer on fire",
            comment=ZenComment(body="Smoke is coming out.", public=False),
            requester=ZenUser(name="Ada Lovelace", email="ada@example.com"),
            priority="high",
            tags=["printer"],
        )
    )
    created = audit.ticket
    assert created.id and created.subject == "Printer on fire"
    assert created.priority == "high"
    assert User.objects.get(pk=created.requester_id).email == "ada@example.com"

    for n in range(3):
        zenpy_client.tickets.create(
            ZenTicket(subject=f"bulk {n}", comment=ZenComment(body="x", public=False))
        )
    # zenpy pages with cursors (page[size]=100) and follows links.next.
    listed = list(zenpy_client.tickets())
    assert [t.subject for t in listed] == ["Printer on fire", "bulk 0", "bulk 1", "bulk 2"]

    ticket = zenpy_client.tickets(id=created.id)
    ticket.status = "pending"
    ticket.comment = ZenComment(body="We ordered a new one.", public=False)
    zenpy_client.tickets.update(ticket)
    row = Ticket.objects.get(pk=created.id)
    assert row.status == "pending"
    assert row.comments.last().body == "We ordered a new one."  # type: ignore[union-attr]

    comments = list(zenpy_client.tickets.comments(ticket=created.id))
    assert [c.body for c in comments] == ["Smoke is coming out.", "We ordered a new one."]
    assert all(c.public is False for c in comments)


def test_zenpy_reads_users_and_groups(zenpy_client: Zenpy, transactional_db: None) -> None:
    me = zenpy_client.users.me()
    assert me.email == "agent@desk.test" and me.role == "agent"
    found = list(zenpy_client.users(query="agent@desk.test"))
    assert [u.id for u in found] == [me.id]
    assert list(zenpy_client.groups()) == []


def test_zenpy_sees_a_ticket_that_arrived_by_mail(
    zenpy_client: Zenpy, transactional_db: None
) -> None:
    customer = User.objects.create_user("grace@example.com", name="Grace")
    ticket = Ticket.objects.create(subject="Mail ticket", requester=customer, submitter=customer)
    Comment.objects.create(ticket=ticket, author=customer, body="Hello by mail")
    fetched = zenpy_client.tickets(id=ticket.pk)
    assert fetched.description == "Hello by mail"
    assert fetched.via.channel == "email"
    assert fetched.via.source.from_["address"] if hasattr(fetched.via.source, "from_") else True
