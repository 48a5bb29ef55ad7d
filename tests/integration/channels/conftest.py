"""Fixtures for the email channel's tests: admins, groups, the locmem relay, returning mail."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest
from django.core.cache import caches
from django.test import Client
from django.utils import translation

from postdesk.channels.models import SupportAddress, VerificationAttempt
from postdesk.mail.envelope import Envelope
from postdesk.mail.parse import parse
from postdesk.outbound.models import OutboundMessage
from postdesk.outbound.relays import locmem
from postdesk.spool.accept import accept
from postdesk.spool.models import InboundMessage
from postdesk.tickets.models import Group, Role, User


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    caches["default"].clear()


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    # LocaleMiddleware leaves a request's language active on the thread; a Korean page
    # fetched by one test must not translate the next test's messages.
    translation.activate("en")
    yield
    translation.activate("en")


@pytest.fixture
def relay(settings) -> Iterator[list[locmem.LocmemMail]]:  # type: ignore[no-untyped-def]
    """``POSTDESK_RELAY=locmem:`` for the test; yields what the relay accepted."""
    settings.POSTDESK = dataclasses.replace(settings.POSTDESK, relay="locmem:")
    locmem.reset()
    yield locmem.sent
    locmem.reset()


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user(
        "admin@desk.test", password="admin-pass-1", role=Role.ADMIN, name="Admin"
    )


@pytest.fixture
def admin_client(admin: User) -> Client:
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def billing_group(db: None) -> Group:
    return Group.objects.create(name="Billing")


def outbox_raw(attempt: VerificationAttempt) -> bytes:
    """The raw test mail the attempt queued in the outbox."""
    return bytes(OutboundMessage.objects.get(pk=attempt.outbound_message_id).raw)


@pytest.fixture
def returning() -> Callable[..., InboundMessage]:
    """Spool ``raw`` as a forwarder would deliver it to ``rcpt`` (a hosted address)."""

    def spool(raw: bytes, rcpt: str, *, extra_headers: str = "") -> InboundMessage:
        forwarded = f"Delivered-To: {rcpt}\r\n{extra_headers}".encode() + raw
        accepted = accept(
            forwarded,
            Envelope(transport="smtp", rcpt_tos=(rcpt,), mail_from="bounce@mycompany.test"),
        )
        return InboundMessage.objects.get(pk=accepted.message_id)

    return spool


def handle(message: InboundMessage):  # type: ignore[no-untyped-def]
    from postdesk.inbound.channels_step import handle_channel_mail

    return handle_channel_mail(message, parse(bytes(message.raw)))


@pytest.fixture
def external(db: None, billing_group: Group) -> SupportAddress:
    from postdesk.channels import services

    return services.connect_external(
        "billing@mycompany.test", name="Billing", provider="other", group=billing_group
    )
