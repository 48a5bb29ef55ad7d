"""Acknowledgements, public replies, admin notices and system mail through the locmem relay."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from postdesk import keys
from postdesk.channels.models import AddressKind, SupportAddress, VerificationStatus
from postdesk.mail import headersafe, tokens
from postdesk.mail.compose import LOOP_HEADER
from postdesk.outbound import services
from postdesk.outbound.composer import instance_id
from postdesk.outbound.models import (
    NotificationTemplate,
    OutboundMessage,
    OutboundRecipient,
    OutboundStatus,
    RecipientStatus,
)
from postdesk.tickets.models import Comment, Role, Ticket, User, UserIdentity, Via

pytestmark = pytest.mark.django_db


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def agent(name: str = "Jane Agent", email_address: str = "jane@desk.test") -> User:
    return User.objects.create_user(email_address, "pw-123456789", name=name, role=Role.AGENT)


def test_the_pipeline_acknowledges_a_new_ticket_by_itself(locmem_relay, new_ticket):
    ticket = new_ticket(message_id="<question-0@example.com>", keep_acknowledgement=True)
    [sent] = locmem_relay  # the worker that processed the mail also sent its acknowledgement
    assert sent.recipients == ("ada@example.com",)
    assert parsed(sent.data)["Subject"] == f"Re: Printer on fire [#{ticket.pk}]"
    diagnostics = ticket.comments.get().inbound.diagnostics
    assert diagnostics["notifications"].startswith("acknowledgement queued")


def test_a_new_ticket_is_acknowledged_to_its_requester(locmem_relay, new_ticket, run_tasks):
    ticket = new_ticket(message_id="<question-1@example.com>", subject="Printer on fire")
    comment = ticket.comments.get()
    outbound = services.notify_new_ticket(ticket, comment)
    assert outbound is not None
    assert outbound.status == OutboundStatus.QUEUED
    assert locmem_relay == []  # stored and queued only: the worker sends
    run_tasks()

    [sent] = locmem_relay
    message = parsed(sent.data)
    assert sent.recipients == ("ada@example.com",)
    assert message["From"] == "Support <support@desk.test>"
    assert message["To"] == "Ada Lovelace <ada@example.com>"
    assert message["Subject"] == f"Re: Printer on fire [#{ticket.pk}]"
    assert message["In-Reply-To"] == "<question-1@example.com>"
    key = keys.token_key()
    references = message["References"].split()
    assert references[0] == tokens.ticket_reference(key, "desk.test", ticket.pk)
    assert "<question-1@example.com>" in references
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message[LOOP_HEADER] == instance_id()
    own = tokens.read_message_id(key, message["Message-ID"])
    assert own is not None and (own.ticket_id, own.outbound_id) == (ticket.pk, outbound.pk)
    body = text_of(message)
    assert body.startswith("##- Please type your reply above this line -##")
    assert f"[{tokens.make_ticket_token(key, ticket.pk)}]" in body
    assert "my printer is on fire" in body

    outbound.refresh_from_db()
    assert outbound.status == OutboundStatus.SENT
    assert outbound.relay == "locmem"
    recipient = outbound.recipients.get()
    assert recipient.status == RecipientStatus.SENT and recipient.reply_code == 250
    assert tokens.read_verp(key, sent.mail_from) is not None
    assert recipient.return_path == sent.mail_from
    # The customer's comment keeps its own Message-ID; only replies record ours.
    comment.refresh_from_db()
    assert comment.message_id == "question-1@example.com"


def test_the_acknowledgement_follows_the_requesters_language(locmem_relay, new_ticket, run_tasks):
    ticket = new_ticket(subject="프린터 문제")
    ticket.requester.locale = "ko-KR"
    ticket.requester.save()
    services.notify_new_ticket(ticket, ticket.comments.get())
    run_tasks()
    body = text_of(parsed(locmem_relay[0].data))
    assert body.startswith("##- 이 줄 위에 답장을 입력해 주세요 -##")
    assert f"요청 번호는 #{ticket.pk}입니다" in body


def test_an_admins_template_override_is_used_and_checked(locmem_relay, new_ticket, run_tasks):
    override = NotificationTemplate(
        name="new_ticket",
        language="en",
        subject="We got it: {{ ticket.subject }}",
        body="Dear {{ requester.name }}, ticket {{ ticket.id }} ({{ ticket.status }}) is ours now.",
    )
    override.full_clean()
    override.save()
    ticket = new_ticket()
    services.notify_new_ticket(ticket, ticket.comments.get())
    run_tasks()
    message = parsed(locmem_relay[0].data)
    assert message["Subject"] == f"We got it: Printer on fire [#{ticket.pk}]"
    assert f"Dear Ada Lovelace, ticket {ticket.pk} (New) is ours now." in text_of(message)

    broken = NotificationTemplate(
        name="new_ticket", language="ko", subject="x", body="{{ ticket.secret_field }}"
    )
    with pytest.raises(ValidationError, match=r"ticket\.secret_field"):
        broken.full_clean()


def test_the_status_label_is_in_the_requesters_language_whatever_language_is_active(
    locmem_relay, new_ticket, run_tasks
):
    NotificationTemplate.objects.create(
        name="new_ticket", language="ko", subject="접수", body="상태: {{ ticket.status }}"
    )
    ticket = new_ticket()
    ticket.requester.locale = "ko-KR"
    ticket.requester.save()
    with translation.override("en"):  # e.g. an English admin's request queued this mail
        services.notify_new_ticket(ticket, ticket.comments.get())
    run_tasks()
    assert "상태: 신규" in text_of(parsed(locmem_relay[0].data))


def test_an_edited_or_removed_override_applies_to_the_next_mail(locmem_relay, new_ticket):
    def acknowledged(sender: str) -> Ticket:
        return new_ticket(sender=sender, keep_acknowledgement=True)

    first = acknowledged("Ada <ada@example.com>")  # the texts in force were read for it
    override = NotificationTemplate.objects.create(
        name="new_ticket", language="en", subject="Edited", body="Edited text."
    )
    second = acknowledged("Bob <bob@example.com>")
    override.delete()
    third = acknowledged("Cy <cy@example.com>")
    subjects = [parsed(sent.data)["Subject"] for sent in locmem_relay]
    assert subjects == [
        f"Re: Printer on fire [#{first.pk}]",
        f"Edited [#{second.pk}]",
        f"Re: Printer on fire [#{third.pk}]",
    ]


@pytest.mark.parametrize(
    "flags", [pytest.param(["auto_submitted"], id="automated"), pytest.param([], id="notify-off")]
)
def test_no_acknowledgement_for_automated_mail(locmem_relay, new_ticket, run_tasks, flags):
    ticket = new_ticket()
    comment = ticket.comments.get()
    comment.flags = flags
    comment.save()
    assert services.notify_new_ticket(ticket, comment, notify=bool(flags)) is None
    assert OutboundMessage.objects.count() == 0


def test_no_acknowledgement_to_an_undeliverable_identity(locmem_relay, new_ticket):
    ticket = new_ticket()
    UserIdentity.objects.filter(email="ada@example.com").update(undeliverable=True)
    assert services.notify_new_ticket(ticket, ticket.comments.get()) is None
    assert OutboundMessage.objects.count() == 0


def test_at_most_three_automatic_mails_to_one_address_an_hour(locmem_relay, new_ticket, run_tasks):
    tickets = [
        new_ticket(subject=f"Question {number}", keep_acknowledgement=True) for number in range(5)
    ]
    run_tasks()
    assert len(locmem_relay) == 3
    outcomes = [t.comments.get().inbound.diagnostics["notifications"] for t in tickets]
    assert [o.startswith("acknowledgement queued") for o in outcomes] == [True] * 3 + [False] * 2
    assert outcomes[3] == outcomes[4] == "not sent (limits)"
    assert services.notify_new_ticket(tickets[4], tickets[4].comments.get()) is None


def test_a_public_reply_threads_and_goes_to_requester_and_ccs(locmem_relay, new_ticket, run_tasks):
    ticket = new_ticket(
        message_id="<question-2@example.com>",
        to="support@desk.test, Bob <bob@example.org>",
        body="Where is my order?\r\n",
    )
    jane = agent()
    reply = Comment.objects.create(
        ticket=ticket, author=jane, body="It ships tomorrow.", public=True, via=Via.WEB
    )
    outbound = services.send_public_reply(reply)
    run_tasks()

    # One transaction per recipient, each with its own VERP path, the same bytes.
    assert sorted(m.recipients for m in locmem_relay) == [
        ("ada@example.com",),
        ("bob@example.org",),
    ]
    assert locmem_relay[0].data == locmem_relay[1].data
    sent = locmem_relay[0]
    rows = {r.address: r for r in OutboundRecipient.objects.filter(message=outbound)}
    assert set(rows) == {"ada@example.com", "bob@example.org"}
    assert rows["bob@example.org"].kind == "cc"
    assert rows["ada@example.com"].return_path != rows["bob@example.org"].return_path
    assert all(r.status == RecipientStatus.SENT for r in rows.values())

    message = parsed(sent.data)
    assert message["From"] == '"Jane Agent (Support)" <support@desk.test>'
    assert message["Cc"] == "Bob <bob@example.org>"
    assert message["In-Reply-To"] == "<question-2@example.com>"
    assert message["Auto-Submitted"] is None  # written by a person (RFC 3834)
    body = text_of(message)
    assert body.startswith("##- Please type your reply above this line -##")
    assert body.index("It ships tomorrow.") < body.index("Where is my order?")  # history below
    reply.refresh_from_db()
    assert reply.message_id == outbound.message_id == message["Message-ID"]


def test_a_reply_with_nobody_to_receive_it_is_recorded_as_failed(locmem_relay, new_ticket):
    ticket = new_ticket()
    UserIdentity.objects.filter(email="ada@example.com").update(undeliverable=True)
    reply = Comment.objects.create(ticket=ticket, author=agent(), body="Hi", public=True)
    outbound = services.send_public_reply(reply)
    assert outbound.status == OutboundStatus.FAILED
    assert "no deliverable recipient" in outbound.last_error


def test_internal_notes_are_never_mailed(locmem_relay, new_ticket):
    ticket = new_ticket()
    note = Comment.objects.create(ticket=ticket, author=agent(), body="secret", public=False)
    with pytest.raises(ValueError):
        services.send_public_reply(note)


def test_header_injection_through_an_agent_name_is_refused(locmem_relay, new_ticket):
    ticket = new_ticket()
    evil = agent(name="Jane\r\nBcc: victim@example.net")
    reply = Comment.objects.create(ticket=ticket, author=evil, body="Hi", public=True)
    with pytest.raises(headersafe.UnsafeHeader):
        services.send_public_reply(reply)
    assert OutboundMessage.objects.count() == 0


def test_a_customer_subject_with_control_characters_is_cleaned(locmem_relay, new_ticket, run_tasks):
    ticket = new_ticket()
    ticket.subject = "Help\u2028Bcc: victim@example.net =?utf-8?b?QQ==?="
    ticket.save()
    services.notify_new_ticket(ticket, ticket.comments.get())
    run_tasks()
    message = parsed(locmem_relay[0].data)
    assert message["Bcc"] is None
    assert "\u2028" not in message["Subject"]
    assert "=?utf-8?b?QQ==?=" not in str(message["Subject"])


def test_system_mail_carries_extra_headers_but_cannot_inject(locmem_relay, run_tasks):
    outbound = services.send_system_mail(
        to="billing@mycompany.test",
        subject="Verify forwarding pdv-abc",
        text="Token pdv-abc",
        headers={"X-Postdesk-Verification": "pdv-abc"},
    )
    run_tasks()
    message = parsed(locmem_relay[0].data)
    assert message["X-Postdesk-Verification"] == "pdv-abc"
    assert message["From"] == "Support <support@desk.test>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert "##-" not in text_of(message)
    assert outbound.ticket is None
    for headers in ({"X-Evil": "a\r\nBcc: x@example.net"}, {"Bcc": "x@example.net"}):
        with pytest.raises(headersafe.UnsafeHeader):
            services.send_system_mail(to="a@example.com", subject="s", text="t", headers=headers)
    with pytest.raises(headersafe.UnsafeHeader):
        services.send_system_mail(to="a@example.com", subject="s\nBcc: x@example.net", text="t")


def test_admin_notices_go_to_every_admin(locmem_relay, run_tasks):
    User.objects.create_user("root@desk.test", "pw-123456789", name="Root", role=Role.ADMIN)
    User.objects.create_user("ops@example.com", "pw-123456789", role=Role.ADMIN, locale="ko")
    agent()
    outbound = services.send_admin_notice("Forwarding failed", "billing@mycompany.test failed")
    run_tasks()
    assert sorted(outbound.recipients.values_list("address", flat=True)) == [
        "ops@example.com",
        "root@desk.test",
    ]
    message = parsed(locmem_relay[0].data)
    assert message["Subject"] == "[Postdesk] Forwarding failed"
    assert "billing@mycompany.test failed" in text_of(message)


def test_the_from_address_follows_received_at_only_when_verified(locmem_relay, new_ticket):
    from postdesk.outbound.sender import from_address_for

    hosted = SupportAddress.objects.create(email="billing@desk.test", name="Billing")
    external = SupportAddress.objects.create(
        email="billing@mycompany.test",
        name="Billing",
        kind=AddressKind.EXTERNAL,
        forwarding_target=hosted,
        forwarding_status=VerificationStatus.WAITING,
    )
    ticket = new_ticket(rcpt="billing@mycompany.test", to="billing@mycompany.test")
    assert ticket.received_at == external
    system = SupportAddress.objects.get(is_system=True)
    assert from_address_for(ticket) == system
    external.forwarding_status = VerificationStatus.VERIFIED
    external.save()
    ticket.refresh_from_db()
    assert from_address_for(ticket) == external
    ticket.received_at = hosted
    assert from_address_for(ticket) == hosted
    # An unverified external default falls back to the system address.
    SupportAddress.objects.update(default=False)
    external.forwarding_status = VerificationStatus.FAILED
    external.default = True
    external.save()
    ticket.received_at = None
    assert from_address_for(ticket) == system


@pytest.mark.parametrize("broken_id", ["<xxx>", "<20201221110303>", "<!~!UENERkVCMDk@>"])
def test_a_customers_invalid_message_id_costs_threading_not_the_acknowledgement(
    locmem_relay, new_ticket, run_tasks, broken_id
):
    ticket = new_ticket(message_id=broken_id, keep_acknowledgement=True)
    run_tasks()
    [sent] = locmem_relay
    message = parsed(sent.data)
    assert message["In-Reply-To"] is None
    key = keys.token_key()
    assert message["References"].split() == [tokens.ticket_reference(key, "desk.test", ticket.pk)]
