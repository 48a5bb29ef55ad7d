"""Gmail confirmations reach the address's page, never a ticket (F4); routing (F7)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from postdesk.channels import routing, services
from postdesk.channels.models import GmailConfirmation, RoutingRule, SupportAddress
from postdesk.spool.models import InboundMessage
from postdesk.tickets.models import Group, Ticket, User

from .conftest import handle

pytestmark = pytest.mark.django_db

GMAIL_CONFIRMATION = b"""\
From: Gmail Team <forwarding-noreply@google.com>\r
To: billing@desk.test\r
Subject: (#412345678) Gmail Forwarding Confirmation - Receive Mail from billing@mycompany.test\r
Message-ID: <confirm-1@google.com>\r
Content-Type: text/plain; charset=UTF-8\r
\r
billing@mycompany.test has requested to automatically forward mail to your email\r
address billing@desk.test.\r
Confirmation code: 412345678\r
\r
https://mail-settings.google.com/mail/vf-%5BANGjdJ9x%5D-Q2xKZ3lQ\r
"""


def test_gmail_confirmation_is_stored_on_the_external_address_and_shown(
    external: SupportAddress,
    returning: Callable[..., InboundMessage],
    admin_client: Client,
) -> None:
    message = returning(GMAIL_CONFIRMATION, "billing@desk.test")
    outcome = handle(message)
    assert outcome is not None and outcome.verdict == "gmail_confirmation"
    confirmation = GmailConfirmation.objects.get()
    assert confirmation.address == external
    assert confirmation.code == "412345678"
    assert confirmation.confirmation_url.startswith("https://mail-settings.google.com/mail/vf-")
    assert not Ticket.objects.exists()
    page = admin_client.get(reverse("channels:setup", args=[external.pk]) + "?provider=gmail")
    assert b"412345678" in page.content
    assert b"https://mail-settings.google.com/mail/vf-%5BANGjdJ9x%5D-Q2xKZ3lQ" in page.content
    detail = admin_client.get(reverse("channels:address", args=[external.pk]))
    assert b"412345678" in detail.content


def test_confirmation_for_an_unknown_gmail_account_goes_to_the_forwarder_of_the_target(
    external: SupportAddress, returning: Callable[..., InboundMessage]
) -> None:
    raw = GMAIL_CONFIRMATION.replace(b"billing@mycompany.test", b"someone@gmail.com")
    handle(returning(raw, "billing@desk.test"))
    assert GmailConfirmation.objects.get().address == external


def test_routing_applies_the_address_group_then_rules_in_order(
    external: SupportAddress, billing_group: Group, admin: User
) -> None:
    vip = Group.objects.create(name="VIP")
    RoutingRule.objects.create(received_at=external, priority="high", tags=["billing"], position=1)
    RoutingRule.objects.create(received_at=external, group=vip, tags=["vip"], position=2)
    RoutingRule.objects.create(received_at=external, group=billing_group, active=False)
    ticket = Ticket.objects.create(subject="Invoice", requester=admin, received_at=external)
    changes = routing.apply(ticket)
    ticket.refresh_from_db()
    assert ticket.group == vip
    assert ticket.priority == "high"
    assert ticket.tags == ["billing", "vip"]
    assert changes["tags"] == ["billing", "vip"]


def test_routing_without_rules_uses_the_address_group(
    external: SupportAddress, billing_group: Group, admin: User
) -> None:
    ticket = Ticket.objects.create(subject="Invoice", requester=admin, received_at=external)
    routing.apply(ticket)
    ticket.refresh_from_db()
    assert ticket.group == billing_group
    hosted = services.create_hosted("orders")
    other = Ticket.objects.create(subject="Order", requester=admin, received_at=hosted)
    assert routing.apply(other) == {}


def test_tags_are_cleaned() -> None:
    assert routing.clean_tags("VIP, billing  Late Payment,vip") == [
        "vip",
        "billing",
        "late",
        "payment",
    ]
    assert routing.clean_tags(["a b", "<x>"]) == ["a_b", "x"]
