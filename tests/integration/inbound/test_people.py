"""Requester, CCs and forwarding chains (SPEC F8)."""

from __future__ import annotations

import pytest

from postdesk.inbound import pipeline
from postdesk.mail.parse import parse
from postdesk.spool.models import InboundMessage
from postdesk.tickets.models import Comment, Role, Ticket, User, UserIdentity

from .conftest import spool_mail

pytestmark = pytest.mark.django_db


def make_agent(email: str = "agent@example.com") -> User:
    return User.objects.create_user(email, name="Agent", role=Role.AGENT)


def test_reply_to_is_the_requester_and_the_mismatch_is_flagged(mail, deliver):
    message = deliver(mail(extra_headers="Reply-To: Grace <grace@example.org>\r\n"))
    ticket = Ticket.objects.get()
    assert ticket.requester.email == "grace@example.org"
    assert "reply_to_differs_from_from" in ticket.flags
    assert "reply_to_differs_from_from" in Comment.objects.get().flags
    assert message.diagnostics["requester_rule"] == "reply-to"


def test_a_reply_to_naming_an_agent_does_not_give_the_mail_agent_rights(mail, deliver):
    agent = make_agent()
    message = deliver(
        mail(sender="Mallory <mallory@evil.example>", extra_headers=f"Reply-To: {agent.email}\r\n")
    )
    ticket = Ticket.objects.get()
    assert ticket.requester.email == "mallory@evil.example"
    assert Comment.objects.get().author.email == "mallory@evil.example"
    assert {"reply_to_differs_from_from", "reply_to_names_agent"} <= set(ticket.flags)
    assert message.diagnostics["agent_rights"] is False
    assert message.diagnostics["requester_rule"] == "from (reply-to names an agent)"


def test_an_agent_writing_from_their_own_address_keeps_agent_rights(mail, deliver, dkim_sign):
    # Signed by the agent's domain: only mail that passes authentication may act as an agent
    # (SPEC F8, F11; tests/integration/inbound/test_authentication.py has the rest).
    agent = make_agent()
    message = deliver(dkim_sign(mail(sender=f"Agent <{agent.email}>"), "example.com"))
    assert message.diagnostics["agent_rights"] is True


def test_without_a_usable_from_the_envelope_sender_is_the_requester(mail, deliver):
    message = deliver(mail(sender="undisclosed"), mail_from="bounce-me@example.net")
    ticket = Ticket.objects.get()
    assert ticket.requester.email == "bounce-me@example.net"
    assert message.diagnostics["requester_rule"] == "envelope"
    assert "sender_from_envelope" in ticket.flags


def work_for(raw: bytes, mail_from: str = "") -> pipeline.Work:
    """The pipeline's record for one mail, for running single steps on it."""
    spooled = InboundMessage.objects.get(pk=spool_mail(raw, mail_from=mail_from))
    return pipeline.Work(spooled, parse(bytes(spooled.raw)))


def test_without_any_sender_the_requester_is_a_flagged_placeholder(mail):
    # Whether such a mail becomes a ticket is the protection step's call; the requester
    # step must still give it someone.
    work = work_for(mail(sender="nobody"))
    pipeline._requester(work)
    assert work.requester.email == "unknown-sender@desk.test"
    assert "no_sender" in work.flags
    assert work.diagnostics["requester_rule"] == "none"


def test_an_address_too_long_for_a_user_is_not_the_requester(mail, deliver):
    long_address = "a" * 300 + "@example.com"
    deliver(mail(sender=f"Long <{long_address}>"), mail_from="short@example.com")
    assert Ticket.objects.get().requester.email == "short@example.com"


def test_new_end_users_are_created_by_identity_and_known_ones_reused(mail, deliver):
    known = User.objects.create_user("bob@example.com", name="Bob")
    deliver(
        mail(
            to="support@desk.test, Bob <BOB@example.com>", extra_headers="Cc: carol@example.com\r\n"
        )
    )
    ticket = Ticket.objects.get()
    assert sorted(u.email for u in ticket.ccs.all()) == ["bob@example.com", "carol@example.com"]
    assert ticket.ccs.get(email="bob@example.com") == known
    assert UserIdentity.objects.filter(email="ada@example.com", user=ticket.requester).exists()
    assert User.objects.get(email="carol@example.com").role == Role.END_USER


def test_at_most_48_ccs_are_kept_and_the_rest_dropped_and_flagged(mail):
    # Protection holds such a mail for review; this is what it becomes when recovered.
    cc = ", ".join(f"person{i}@example.com" for i in range(400))
    work = work_for(mail(extra_headers=f"Cc: {cc}\r\n"))
    pipeline._received_at(work)
    pipeline._requester(work)
    pipeline._cc_addresses(work)
    assert len(work.ccs) == 48
    assert work.ccs[0].email == "person0@example.com"
    assert "too_many_ccs" in work.flags
    assert work.diagnostics["ccs_dropped"] == 400 - 48


def test_support_addresses_and_the_requester_are_not_ccs(mail, deliver):
    deliver(mail(to="support@desk.test, other@desk.test", extra_headers="Cc: ada@example.com\r\n"))
    assert Ticket.objects.get().ccs.count() == 0


CHAIN = (
    "Received: from mx.desk.test by desk.test for <support@desk.test>; Thu, 26 Nov 2026 09:00:03 +0000\r\n"
    "Received: from mx.company.example by mx.desk.test for <help@company.example>; Thu, 26 Nov 2026 09:00:02 +0000\r\n"
    "Received: from mail.home.example by mx.company.example for <ada.personal@home.example>; Thu, 26 Nov 2026 09:00:01 +0000\r\n"
)


def test_several_forwarding_hops_flag_the_ticket(mail, deliver):
    message = deliver(CHAIN.encode() + mail())
    ticket = Ticket.objects.get()
    assert "chained_forwarding" in ticket.flags
    assert message.diagnostics["forwarding"]["hops"] == 2
    assert message.diagnostics["forwarding"]["evidence"]["received_for"] == 2


def test_one_forwarding_hop_is_the_normal_setup_and_not_flagged(mail, deliver):
    one_hop = "".join(CHAIN.splitlines(keepends=True)[:2])
    message = deliver(one_hop.encode() + mail())
    assert "chained_forwarding" not in Ticket.objects.get().flags
    assert message.diagnostics["forwarding"]["hops"] == 1


def test_arc_sets_from_several_forwarders_flag_the_ticket(mail, deliver):
    arc = (
        "ARC-Seal: i=2; a=rsa-sha256; d=company.example; s=arc; cv=pass; b=x\r\n"
        "ARC-Seal: i=1; a=rsa-sha256; d=home.example; s=arc; cv=none; b=y\r\n"
    )
    deliver(arc.encode() + mail())
    assert "chained_forwarding" in Ticket.objects.get().flags
