"""The agent UI: views with counts, sorting, paging and search; the ticket page with the
conversation, attachments, quotes and arrival diagnostics; replies, notes and changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from postdesk.mail.envelope import Envelope
from postdesk.spool.accept import accept
from postdesk.tickets import blobs
from postdesk.tickets.models import Attachment, Comment, Group, Role, Status, Ticket, User
from postdesk.web import actions

from .conftest import make_ticket, make_user

pytestmark = pytest.mark.django_db


def deliver(raw: bytes, run_tasks: Callable[..., int]) -> Ticket:
    envelope = Envelope(
        transport="smtp", rcpt_tos=("support@desk.test",), mail_from="ada@example.com",
        peer_ip="192.0.2.7", helo="mail.example.com",
    )  # fmt: skip
    message_id = accept(raw, envelope).message_id
    run_tasks()
    return Ticket.objects.get(inbound__pk=message_id)


def test_views_show_counts_and_filter(agent_client: Client, agent: User, customer: User) -> None:
    billing = Group.objects.create(name="Billing")
    make_ticket(customer, "new one")
    mine = make_ticket(customer, "mine")
    Ticket.objects.filter(pk=mine.pk).update(status=Status.OPEN, assignee=agent, group=billing)
    solved = make_ticket(customer, "solved one")
    Ticket.objects.filter(pk=solved.pk).update(status=Status.SOLVED)
    response = agent_client.get("/?view=mine")
    rows = response.context["queue_rows"]
    counts = {row["slug"]: row["count"] for row in rows}
    assert counts["new"] == 1 and counts["open"] == 1 and counts["solved"] == 1
    assert counts["mine"] == 1 and counts["all"] == 3 and counts["unassigned"] == 1
    assert response.context["group_rows"] == [
        {"slug": f"group-{billing.pk}", "label": "Billing", "count": 1}
    ]
    assert [t.subject for t in response.context["page"]] == ["mine"]
    group_view = agent_client.get(f"/?view=group-{billing.pk}")
    assert [t.subject for t in group_view.context["page"]] == ["mine"]
    assert b"Billing" in group_view.content


def test_sorting_and_paging(agent_client: Client, customer: User) -> None:
    for n in range(30):
        make_ticket(customer, f"ticket {n:02}")
    page = agent_client.get("/?view=new&sort=subject&per_page=25")
    subjects = [t.subject for t in page.context["page"]]
    assert subjects == [f"ticket {n:02}" for n in range(25)]
    second = agent_client.get("/?view=new&sort=-subject&per_page=25&page=2")
    assert [t.subject for t in second.context["page"]] == [
        f"ticket {n:02}" for n in range(4, -1, -1)
    ]
    assert b'aria-sort="descending"' in second.content
    assert "per_page=25" in second.content.decode()  # links keep the parameters


def test_search_by_subject_text_and_requester(agent_client: Client, customer: User) -> None:
    other = make_user("grace@navy.example", Role.END_USER)
    make_ticket(customer, "배송 문의", "택배가 아직 도착하지 않았어요")
    make_ticket(other, "Refund", "Please refund order 1234")

    def found(q: str) -> list[str]:
        return [t.subject for t in agent_client.get("/", {"q": q}).context["page"]]

    assert found("도착하지") == ["배송 문의"]
    assert found("배송") == ["배송 문의"]
    assert found("refund") == ["Refund"]
    assert found("navy.example") == ["Refund"]
    assert found("order 1234") == ["Refund"]
    assert found("nothing-like-this") == []


def test_search_follows_new_comments(agent_client: Client, agent: User, customer: User) -> None:
    ticket = make_ticket(customer, "Quiet ticket")
    actions.update_ticket(
        ticket.pk,
        agent,
        actions.TicketChanges(),
        actions.NewComment(body="zebra crossing", public=False),
    )
    assert [t.pk for t in agent_client.get("/", {"q": "zebra"}).context["page"]] == [ticket.pk]
    Comment.objects.filter(body="zebra crossing").update(body="giraffe")
    assert list(agent_client.get("/", {"q": "zebra"}).context["page"]) == []
    assert [t.pk for t in agent_client.get("/", {"q": "giraffe"}).context["page"]] == [ticket.pk]


HTML_MAIL = (
    b"From: Ada <ada@example.com>\r\nTo: support@desk.test\r\nSubject: Screenshot\r\n"
    b"Message-ID: <html-1@example.com>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/related; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b'<p>See <b>this</b>:</p><img src="cid:shot@example.com" alt="shot">'
    b'<script>alert(1)</script><p onclick="alert(2)">click</p>\r\n'
    b"--b1\r\nContent-Type: image/png\r\nContent-ID: <shot@example.com>\r\n"
    b"Content-Transfer-Encoding: base64\r\nContent-Disposition: inline; filename=shot.png\r\n\r\n"
    b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\r\n"
    b"--b1\r\nContent-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment; filename=notes.txt\r\n\r\n"
    b"some notes\r\n--b1--\r\n"
)


def test_ticket_page_shows_conversation_safely(
    agent_client: Client, run_tasks: Callable[..., int]
) -> None:
    ticket = deliver(HTML_MAIL, run_tasks)
    page = agent_client.get(reverse("ticket", args=[ticket.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "<b>this</b>" in html
    assert "<script>alert(1)" not in html and "onclick" not in html
    inline = Attachment.objects.get(comment__ticket=ticket, filename="shot.png")
    assert f'src="/attachments/{inline.pk}/shot.png?inline=1"' in html
    assert "notes.txt" in html  # a real attachment is listed for download
    image = agent_client.get(f"/attachments/{inline.pk}/shot.png?inline=1")
    assert image["Content-Type"] == "image/png" and "attachment" not in image["Content-Disposition"]
    notes = Attachment.objects.get(comment__ticket=ticket, filename="notes.txt")
    download = agent_client.get(reverse("attachment", args=[notes.pk, "notes.txt"]))
    assert download["Content-Disposition"].startswith("attachment")
    assert download["Content-Type"].startswith("text/plain")
    assert download["X-Content-Type-Options"] == "nosniff"
    # How it arrived: transport, envelope, received-at and how it matched, verdict.
    assert "How it arrived" in html and "SMTP" in html and "192.0.2.7" in html
    assert "support@desk.test" in html and "matched via" in html


def test_html_attachment_is_never_served_as_a_page(agent_client: Client, customer: User) -> None:
    ticket = make_ticket(customer)
    comment = ticket.comments.get()
    evil = Attachment.objects.create(
        comment=comment,
        filename="evil.html",
        content_type="text/html",
        size=30,
        sha256=blobs.store(b"<script>alert(document.cookie)</script>"),
    )
    for query in ("", "?inline=1"):
        response = agent_client.get(reverse("attachment", args=[evil.pk, "evil.html"]) + query)
        assert response["Content-Type"].startswith("text/plain")
        assert response["Content-Disposition"].startswith("attachment")
        assert "sandbox" in response["Content-Security-Policy"]


def test_quoted_text_is_folded(agent_client: Client, customer: User) -> None:
    ticket = make_ticket(customer)
    Comment.objects.filter(ticket=ticket).update(quoted_text="> earlier mail")
    html = agent_client.get(reverse("ticket", args=[ticket.pk])).content.decode()
    assert '<details class="quoted">' in html and "&gt; earlier mail" in html


def test_reply_with_attachment_changes_and_cc(
    agent_client: Client, agent: User, customer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    handed: list[Comment] = []
    monkeypatch.setattr(actions, "send_public_reply", handed.append)
    group = Group.objects.create(name="Support")
    ticket = make_ticket(customer)
    response = agent_client.post(
        reverse("ticket", args=[ticket.pk]),
        {
            "status": "pending",
            "priority": "high",
            "group": group.pk,
            "assignee": agent.pk,
            "tags": "Printer urgent",
            "add_cc": "boss@example.com",
            "body": "We are on it.",
            "public": "1",
            "attachments": [SimpleUploadedFile("fix.txt", b"steps", content_type="text/plain")],
        },
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.group, ticket.assignee) == (
        "pending", "high", group, agent
    )  # fmt: skip
    assert ticket.tags == ["printer", "urgent"]
    assert [u.email for u in ticket.ccs.all()] == ["boss@example.com"]
    reply = ticket.comments.last()
    assert reply is not None and reply.public and reply.author == agent and reply.via == "web"
    assert reply.attachments.get().filename == "fix.txt"
    assert handed == [reply]
    page = agent_client.get(reverse("ticket", args=[ticket.pk]))
    assert "Reply sent." in page.content.decode()


def test_internal_note_is_not_mailed(
    agent_client: Client, customer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed: list[Comment] = []
    monkeypatch.setattr(actions, "send_public_reply", handed.append)
    ticket = make_ticket(customer)
    agent_client.post(
        reverse("ticket", args=[ticket.pk]),
        {"status": "open", "body": "Only for us", "public": "0"},
    )
    note = ticket.comments.last()
    assert note is not None and not note.public
    assert handed == []
    page = agent_client.get(reverse("ticket", args=[ticket.pk])).content.decode()
    assert 'class="comment internal"' in page


def test_invalid_change_shows_an_error(agent_client: Client, customer: User) -> None:
    ticket = make_ticket(customer)
    response = agent_client.post(
        reverse("ticket", args=[ticket.pk]), {"status": "bogus", "body": "x", "public": "1"}
    )
    assert response.status_code == 400
    assert not ticket.comments.filter(body="x").exists()
    response = agent_client.post(
        reverse("ticket", args=[ticket.pk]),
        {"status": "open", "add_cc": "not an address", "public": "1"},
    )
    assert response.status_code == 400


def test_closed_ticket_has_no_form(agent_client: Client, customer: User) -> None:
    ticket = make_ticket(customer)
    Ticket.objects.filter(pk=ticket.pk).update(status=Status.CLOSED)
    page = agent_client.get(reverse("ticket", args=[ticket.pk])).content.decode()
    assert 'id="ticket-form"' not in page
    response = agent_client.post(
        reverse("ticket", args=[ticket.pk]), {"status": "open", "body": "hi", "public": "1"}
    )
    assert response.status_code == 400
    assert not ticket.comments.filter(body="hi").exists()


def _count(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_list_query_count_does_not_grow_with_page_size(
    agent_client: Client, agent: User, customer: User, settings: Any
) -> None:
    settings.POSTDESK_VIEW_COUNTS_TTL = 0  # count on every request, to compare like with like
    group = Group.objects.create(name="G")
    for n in range(100):
        ticket = make_ticket(customer, f"t{n}")
        Ticket.objects.filter(pk=ticket.pk).update(group=group, assignee=agent)
    assert _count(agent_client, "/?view=all&per_page=25") == _count(
        agent_client, "/?view=all&per_page=100"
    )


def test_view_counts_are_reused_briefly(agent_client: Client, customer: User) -> None:
    make_ticket(customer, "first")
    first = _count(agent_client, "/")
    make_ticket(customer, "second")
    response = agent_client.get("/")
    # The list is fresh; the sidebar's counts come from the short-lived cache.
    assert [t.subject for t in response.context["page"]] == ["second", "first"]
    assert _count(agent_client, "/") < first


def test_ticket_page_query_count_does_not_grow_with_comments(
    agent_client: Client, customer: User
) -> None:
    ticket = make_ticket(customer)
    base = _count(agent_client, reverse("ticket", args=[ticket.pk]))
    for n in range(30):
        comment = Comment.objects.create(ticket=ticket, author=customer, body=f"c{n}")
        Attachment.objects.create(
            comment=comment, filename="a.txt", size=1, sha256=blobs.store(b"a")
        )
        ticket.ccs.add(make_user(f"cc{n}@example.com", Role.END_USER))
    assert _count(agent_client, reverse("ticket", args=[ticket.pk])) == base


def test_unsanitized_stored_html_is_cleaned_when_shown(
    agent_client: Client, customer: User
) -> None:
    """Defence in depth: HTML stored before a sanitizer fix, or by another path, is
    sanitized again on the way to the page."""
    ticket = make_ticket(customer)
    Comment.objects.filter(ticket=ticket).update(
        html_body='<p>ok</p><script>alert(1)</script><img src=x onerror="alert(2)">'
        '<a href="javascript:alert(3)">x</a><svg onload="alert(4)"></svg>'
    )
    html = agent_client.get(reverse("ticket", args=[ticket.pk])).content.decode()
    conversation = html[html.index('<ol class="conversation">') :]
    assert "<p>ok</p>" in conversation
    for bad in ("<script", "onerror", "javascript:", "<svg", "onload"):
        assert bad not in conversation, bad


def test_ui_reply_enqueues_outbound_mail(
    agent_client: Client, customer: User, run_tasks: Callable[..., int]
) -> None:
    """No stand-ins: the reply goes through postdesk.outbound and lands in the outbox."""
    outbound = pytest.importorskip("postdesk.outbound.models")
    ticket = make_ticket(customer)
    agent_client.post(
        reverse("ticket", args=[ticket.pk]),
        {"status": "open", "body": "Here is the fix.", "public": "1"},
    )
    reply = ticket.comments.get(body="Here is the fix.")
    mail = outbound.OutboundMessage.objects.get(comment=reply)
    assert [r.address for r in mail.recipients.all()] == ["ada@example.com"]
    run_tasks()
    mail.refresh_from_db()
    page = agent_client.get(reverse("ticket", args=[ticket.pk])).content.decode()
    assert f'id="comment-{reply.pk}"' in page and "ada@example.com" in page
    assert mail.status in ("queued", "sent")


def test_search_wildcards_are_literal_and_counts_are_capped(
    agent_client: Client, customer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from postdesk.web import views

    make_ticket(customer, "Discount", "You promised 50% off")
    make_ticket(customer, "Other", "nothing to see")
    assert [t.subject for t in agent_client.get("/", {"q": "%"}).context["page"]] == ["Discount"]
    assert [t.subject for t in agent_client.get("/", {"q": "_"}).context["page"]] == []
    monkeypatch.setattr(views, "SEARCH_COUNT_CAP", 1)
    for n in range(3):
        make_ticket(customer, f"cap {n}", "same words")
    response = agent_client.get("/", {"q": "same"})
    assert response.context["page"].paginator.capped
    assert "(1+)" in response.content.decode()


def test_common_words_take_the_per_ticket_path_with_the_same_answer(
    agent_client: Client, customer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from postdesk.search import query

    for n in range(3):
        make_ticket(customer, f"t{n}", "the printer again")
    make_ticket(customer, "other", "scanner")
    expected = {f"t{n}" for n in range(3)}
    assert {t.subject for t in agent_client.get("/", {"q": "printer"}).context["page"]} == expected
    monkeypatch.setattr(query, "SELECTIVE_LIMIT", 1)
    assert {t.subject for t in agent_client.get("/", {"q": "printer"}).context["page"]} == expected
