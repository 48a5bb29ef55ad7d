"""``/api/v2/suspended_tickets`` as a Zendesk client sees it: shapes, sorting, pagination,
recover, recover_many, delete, destroy_many, and their errors."""

from __future__ import annotations

import pytest

from postdesk.suspension.models import SenderListEntry, SenderListKind, SuspendedMail
from postdesk.tickets.models import Ticket
from tests.integration.suspension.conftest import api_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(mail, spool_mail, screen_mail):
    """Three suspended mails, oldest first."""
    SenderListEntry.objects.create(kind=SenderListKind.BLOCK, value="spam.example")
    entries = []
    for name, subject in (("carol", "Banana"), ("alice", "Cherry"), ("bob", "Apple")):
        message = spool_mail(mail(sender=f"{name.title()} <{name}@spam.example>", subject=subject))
        screen_mail(message)
        entries.append(SuspendedMail.objects.get(inbound=message))
    return entries


def test_list_has_zendesks_shape_and_wrapping(agent_api, queue):
    response = agent_api.get("/api/v2/suspended_tickets")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["next_page"] is None and body["previous_page"] is None
    newest = body["suspended_tickets"][0]
    assert newest["id"] == queue[-1].pk
    assert newest["author"] == {"id": None, "name": "Bob", "email": "bob@spam.example"}
    assert newest["cause"] == "Email is from a blocklisted sender or domain"
    assert (newest["cause_id"], newest["cause_name"]) == (13, "blocklisted")
    assert newest["subject"] == "Apple"
    assert "my printer is on fire" in newest["content"]
    assert newest["recipient"] == "support@desk.test"
    assert newest["url"].endswith(f"/api/v2/suspended_tickets/{queue[-1].pk}.json")
    assert newest["via"]["channel"] == "email"
    assert newest["created_at"].endswith("Z")


@pytest.mark.parametrize(
    ("sort_by", "sort_order", "subjects"),
    [
        ("subject", "asc", ["Apple", "Banana", "Cherry"]),
        ("author_email", "desc", ["Banana", "Apple", "Cherry"]),
        ("created_at", "asc", ["Banana", "Cherry", "Apple"]),
    ],
)
def test_sorting(agent_api, queue, sort_by, sort_order, subjects):
    response = agent_api.get(
        "/api/v2/suspended_tickets.json", {"sort_by": sort_by, "sort_order": sort_order}
    )
    assert [item["subject"] for item in response.json()["suspended_tickets"]] == subjects


def test_offset_and_cursor_pagination(agent_api, queue):
    first = agent_api.get("/api/v2/suspended_tickets", {"per_page": 2}).json()
    assert len(first["suspended_tickets"]) == 2
    assert "page=2" in first["next_page"]
    second = agent_api.get("/api/v2/suspended_tickets", {"per_page": 2, "page": 2}).json()
    assert [item["id"] for item in second["suspended_tickets"]] == [queue[0].pk]
    cursor = agent_api.get("/api/v2/suspended_tickets", {"page[size]": 2}).json()
    assert cursor["meta"]["has_more"] is True
    rest = agent_api.get(
        "/api/v2/suspended_tickets",
        {"page[size]": 2, "page[after]": cursor["meta"]["after_cursor"]},
    ).json()
    assert [item["id"] for item in rest["suspended_tickets"]] == [queue[0].pk]


def test_show_and_unknown_ids(agent_api, queue):
    shown = agent_api.get(f"/api/v2/suspended_tickets/{queue[0].pk}").json()
    assert shown["suspended_ticket"]["subject"] == "Banana"
    missing = agent_api.get("/api/v2/suspended_tickets/999999")
    assert missing.status_code == 404
    assert missing.json()["error"] == "RecordNotFound"


def test_recover_one_keeps_the_requester_and_twice_is_an_error(agent_api, queue):
    response = agent_api.put(f"/api/v2/suspended_tickets/{queue[0].pk}/recover")
    assert response.status_code == 200
    recovered = response.json()["ticket"][0]
    ticket = Ticket.objects.get()
    assert recovered["ticket_id"] == ticket.pk
    assert ticket.requester.email == "carol@spam.example"
    again = agent_api.put(f"/api/v2/suspended_tickets/{queue[0].pk}/recover")
    assert again.status_code == 422
    failure = again.json()["suspended_tickets"][0]
    assert failure["id"] == queue[0].pk
    assert failure["error_messages"] == ["This mail was already recovered."]
    assert Ticket.objects.count() == 1
    assert agent_api.put("/api/v2/suspended_tickets/999999/recover").status_code == 404


def test_recover_many_recovers_the_good_ids_and_reports_the_rest(agent_api, queue):
    ids = f"{queue[0].pk},{queue[1].pk},999999"
    response = agent_api.put(f"/api/v2/suspended_tickets/recover_many?ids={ids}")
    assert response.status_code == 422
    failed = response.json()["suspended_tickets"]
    assert [(item["id"], item["error_messages"]) for item in failed] == [
        (999999, ["No such suspended mail."])
    ]
    assert Ticket.objects.count() == 2
    response = agent_api.put(f"/api/v2/suspended_tickets/recover_many?ids={queue[2].pk}")
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["tickets"]] == [queue[2].pk]
    bad = agent_api.put("/api/v2/suspended_tickets/recover_many?ids=1,abc")
    assert bad.status_code == 422
    assert "ids" in bad.json()["details"]


def test_delete_and_destroy_many(agent_api, queue):
    assert agent_api.delete(f"/api/v2/suspended_tickets/{queue[0].pk}").status_code == 204
    assert agent_api.delete(f"/api/v2/suspended_tickets/{queue[0].pk}").status_code == 404
    assert agent_api.get(f"/api/v2/suspended_tickets/{queue[0].pk}").status_code == 404
    # One unknown id: nothing at all is deleted.
    typo = agent_api.delete(f"/api/v2/suspended_tickets/destroy_many?ids={queue[1].pk},777777")
    assert typo.status_code == 422
    assert SuspendedMail.objects.pending().count() == 2
    ids = f"{queue[1].pk},{queue[2].pk}"
    assert agent_api.delete(f"/api/v2/suspended_tickets/destroy_many?ids={ids}").status_code == 204
    assert not SuspendedMail.objects.pending().exists()
    assert not Ticket.objects.exists()


def test_only_agents_may_use_it(client, end_user, queue):
    assert client.get("/api/v2/suspended_tickets").status_code == 401
    customer = api_client(end_user)
    assert customer.get("/api/v2/suspended_tickets").status_code == 403
    assert customer.put(f"/api/v2/suspended_tickets/{queue[0].pk}/recover").status_code == 403
    assert not Ticket.objects.exists()
