"""Issue 6 end to end through the real SMTP server and the real pipeline: a flooding sender
and an autoresponder that answers every acknowledgement."""

from __future__ import annotations

import smtplib
from email.utils import make_msgid

import pytest

from postdesk import keys
from postdesk.mail import tokens
from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.suspension.models import ProtectionSettings, SuspendedMail
from postdesk.tickets.models import Comment, Ticket
from tests.conftest import make_mail
from tests.integration.suspension.conftest import api_client

pytestmark = pytest.mark.django_db(transaction=True)

FLOOD = 500


def send(port: int, mails: list[bytes], sender: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for raw in mails:
            refused = client.sendmail(sender, ["support@desk.test"], raw)
            assert refused == {}


def test_a_flood_is_suspended_after_the_limit_one_entry_per_mail_and_ends_with_the_block(
    live_smtp, run_tasks, clock, agent
):
    limit = ProtectionSettings(pk=1).flood_limit
    flood = [
        make_mail(sender="bot@flood.example", subject=f"Order {n}", body=f"order {n}\r\n")
        for n in range(FLOOD)
    ]
    send(live_smtp.port, flood, "bot@flood.example")
    assert run_tasks(max_tasks=FLOOD * 2) >= FLOOD

    assert InboundMessage.objects.filter(status=InboundStatus.PROCESSED).count() == limit
    assert Ticket.objects.count() == limit
    suspended = SuspendedMail.objects.pending()
    assert suspended.count() == FLOOD - limit
    assert set(suspended.values_list("cause", flat=True)) == {"loop"}
    assert suspended.values("inbound").distinct().count() == FLOOD - limit
    listing = api_client(agent).get("/api/v2/suspended_tickets", {"per_page": 1}).json()
    assert listing["count"] == FLOOD - limit

    # Someone else is not held up meanwhile.
    send(live_smtp.port, [make_mail(sender="ada@example.com")], "ada@example.com")
    run_tasks()
    assert Ticket.objects.count() == limit + 1

    # An hour later the block is over and the sender's next mail is a ticket again.
    clock.advance(ProtectionSettings(pk=1).flood_block_seconds + 1)
    send(
        live_smtp.port,
        [make_mail(sender="bot@flood.example", subject="Later")],
        "bot@flood.example",
    )
    run_tasks()
    assert Ticket.objects.filter(subject="Later").exists()
    assert SuspendedMail.objects.pending().count() == FLOOD - limit


def _auto_reply(ticket: Ticket, n: int, *, threaded: bool) -> bytes:
    """What an autoresponder sends back to an acknowledgement: either with the threading
    headers of RFC 3834 §3.1.5, or quoting the acknowledgement (and its ticket token) only."""
    key = keys.token_key()
    reference = tokens.ticket_reference(key, "desk.test", ticket.pk)
    headers = "Auto-Submitted: auto-replied\r\n"
    if threaded:
        headers += f"In-Reply-To: {reference}\r\nReferences: {reference}\r\n"
        body = "I am away until Monday.\r\n"
    else:
        headers = "X-Autoreply: yes\r\n"
        token = tokens.make_ticket_token(key, ticket.pk)
        body = f"Thank you for your mail.\r\n> Your request [{token}] was received.\r\n"
    return make_mail(
        sender="Robot <robot@auto.example>",
        subject=f"Automatic reply: {ticket.subject} ({n})",
        body=body,
        message_id=make_msgid(domain="auto.example"),
        extra_headers=headers,
    )


@pytest.mark.parametrize("threaded", [True, False], ids=["threading-headers", "quoted-token"])
def test_an_autoresponder_answering_every_acknowledgement_never_opens_a_ticket(
    live_smtp, run_tasks, threaded
):
    send(
        live_smtp.port,
        [make_mail(sender="robot@auto.example", subject="Hello")],
        "robot@auto.example",
    )
    run_tasks()
    ticket = Ticket.objects.get()
    replies = [_auto_reply(ticket, n, threaded=threaded) for n in range(10)]
    send(live_smtp.port, replies, "robot@auto.example")
    run_tasks()

    assert Ticket.objects.count() == 1
    assert Comment.objects.filter(ticket=ticket).count() == 11
    replies_in = InboundMessage.objects.exclude(pk=ticket.comments.first().inbound_id)
    assert replies_in.count() == 10
    for message in replies_in:
        assert message.status == InboundStatus.PROCESSED
        assert message.diagnostics["protection"]["notify"] is False
    # At most the acknowledgement of the first mail went out; the robot's replies got none.
    assert _outbound_to("robot@auto.example") <= 1


def _outbound_to(address: str) -> int:
    from postdesk.outbound.models import OutboundRecipient

    return OutboundRecipient.objects.filter(address=address).count()
