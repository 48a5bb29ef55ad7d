"""The agent UI's suspended-mail page: agents only, escaped content, CSRF-protected forms
that work without JavaScript, English and Korean."""

from __future__ import annotations

import pytest
from django.test import Client

from postdesk.suspension.models import SenderListEntry, SenderListKind, SuspendedMail
from postdesk.tickets.models import Ticket

pytestmark = pytest.mark.django_db

XSS_SUBJECT = '<script>alert("subject")</script>'
XSS_BODY = '<img src=x onerror="alert(1)">\r\n'


@pytest.fixture
def queue(mail, spool_mail, screen_mail):
    SenderListEntry.objects.create(kind=SenderListKind.BLOCK, value="spam.example")
    entries = []
    for subject, body in ((XSS_SUBJECT, XSS_BODY), ("Second", "Plain\r\n")):
        message = spool_mail(mail(sender="Eve <eve@spam.example>", subject=subject, body=body))
        screen_mail(message)
        entries.append(SuspendedMail.objects.get(inbound=message))
    return entries


@pytest.fixture
def browser(agent) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    return client


def _csrf(client: Client, path: str) -> str:
    client.get(path)
    return client.cookies["csrftoken"].value


def test_the_page_lists_each_mail_with_its_cause_and_escapes_everything(browser, queue):
    response = browser.get("/suspended/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Blocklisted" in page and "cause-blocklisted" in page
    assert "eve@spam.example" in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;subject&quot;)&lt;/script&gt;" in page
    assert 'name="csrfmiddlewaretoken"' in page
    detail = browser.get(f"/suspended/{queue[0].pk}/").content.decode()
    assert "onerror=" not in detail.replace("onerror=&quot;", "")
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in detail
    assert "Message-ID:" in detail  # the raw mail, as text


def test_the_cause_filter(browser, queue, mail, spool_mail, screen_mail):
    screen_mail(
        spool_mail(
            mail(
                sender="x@example.org",
                extra_headers="Cc: " + ", ".join(f"p{n}@example.org" for n in range(120)) + "\r\n",
            )
        )
    )
    page = browser.get("/suspended/?cause=too_many_ccs").content.decode()
    assert "x@example.org" in page and "eve@spam.example" not in page


def test_recover_one_and_delete_in_bulk_without_javascript(browser, queue):
    token = _csrf(browser, "/suspended/")
    response = browser.post(
        "/suspended/act",
        {"action": f"recover:{queue[0].pk}", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert Ticket.objects.count() == 1
    page = browser.get(response["Location"]).content.decode()
    assert "1 mail recovered." in page
    response = browser.post(
        "/suspended/act",
        {
            "action": "delete",
            "ids": [str(queue[1].pk), str(queue[0].pk)],
            "csrfmiddlewaretoken": token,
        },
        follow=True,
    )
    page = response.content.decode()
    assert "1 mail deleted." in page
    assert f"#{queue[0].pk}: This mail was already recovered." in page
    assert not SuspendedMail.objects.pending().exists()


def test_posts_without_the_csrf_token_are_refused(browser, queue):
    response = browser.post("/suspended/act", {"action": f"recover:{queue[0].pk}"})
    assert response.status_code == 403
    assert not Ticket.objects.exists()


def test_only_signed_in_agents_get_in(client, end_user, queue):
    assert client.get("/suspended/").status_code == 302
    assert client.post("/suspended/act", {"action": f"recover:{queue[0].pk}"}).status_code == 302
    client.force_login(end_user)
    assert client.get("/suspended/").status_code == 403
    assert client.get(f"/suspended/{queue[0].pk}/").status_code == 403
    assert not Ticket.objects.exists()


def test_korean(browser, queue):
    page = browser.get("/suspended/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "보류된 메일" in page
    assert "복구" in page
