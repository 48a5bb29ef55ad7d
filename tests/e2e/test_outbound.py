"""Outbound mail end to end: Postdesk's relay is a real Postfix on 127.0.0.1 that delivers to a
capturing SMTP sink; the DKIM records are served by a real DNS server (dnsmasq) and checked
by dkimpy; a hard bounce is a real DSN written by that Postfix, routed back to the desk's
VERP return path and matched to the recipient."""

from __future__ import annotations

import dataclasses
import email
import email.policy
from collections.abc import Callable
from email.message import EmailMessage

import dkim as dkimpy
import dns.resolver
import pytest

from postdesk import keys
from postdesk.channels.models import AddressKind, SupportAddress, VerificationStatus
from postdesk.mail import tokens
from postdesk.mail.envelope import Envelope
from postdesk.outbound import bounces, dkim_keys, services
from postdesk.outbound.models import (
    OutboundKind,
    OutboundMessage,
    OutboundStatus,
    RecipientStatus,
)
from postdesk.spool.accept import accept
from postdesk.tickets.models import Comment, Role, Ticket, User, UserIdentity
from tests.conftest import make_mail, run_queued_tasks

from .servers.dns import DnsServer
from .servers.postfix import PostfixInstance
from .servers.sink import SmtpSink

pytestmark = pytest.mark.django_db


def dkim_dnsfunc(resolver: dns.resolver.Resolver) -> Callable[..., bytes | None]:
    """dkimpy's DNS hook, answered by the test's real DNS server."""

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        try:
            answer = resolver.resolve(name.decode().rstrip("."), "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return b"".join(answer[0].strings)  # type: ignore[attr-defined]

    return dnsfunc


def publish_and_check(dns_server: DnsServer, domain: str) -> None:
    """Publish the records Postdesk shows, check them as the DNS code would, mark verified."""
    records = dkim_keys.dns_records(domain)
    dns_server.set_records({r.name: {"TXT": [r.value]} for r in records})
    resolver = dns_server.resolver()
    for record in records:
        published = b"".join(resolver.resolve(record.name, "TXT")[0].strings).decode()
        assert published == record.value
        dkim_keys.mark_dkim_verified(domain, record.selector)


@pytest.fixture
def company() -> SupportAddress:
    hosted = SupportAddress.objects.create(email="billing@desk.test", name="Billing")
    return SupportAddress.objects.create(
        email="billing@mycompany.test",
        name="Billing",
        kind=AddressKind.EXTERNAL,
        forwarding_target=hosted,
        forwarding_status=VerificationStatus.VERIFIED,
    )


def ticket_at(address: str) -> Ticket:
    raw = make_mail(to=address, message_id="<first@example.com>", subject="Invoice wrong")
    accepted = accept(raw, Envelope(transport="smtp", rcpt_tos=(address,), mail_from="a@b.c"))
    run_queued_tasks()
    return Ticket.objects.get(inbound__pk=accepted.message_id)


def use_relay(settings, url: str) -> None:  # type: ignore[no-untyped-def]
    settings.POSTDESK = dataclasses.replace(settings.POSTDESK, relay=url)


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_a_reply_through_postfix_arrives_from_the_right_address_threaded_and_signed(
    settings, postfix: PostfixInstance, smtp_sink: SmtpSink, dns_server: DnsServer, company
):
    dkim_keys.ensure_keys("mycompany.test", ed25519=True)
    publish_and_check(dns_server, "mycompany.test")
    use_relay(settings, postfix.relay_url)
    ticket = ticket_at("billing@mycompany.test")
    agent = User.objects.create_user("jane@desk.test", "pw-123456789", name="Jane", role=Role.AGENT)
    reply = Comment.objects.create(ticket=ticket, author=agent, body="Fixed, sorry!")
    outbound = services.send_public_reply(reply)
    run_queued_tasks()

    # The first mail out was the new ticket's acknowledgement; this test is about the reply.
    received = next(
        mail
        for mail in smtp_sink.wait_for(2, timeout=60)
        if outbound.message_id.encode() in mail.data
    )
    outbound.refresh_from_db()
    assert outbound.status == OutboundStatus.SENT
    assert received.rcpt_tos == ("ada@example.com",)
    assert received.mail_from == outbound.recipients.get().return_path
    message = parsed(received.data)
    assert message["From"] == '"Jane (Billing)" <billing@mycompany.test>'
    assert message["Message-ID"] == outbound.message_id
    assert message["In-Reply-To"] == "<first@example.com>"
    key = keys.token_key()
    assert message["References"].split()[0] == tokens.ticket_reference(key, "desk.test", ticket.pk)
    assert message.get_all("Received")  # it really went through Postfix
    # Both signatures (RSA on top, Ed25519 beside it) verify against the DNS server's records.
    dnsfunc = dkim_dnsfunc(dns_server.resolver())
    assert received.data.count(b"DKIM-Signature:") == 2
    verifier = dkimpy.DKIM(received.data)
    assert verifier.verify(idx=0, dnsfunc=dnsfunc)
    assert verifier.verify(idx=1, dnsfunc=dnsfunc)


def test_an_unverified_record_leaves_mail_unsigned(
    settings, postfix: PostfixInstance, smtp_sink: SmtpSink, company
):
    dkim_keys.ensure_keys("mycompany.test")  # generated, never published
    use_relay(settings, postfix.relay_url)
    services.send_system_mail(to="a@example.com", subject="Hi", text="t", from_address=company)
    run_queued_tasks()
    [received] = smtp_sink.wait_for(1, timeout=60)
    assert b"DKIM-Signature" not in received.data


def test_a_postfix_bounce_comes_back_to_the_verp_path_and_marks_the_identity(
    settings, make_postfix, make_smtp_sink, company
):
    far_end = make_smtp_sink()
    far_end.fail("550 5.1.1 <ada@example.com>: Recipient address rejected", at="rcpt")
    desk_inbox = make_smtp_sink()
    relay = make_postfix("relay", relayhost=far_end.port, transports={"desk.test": desk_inbox.port})
    use_relay(settings, relay.relay_url)
    ticket = ticket_at("billing@mycompany.test")  # the pipeline acknowledges it, and sends
    outbound = OutboundMessage.objects.get(ticket=ticket, kind=OutboundKind.ACKNOWLEDGEMENT)
    recipient = outbound.recipients.get()

    [dsn] = desk_inbox.wait_for(1, timeout=60)  # Postfix's DSN, to our VERP return path
    assert dsn.rcpt_tos == (recipient.return_path,)
    assert bounces.handle_bounce(dsn.data, list(dsn.rcpt_tos))
    recipient.refresh_from_db()
    assert recipient.status == RecipientStatus.BOUNCED
    assert "5.1.1" in recipient.reply_text
    assert UserIdentity.objects.get(email="ada@example.com").undeliverable
