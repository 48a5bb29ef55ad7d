"""The agent UI in a real browser (Playwright + Debian Chromium, headless): a mail arrives
through the real SMTP server, an agent signs in, opens the ticket, reads how it arrived,
replies, finds the reply in the outbox, and solves the ticket — in English and in Korean.
A stored-XSS mail shows its text and runs nothing: no dialog, no script in the DOM."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from playwright.sync_api import Dialog, Page, expect

from postdesk.tickets.models import Comment, Role, Status, Ticket, User
from tests.conftest import LiveSMTP, run_queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "agent-pass-1"


@pytest.fixture
def desk_smtp(transactional_db: None) -> Iterator[LiveSMTP]:
    with LiveSMTP() as server:
        yield server


@pytest.fixture
def agent(transactional_db: None) -> User:
    return User.objects.create_user(
        "agent@desk.test", PASSWORD, role=Role.AGENT, name="Grace Agent"
    )


def send(server: LiveSMTP, subject: str, text: str, html: str | None = None) -> Ticket:
    """Deliver a mail by SMTP and process it as the worker would."""
    message = EmailMessage()
    message["From"] = "Ada Lovelace <ada@example.com>"
    message["To"] = "support@desk.test"
    message["Subject"] = subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.send_message(message)
    run_queued_tasks()
    return Ticket.objects.get(subject=subject)


def sign_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", "agent@desk.test")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")


def work_the_ticket(page: Page, base_url: str, ticket: Ticket, words: dict[str, str]) -> None:
    page.click(f"a[href='/tickets/{ticket.pk}/']")
    expect(page.locator("h1")).to_contain_text(ticket.subject)
    page.click(f"summary:has-text('{words['arrival']}')")
    expect(page.locator(".arrival dl").first).to_contain_text("SMTP")
    expect(page.locator(".arrival dl").first).to_contain_text("support@desk.test")

    page.check("input[name=public][value='1']")
    page.fill("#id_body", words["reply"])
    page.select_option("#id_status", "pending")
    page.click("#submit-ticket")
    expect(page.locator(".messages")).to_contain_text(words["sent"])
    expect(page.locator("#ticket-status")).to_have_text(words["pending"])
    reply = Comment.objects.get(ticket=ticket, body=words["reply"])
    assert reply.public and reply.author.email == "agent@desk.test"

    # The worker sends it; the outbox shows the mail to the requester.
    run_queued_tasks()
    page.goto(f"{base_url}/outbox/")
    expect(page.locator("main")).to_contain_text("ada@example.com")
    expect(page.locator("main")).to_contain_text(ticket.subject)

    page.goto(f"{base_url}/tickets/{ticket.pk}/")
    expect(page.locator(f"#comment-{reply.pk} .sent")).to_contain_text("ada@example.com")
    page.select_option("#id_status", "solved")
    page.click("#submit-ticket")
    expect(page.locator("#ticket-status")).to_have_text(words["solved"])
    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED


def test_agent_answers_a_mail_in_english(
    browser_page: Page, live_server: Any, desk_smtp: LiveSMTP, agent: User
) -> None:
    ticket = send(desk_smtp, "Printer on fire", "Hello,\nmy printer is on fire.\n")
    sign_in(browser_page, live_server.url)
    expect(browser_page.locator("#list-title")).to_contain_text("All unsolved")
    work_the_ticket(
        browser_page,
        live_server.url,
        ticket,
        {
            "arrival": "How it arrived",
            "reply": "We are sending a technician.",
            "sent": "Reply sent.",
            "pending": "Pending",
            "solved": "Solved",
        },
    )


def test_agent_answers_a_mail_in_korean(
    chromium: Any, live_server: Any, desk_smtp: LiveSMTP, agent: User
) -> None:
    ticket = send(desk_smtp, "프린터에서 연기가 나요", "안녕하세요,\n프린터에서 연기가 납니다.\n")
    page = chromium.new_page(locale="ko-KR")
    sign_in(page, live_server.url)
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator("#list-title")).to_contain_text("모든 미해결")
    work_the_ticket(
        page,
        live_server.url,
        ticket,
        {
            "arrival": "수신 경로",
            "reply": "기술자를 보내 드리겠습니다.",
            "sent": "답변을 보냈습니다.",
            "pending": "대기",
            "solved": "해결됨",
        },
    )
    # Searching in Korean finds it by a word of the body.
    page.fill("#global-search", "연기가")
    page.press("#global-search", "Enter")
    expect(page.locator("table.tickets tbody")).to_contain_text("프린터에서 연기가 나요")


XSS_HTML = """<html><head><style>body{background:url(javascript:alert('css'))}</style>
<script>alert('script tag')</script></head>
<body onload="alert('onload')">
<p>Visible text survives.</p>
<img src=x onerror="alert('img onerror')">
<a href="javascript:alert('js link')">click me</a>
<a href="jAvAsCrIpT&colon;alert('entity link')">entity link</a>
<svg><script>alert('svg script')</script><animate onbegin="alert('svg animate')"/></svg>
<svg/onload=alert('svg onload')>
<iframe src="javascript:alert('iframe')"></iframe>
<div style="background-image:url(&quot;javascript:alert('style')&quot;);width:expression(alert('expr'))">styled</div>
<math><mtext><table><mglyph><style><img src=x onerror=alert('mxss')>
<form action="javascript:alert('form')"><button>go</button></form>
<object data="javascript:alert('object')"></object><embed src="javascript:alert('embed')">
<meta http-equiv="refresh" content="0;url=javascript:alert('meta')">
<p title="</p><script>alert('attr break')</script>">attr</p>
<unclosed <b>bold <i>nested
"""


def test_stored_xss_mail_runs_nothing(
    browser_page: Page, live_server: Any, desk_smtp: LiveSMTP, agent: User
) -> None:
    ticket = send(desk_smtp, "Invoice <script>alert('subject')</script>", "see html", XSS_HTML)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page = browser_page
    page.on("dialog", on_dialog)
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/tickets/{ticket.pk}/")
    expect(page.locator(".comment .body").first).to_contain_text("Visible text survives.")
    # Open every folded part so nothing hides from the checks below.
    for summary in page.locator("summary").all():
        summary.click()
    page.locator("text=click me").click()  # a javascript: link would fire here
    page.wait_for_timeout(500)
    assert dialogs == []
    found = page.evaluate(
        """() => {
        const all = [...document.querySelectorAll('*')];
        return {
          scripts: document.querySelectorAll('script').length,
          handlers: all.filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
          jsUrls: all.filter(e => [...e.attributes].some(
              a => /^\\s*javascript:/i.test(a.value))).length,
          // Postdesk's own page has forms and no frames; the conversation has neither.
          dangerous: document.querySelectorAll(
              'iframe, object, embed, svg, math, meta[http-equiv], .conversation form, '
              + '.conversation style, .conversation link'
          ).length,
        };
    }"""
    )
    assert found == {"scripts": 0, "handlers": 0, "jsUrls": 0, "dangerous": 0}
    # The subject is shown as text, not markup.
    expect(page.locator("h1")).to_contain_text("<script>alert('subject')</script>")
