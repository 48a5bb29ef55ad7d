"""A customer's answer to an outbound mail, sent back through SMTP into Postdesk's own SMTP
server, joins the same ticket by each threading mechanism alone (SPEC F9)."""

from __future__ import annotations

import email
import email.policy
import smtplib
from email.message import EmailMessage

import pytest

from postdesk import keys
from postdesk.mail import tokens
from postdesk.outbound import services
from postdesk.spool.models import InboundMessage
from postdesk.tickets.models import Comment, Role, Ticket, User
from tests.conftest import make_mail


def smtp_send(port: int, raw: bytes, sender: str = "ada@example.com") -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(sender, ["support@desk.test"], raw)


@pytest.fixture
def answered_ticket(live_smtp, locmem_relay, run_tasks) -> tuple[Ticket, EmailMessage]:
    """A ticket that arrived by SMTP and the agent's reply as the customer received it."""
    smtp_send(live_smtp.port, make_mail(message_id="<q@example.com>", subject="Broken screen"))
    run_tasks()
    ticket = Ticket.objects.get()
    agent = User.objects.create_user("jane@desk.test", "pw-123456789", name="Jane", role=Role.AGENT)
    reply = Comment.objects.create(ticket=ticket, author=agent, body="Please restart it.")
    outbound = services.send_public_reply(reply)
    run_tasks()
    # The first mail out was the pipeline's acknowledgement; the reply is the last.
    sent = locmem_relay[-1]
    assert outbound.message_id in sent.data.decode()
    received = email.message_from_bytes(sent.data, policy=email.policy.default)
    assert isinstance(received, EmailMessage)
    return ticket, received


def quoted_body(received: EmailMessage) -> str:
    part = received.get_body(("plain",))
    assert part is not None
    return "".join(f"> {line}\r\n" for line in str(part.get_content()).splitlines())


def customer_reply(subject: str, body: str, extra_headers: str = "") -> bytes:
    return make_mail(subject=subject, body=body, extra_headers=extra_headers)


def last_threading_rule() -> str:
    return str(InboundMessage.objects.order_by("-id").first().diagnostics["threading"])


@pytest.mark.django_db(transaction=True)
def test_references_alone_thread_the_reply(answered_ticket, live_smtp, run_tasks):
    ticket, received = answered_ticket
    headers = (
        f"In-Reply-To: {received['Message-ID']}\r\nReferences: {received['References']} "
        f"{received['Message-ID']}\r\n"
    )
    smtp_send(live_smtp.port, customer_reply("New words", "Did not help.\r\n", headers))
    run_tasks()
    # Our signed Message-ID is recognised without a look-up ("own-message-id").
    assert last_threading_rule() in ("own-message-id", "references")
    assert Ticket.objects.count() == 1
    assert ticket.comments.count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_token_alone_threads_the_reply(answered_ticket, live_smtp, run_tasks):
    ticket, received = answered_ticket
    body = "Did not help.\r\n\r\n" + quoted_body(received)
    assert f"[{tokens.make_ticket_token(keys.token_key(), ticket.pk)}]" in body
    smtp_send(live_smtp.port, customer_reply("Other subject", body))
    run_tasks()
    assert last_threading_rule() == "token"
    assert Ticket.objects.count() == 1 and ticket.comments.count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_subject_marker_alone_threads_the_requesters_reply(
    answered_ticket, live_smtp, run_tasks
):
    ticket, received = answered_ticket
    assert f"[#{ticket.pk}]" in received["Subject"]
    smtp_send(live_smtp.port, customer_reply(f"Re: {received['Subject']}", "Still broken.\r\n"))
    run_tasks()
    assert last_threading_rule() == "subject"
    assert Ticket.objects.count() == 1 and ticket.comments.count() == 3
