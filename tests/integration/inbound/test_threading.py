"""SPEC F9, each threading mechanism on its own, and what must not thread."""

from __future__ import annotations

import pytest

from postdesk import keys
from postdesk.mail import tokens
from postdesk.tickets.models import Comment, Status, Ticket, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def first(mail, deliver) -> Ticket:
    """A ticket opened by Ada's first mail, Message-ID <first@example.com>."""
    deliver(mail(message_id="<first@example.com>", subject="Printer on fire"))
    return Ticket.objects.get()


def reply(mail, *, subject: str = "Another question", **kwargs) -> bytes:
    kwargs.setdefault("body", "A new question, nothing quoted.\r\n")
    return mail(subject=subject, message_id=kwargs.pop("message_id", None), **kwargs)


def rule_of(message) -> str:
    return message.diagnostics["threading"]


def test_in_reply_to_a_received_message_id(first, mail, deliver):
    message = deliver(reply(mail, extra_headers="In-Reply-To: <first@example.com>\r\n"))
    assert rule_of(message) == "references" and message.ticket == first


def test_references_alone(first, mail, deliver):
    message = deliver(
        reply(mail, extra_headers="References: <unknown@x.example> <first@example.com>\r\n")
    )
    assert rule_of(message) == "references" and message.ticket == first


def test_our_signed_outbound_message_id(first, mail, deliver):
    own = tokens.make_message_id(keys.token_key(), "desk.test", first.pk, 7)
    message = deliver(reply(mail, extra_headers=f"In-Reply-To: {own}\r\n"))
    assert rule_of(message) == "own-message-id" and message.ticket == first


def test_the_per_ticket_reference_id(first, mail, deliver):
    own = tokens.ticket_reference(keys.token_key(), "desk.test", first.pk)
    message = deliver(reply(mail, extra_headers=f"References: {own}\r\n"))
    assert rule_of(message) == "own-message-id" and message.ticket == first


def test_a_forged_signed_message_id_does_not_thread(first, mail, deliver):
    forged = tokens.make_message_id(b"another desk's key" * 2, "desk.test", first.pk, 7)
    message = deliver(reply(mail, extra_headers=f"In-Reply-To: {forged}\r\n"))
    assert rule_of(message) == "new-ticket" and message.ticket != first


def test_the_ticket_token_in_the_body(first, mail, deliver):
    token = tokens.make_ticket_token(keys.token_key(), first.pk)
    message = deliver(reply(mail, body=f"Still broken.\r\n\r\n[{token}]\r\n"))
    assert rule_of(message) == "token" and message.ticket == first


def test_the_plus_address_with_the_ticket_token(first, mail, deliver):
    plus = tokens.plus_address(keys.token_key(), "support@desk.test", first.pk)
    message = deliver(reply(mail, to=plus), rcpt=plus)
    assert rule_of(message) == "plus-address" and message.ticket == first
    assert message.diagnostics["received_at"] == "support@desk.test"


def test_a_plus_address_at_another_domain_does_not_thread(first, mail, deliver):
    plus = tokens.plus_address(keys.token_key(), "support@elsewhere.example", first.pk)
    message = deliver(reply(mail, to=f"support@desk.test, {plus}"))
    assert rule_of(message) == "new-ticket"


def test_the_subject_id_from_the_requester(first, mail, deliver):
    message = deliver(reply(mail, subject=f"Re: [#{first.pk}] Printer on fire"))
    assert rule_of(message) == "subject" and message.ticket == first


def test_the_subject_id_from_a_cc(first, mail, deliver):
    bob = User.objects.create_user("bob@example.com")
    first.ccs.add(bob)
    message = deliver(reply(mail, sender="bob@example.com", subject=f"[#{first.pk}] me too"))
    assert rule_of(message) == "subject" and message.ticket == first


def test_the_subject_id_from_a_stranger_opens_a_new_ticket(first, mail, deliver):
    message = deliver(reply(mail, sender="eve@example.net", subject=f"[#{first.pk}] hi"))
    assert rule_of(message) == "new-ticket" and message.ticket != first


def test_the_subject_id_with_the_requester_only_in_reply_to_opens_a_new_ticket(
    first, mail, deliver
):
    # Reply-To is anyone's to write: the sender is who the From says.
    message = deliver(
        reply(
            mail,
            sender="eve@example.net",
            subject=f"[#{first.pk}] hi",
            extra_headers="Reply-To: ada@example.com\r\n",
        )
    )
    assert rule_of(message) == "new-ticket" and message.ticket != first


def test_references_win_over_a_token_for_another_ticket(first, mail, deliver):
    deliver(mail(sender="zed@example.com", message_id="<other@example.com>"))
    other = Ticket.objects.exclude(pk=first.pk).get()
    token = tokens.make_ticket_token(keys.token_key(), other.pk)
    message = deliver(
        reply(mail, body=f"[{token}]\r\n", extra_headers="In-Reply-To: <first@example.com>\r\n")
    )
    assert message.ticket == first


def test_a_reply_to_a_closed_ticket_opens_a_linked_follow_up(first, mail, deliver):
    Ticket.objects.filter(pk=first.pk).update(status=Status.CLOSED)
    message = deliver(reply(mail, extra_headers="In-Reply-To: <first@example.com>\r\n"))
    followup = message.ticket
    assert followup != first and followup.followup_of == first
    assert message.diagnostics["followup_of"] == first.pk
    assert followup.status == Status.NEW
    assert Ticket.objects.get(pk=first.pk).status == Status.CLOSED


def test_the_requester_replying_to_a_solved_ticket_reopens_it(first, mail, deliver):
    Ticket.objects.filter(pk=first.pk).update(status=Status.SOLVED)
    message = deliver(reply(mail, extra_headers="In-Reply-To: <first@example.com>\r\n"))
    assert message.ticket == first and message.diagnostics["reopened"] is True
    assert Ticket.objects.get(pk=first.pk).status == Status.OPEN


def test_a_reply_on_hold_stays_on_hold(first, mail, deliver):
    Ticket.objects.filter(pk=first.pk).update(status=Status.HOLD)
    deliver(reply(mail, extra_headers="In-Reply-To: <first@example.com>\r\n"))
    assert Ticket.objects.get(pk=first.pk).status == Status.HOLD
    assert Comment.objects.filter(ticket=first).count() == 2
