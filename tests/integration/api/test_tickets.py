"""``/api/v2/tickets`` and ``/api/v2/tickets/{id}/comments``: Zendesk's shapes, writes through
the same actions as the UI, permissions, and query counts that don't grow with the page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from postdesk.tickets import blobs
from postdesk.tickets.models import Attachment, Comment, Group, Role, Status, Ticket, User

from .conftest import make_user

pytestmark = pytest.mark.django_db


def make_ticket(requester: User, subject: str = "Printer on fire", body: str = "Help!") -> Ticket:
    ticket = Ticket.objects.create(subject=subject, requester=requester, submitter=requester)
    Comment.objects.create(ticket=ticket, author=requester, body=body)
    return ticket


@pytest.fixture
def customer(db: None) -> User:
    return make_user("ada@example.com", Role.END_USER)


def test_show_ticket_has_zendesk_shape(agent_api: Client, customer: User) -> None:
    ticket = make_ticket(customer)
    cc = make_user("bob@example.com", Role.END_USER)
    ticket.ccs.add(cc)
    body = agent_api.get(f"/api/v2/tickets/{ticket.pk}.json").json()["ticket"]
    assert body["id"] == ticket.pk
    assert body["subject"] == "Printer on fire"
    assert body["description"] == "Help!"
    assert body["status"] == "new"
    assert body["requester_id"] == customer.pk
    assert body["collaborator_ids"] == [cc.pk]
    assert body["via"]["channel"] == "email"
    assert body["via"]["source"]["from"]["address"] == "ada@example.com"
    assert body["url"].endswith(f"/api/v2/tickets/{ticket.pk}.json")
    assert body["created_at"].endswith("Z")


def test_list_tickets_offset_and_cursor(agent_api: Client, customer: User) -> None:
    tickets = [make_ticket(customer, subject=f"ticket {n}") for n in range(5)]
    body = agent_api.get("/api/v2/tickets.json?per_page=2").json()
    assert [t["id"] for t in body["tickets"]] == [tickets[0].pk, tickets[1].pk]
    assert body["count"] == 5 and body["next_page"]
    ids: list[int] = []
    url = "/api/v2/tickets.json?page[size]=2&sort=-updated_at"
    while url:
        page = agent_api.get(url).json()
        ids += [t["id"] for t in page["tickets"]]
        url = page["links"]["next"] if page["meta"]["has_more"] else None
    assert ids == [t.pk for t in reversed(tickets)]


def test_list_filters_and_search(agent_api: Client, customer: User) -> None:
    make_ticket(customer, subject="환불 요청", body="결제를 취소하고 싶습니다")
    make_ticket(customer, subject="Invoice", body="Where is my invoice?")
    found = agent_api.get("/api/v2/tickets.json", {"query": "결제를"}).json()["tickets"]
    assert [t["subject"] for t in found] == ["환불 요청"]
    found = agent_api.get("/api/v2/tickets.json", {"query": "환불"}).json()["tickets"]
    assert [t["subject"] for t in found] == ["환불 요청"]
    found = agent_api.get("/api/v2/tickets.json", {"status": "new"}).json()["tickets"]
    assert len(found) == 2


def test_create_ticket_for_a_new_requester(agent_api: Client, agent: User) -> None:
    response = agent_api.post(
        "/api/v2/tickets.json",
        {
            "ticket": {
                "subject": "Your order",
                "comment": {"body": "We shipped it.", "public": False},
                "requester": {"email": "Grace@Example.com", "name": "Grace Hopper"},
                "priority": "high",
                "tags": ["Shipping", "vip vip"],
            }
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    ticket = Ticket.objects.get(pk=body["ticket"]["id"])
    assert ticket.requester.email == "grace@example.com"
    assert ticket.requester.role == Role.END_USER
    assert ticket.priority == "high"
    assert ticket.tags == ["shipping", "vip"]
    assert body["ticket"]["description"] == "We shipped it."
    assert body["audit"]["events"][0]["type"] == "Comment"
    comment = ticket.comments.get()
    assert comment.author == agent and comment.public is False and comment.via == "api"


def test_create_without_comment_is_record_invalid(agent_api: Client) -> None:
    response = agent_api.post(
        "/api/v2/tickets", {"ticket": {"subject": "x"}}, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["details"]["comment"][0]["error"] == "BlankValue"


def test_update_status_assignee_and_internal_note(
    agent_api: Client, agent: User, customer: User
) -> None:
    ticket = make_ticket(customer)
    group = Group.objects.create(name="Billing")
    response = agent_api.put(
        f"/api/v2/tickets/{ticket.pk}.json",
        {
            "ticket": {
                "status": "pending",
                "group_id": group.pk,
                "assignee_id": agent.pk,
                "comment": {"body": "Asked finance.", "public": False},
                "additional_tags": ["finance"],
            }
        },
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    ticket.refresh_from_db()
    assert (ticket.status, ticket.group, ticket.assignee) == ("pending", group, agent)
    assert ticket.tags == ["finance"]
    note = ticket.comments.last()
    assert note is not None and note.body == "Asked finance." and not note.public
    events = response.json()["audit"]["events"]
    assert {
        "type": "Change",
        "field_name": "status",
        "value": "pending",
        "previous_value": "new",
    } in events


def test_update_without_status_opens_a_new_ticket(agent_api: Client, customer: User) -> None:
    ticket = make_ticket(customer)
    agent_api.put(
        f"/api/v2/tickets/{ticket.pk}",
        {"ticket": {"comment": {"body": "Looking", "public": False}}},
        content_type="application/json",
    )
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN


def test_assignee_must_be_an_agent(agent_api: Client, customer: User) -> None:
    ticket = make_ticket(customer)
    response = agent_api.put(
        f"/api/v2/tickets/{ticket.pk}",
        {"ticket": {"assignee_id": customer.pk}},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "assignee_id" in response.json()["details"]
    ticket.refresh_from_db()
    assert ticket.assignee is None


def test_closed_ticket_cannot_be_updated(agent_api: Client, customer: User) -> None:
    ticket = make_ticket(customer)
    Ticket.objects.filter(pk=ticket.pk).update(status=Status.CLOSED)
    response = agent_api.put(
        f"/api/v2/tickets/{ticket.pk}",
        {"ticket": {"status": "open"}},
        content_type="application/json",
    )
    assert response.status_code == 422


def test_email_ccs_put_and_delete(agent_api: Client, customer: User) -> None:
    ticket = make_ticket(customer)
    agent_api.put(
        f"/api/v2/tickets/{ticket.pk}",
        {"ticket": {"email_ccs": [{"user_email": "carol@example.com", "action": "put"}]}},
        content_type="application/json",
    )
    carol = User.objects.get(email="carol@example.com")
    assert list(ticket.ccs.all()) == [carol]
    agent_api.put(
        f"/api/v2/tickets/{ticket.pk}",
        {"ticket": {"email_ccs": [{"user_id": carol.pk, "action": "delete"}]}},
        content_type="application/json",
    )
    assert not ticket.ccs.exists()


def test_public_api_comment_is_handed_to_outbound(
    agent_api: Client, customer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public comment by API goes to the same sending path as a UI reply."""
    from postdesk.web import actions

    handed: list[Comment] = []
    monkeypatch.setattr(actions, "send_public_reply", handed.append)
    ticket = make_ticket(customer)
    agent_api.put(
        f"/api/v2/tickets/{ticket.pk}",
        {"ticket": {"comment": {"body": "Fixed it.", "public": True}}},
        content_type="application/json",
    )
    agent_api.put(
        f"/api/v2/tickets/{ticket.pk}",
        {"ticket": {"comment": {"body": "Internal.", "public": False}}},
        content_type="application/json",
    )
    assert [c.body for c in handed] == ["Fixed it."]


def test_delete_ticket_needs_admin(agent_api: Client, admin_api: Client, customer: User) -> None:
    ticket = make_ticket(customer)
    assert agent_api.delete(f"/api/v2/tickets/{ticket.pk}").status_code == 403
    assert Ticket.objects.filter(pk=ticket.pk).exists()
    assert admin_api.delete(f"/api/v2/tickets/{ticket.pk}.json").status_code == 204
    assert not Ticket.objects.filter(pk=ticket.pk).exists()
    assert admin_api.delete(f"/api/v2/tickets/{ticket.pk}").status_code == 404


def test_comments_list_with_attachments(agent_api: Client, customer: User) -> None:
    ticket = make_ticket(customer, body="first")
    second = Comment.objects.create(ticket=ticket, author=customer, body="second")
    Attachment.objects.create(
        comment=second,
        filename="log.txt",
        content_type="text/plain",
        size=5,
        sha256=blobs.store(b"hello"),
    )
    body = agent_api.get(f"/api/v2/tickets/{ticket.pk}/comments.json").json()
    assert [c["body"] for c in body["comments"]] == ["first", "second"]
    attachment = body["comments"][1]["attachments"][0]
    assert attachment["file_name"] == "log.txt"
    download = agent_api.get(attachment["content_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"hello"
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    desc = agent_api.get(f"/api/v2/tickets/{ticket.pk}/comments?sort_order=desc").json()
    assert [c["body"] for c in desc["comments"]] == ["second", "first"]


def test_end_user_and_anonymous_get_no_tickets(
    customer: User, client_for: Callable[[User], Client]
) -> None:
    ticket = make_ticket(customer)
    for client, status in ((Client(), 401), (client_for(customer), 403)):
        assert client.get("/api/v2/tickets").status_code == status
        assert client.get(f"/api/v2/tickets/{ticket.pk}").status_code == status
        assert client.get(f"/api/v2/tickets/{ticket.pk}/comments").status_code == status
        response = client.put(
            f"/api/v2/tickets/{ticket.pk}",
            {"ticket": {"status": "solved"}},
            content_type="application/json",
        )
        assert response.status_code == status
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_list_query_count_does_not_grow_with_page_size(agent_api: Client, customer: User) -> None:
    for n in range(30):
        ticket = make_ticket(customer, subject=f"t{n}")
        ticket.ccs.add(customer)
    agent_api.get("/api/v2/tickets?per_page=1")  # warm up: token last-used write
    small = _queries(agent_api, "/api/v2/tickets?per_page=2")
    large = _queries(agent_api, "/api/v2/tickets?per_page=30")
    assert small == large
    small = _queries(agent_api, "/api/v2/tickets?page[size]=2")
    large = _queries(agent_api, "/api/v2/tickets?page[size]=30")
    assert small == large


def test_comment_list_query_count_does_not_grow(agent_api: Client, customer: User) -> None:
    ticket = make_ticket(customer)
    for n in range(20):
        comment = Comment.objects.create(ticket=ticket, author=customer, body=f"c{n}")
        Attachment.objects.create(
            comment=comment, filename="a.txt", size=1, sha256=blobs.store(b"a")
        )
    agent_api.get(f"/api/v2/tickets/{ticket.pk}/comments?per_page=1")
    small = _queries(agent_api, f"/api/v2/tickets/{ticket.pk}/comments?per_page=2")
    large = _queries(agent_api, f"/api/v2/tickets/{ticket.pk}/comments?per_page=20")
    assert small == large
