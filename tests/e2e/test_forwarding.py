"""External address forwarding end to end (SPEC F2, F3, F7, F12) with a real Postfix playing
the customer's mail server for ``mycompany.test``.

Postfix forwards ``billing@mycompany.test`` to the desk's SMTP server (``postdesk smtpd``'s
server, in a thread of the test) and is also the desk's outbound relay; everything else it
delivers to an SMTP sink standing for the customers' mailboxes. The verification test mail
really goes out through Postfix, is forwarded and comes back. The worker's tasks and the
scheduler's verification job run in the test process.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from postdesk.channels import services, verification
from postdesk.channels.models import (
    AddressEvent,
    EventKind,
    SupportAddress,
    VerificationStatus,
)
from postdesk.outbound.models import OutboundKind, OutboundMessage, OutboundStatus
from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.tickets.models import Group, Role, Ticket, User
from tests.conftest import LiveSMTP, make_mail, run_queued_tasks

from .servers.postfix import PostfixInstance
from .servers.sink import SmtpSink

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_queued_tasks()
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def desk_smtp(transactional_db: None) -> Iterator[LiveSMTP]:
    with LiveSMTP() as server:
        yield server


@pytest.fixture
def customer_server(
    make_postfix: Callable[..., PostfixInstance],
    smtp_sink: SmtpSink,
    desk_smtp: LiveSMTP,
    settings: Any,
) -> PostfixInstance:
    """mycompany.test's server: forwards billing@ to the desk; the desk's relay too."""
    server = make_postfix(
        "mycompany",
        transports={"desk.test": desk_smtp.port},
        virtual_aliases={"billing@mycompany.test": "billing@desk.test"},
        relayhost=smtp_sink.port,
    )
    settings.POSTDESK = dataclasses.replace(
        settings.POSTDESK, relay=server.relay_url, verification_timeout=600
    )
    return server


@pytest.fixture
def admin(transactional_db: None) -> User:
    # The admin reads mail elsewhere (a mailbox the relay delivers to the sink), not at the
    # desk domain, which the customer's server routes back into the desk.
    return User.objects.create_user("admin@it.example", "admin-pass-1", role=Role.ADMIN)


@pytest.fixture
def billing(transactional_db: None) -> SupportAddress:
    group = Group.objects.create(name="Billing")
    return services.connect_external(
        "billing@mycompany.test", name="Billing", provider="other", group=group
    )


def from_header(data: bytes) -> str:
    message = email.message_from_bytes(data, policy=email.policy.default)
    return str(message["From"])


def customer_writes(server: PostfixInstance, subject: str) -> Ticket:
    before = InboundMessage.objects.count()
    server.send(
        make_mail(sender="Ada <ada@customer.test>", to="billing@mycompany.test", subject=subject),
        "ada@customer.test",
        "billing@mycompany.test",
    )
    wait_until(lambda: InboundMessage.objects.count() > before, 60, "the forwarded mail")
    return wait_until(
        lambda: Ticket.objects.filter(subject=subject).first(), 30, f"ticket {subject!r}"
    )


def acknowledgement_to_customer(sink: SmtpSink, count: int) -> bytes:
    mails = sink.wait_for(count, timeout=60)
    acks = [m for m in mails if m.rcpt_tos == ("ada@customer.test",)]
    assert len(acks) == count, [m.rcpt_tos for m in mails]
    return acks[-1].data


def test_forwarding_verified_through_postfix_then_answers_come_from_the_external_address(
    customer_server: PostfixInstance, smtp_sink: SmtpSink, billing: SupportAddress, admin: User
) -> None:
    # Before verification: the ticket is received at billing@mycompany.test and routed, but
    # the acknowledgement comes from the system address.
    first = customer_writes(customer_server, "Invoice 1 is wrong")
    assert first.received_at == billing
    assert first.group is not None and first.group.name == "Billing"
    assert "support@desk.test" in from_header(acknowledgement_to_customer(smtp_sink, 1))

    verification.start(billing, requested_by=admin)
    wait_until(
        lambda: (
            SupportAddress.objects.get(pk=billing.pk).forwarding_status
            == VerificationStatus.VERIFIED
        ),
        60,
        "the test mail to come back through Postfix",
    )
    billing.refresh_from_db()
    assert billing.forwarding_target is not None
    assert billing.forwarding_target.email == "billing@desk.test"
    assert billing.last_verified_at is not None
    # The test mail never became a ticket.
    assert Ticket.objects.count() == 1

    second = customer_writes(customer_server, "Invoice 2 is wrong too")
    assert second.received_at == billing and second.group == first.group
    assert "billing@mycompany.test" in from_header(acknowledgement_to_customer(smtp_sink, 2))


def test_forwarded_to_another_hosted_address_verifies_and_tells_the_admin(
    customer_server: PostfixInstance, smtp_sink: SmtpSink, billing: SupportAddress, admin: User
) -> None:
    customer_server.update(virtual_aliases={"billing@mycompany.test": "accounts@desk.test"})
    verification.start(billing, requested_by=admin)
    wait_until(
        lambda: (
            SupportAddress.objects.get(pk=billing.pk).forwarding_status
            == VerificationStatus.VERIFIED
        ),
        60,
        "the test mail to come back through accounts@desk.test",
    )
    billing.refresh_from_db()
    assert billing.forwarding_target is not None
    assert billing.forwarding_target.email == "accounts@desk.test"
    assert AddressEvent.objects.filter(kind=EventKind.TARGET_CHANGED, notice=True).exists()
    notice = OutboundMessage.objects.get(kind=OutboundKind.ADMIN_NOTICE)
    parsed = email.message_from_bytes(bytes(notice.raw), policy=email.policy.default)
    text = parsed.get_body(("plain",))  # type: ignore[attr-defined]
    assert text is not None and "accounts@desk.test" in text.get_content()
    # The admin notice really left through the relay.
    wait_until(
        lambda: any("admin@it.example" in m.rcpt_tos for m in smtp_sink.messages),
        60,
        "the admin notice",
    )


def test_forwarding_not_configured_fails_not_received_after_the_timeout(
    make_postfix: Callable[..., PostfixInstance],
    smtp_sink: SmtpSink,
    billing: SupportAddress,
    admin: User,
    settings: Any,
) -> None:
    # The mailbox exists but keeps its mail: no forwarding to the desk was set up.
    server = make_postfix(
        "mycompany",
        virtual_aliases={"billing@mycompany.test": "billing-mailbox@mailhost.test"},
        relayhost=smtp_sink.port,
    )
    settings.POSTDESK = dataclasses.replace(
        settings.POSTDESK, relay=server.relay_url, verification_timeout=2
    )
    attempt = verification.start(billing, requested_by=admin)
    wait_until(
        lambda: (
            OutboundMessage.objects.get(pk=attempt.outbound_message_id).status
            == OutboundStatus.SENT
        ),
        60,
        "the test mail to leave",
    )
    [kept] = smtp_sink.wait_for(1, timeout=60)
    assert kept.rcpt_tos == ("billing-mailbox@mailhost.test",)
    time.sleep(2.5)
    assert verification.check_pending() == 1
    billing.refresh_from_db()
    assert billing.forwarding_status == VerificationStatus.FAILED
    assert billing.failure_reason == "not_received"
    assert OutboundMessage.objects.filter(kind=OutboundKind.ADMIN_NOTICE).exists()


def test_relay_down_fails_send_failed(
    make_postfix: Callable[..., PostfixInstance],
    smtp_sink: SmtpSink,
    billing: SupportAddress,
    admin: User,
    settings: Any,
) -> None:
    server = make_postfix("relay", relayhost=smtp_sink.port)
    relay_url = server.relay_url
    server.stop()  # the relay is down for the whole attempt
    settings.POSTDESK = dataclasses.replace(
        settings.POSTDESK, relay=relay_url, verification_timeout=2
    )
    attempt = verification.start(billing, requested_by=admin)
    run_queued_tasks()
    outbound = OutboundMessage.objects.get(pk=attempt.outbound_message_id)
    assert outbound.status != OutboundStatus.SENT
    time.sleep(2.5)
    assert verification.check_pending() == 1
    billing.refresh_from_db()
    assert billing.forwarding_status == VerificationStatus.FAILED
    assert billing.failure_reason == "send_failed"
    assert InboundMessage.objects.filter(status=InboundStatus.PROCESSED).count() == 0
