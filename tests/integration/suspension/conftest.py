"""Fixtures for the suspended-mail queue: spooling literal mails and running the protection
step on them exactly as the pipeline does, users of each role, and an injectable clock."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest
from django.core.cache import caches
from django.db import transaction
from django.test import Client

from postdesk.inbound import protection
from postdesk.mail.envelope import Envelope
from postdesk.mail.parse import parse
from postdesk.spool.accept import accept
from postdesk.spool.models import InboundMessage
from postdesk.suspension import policy
from postdesk.tickets import api_tokens
from postdesk.tickets.models import Role, User
from tests.integration.conftest import make_user


def spool(
    raw: bytes,
    rcpt: str = "support@desk.test",
    mail_from: str = "ada@example.com",
    transport: str = "smtp",
) -> InboundMessage:
    result = accept(raw, Envelope(transport=transport, rcpt_tos=(rcpt,), mail_from=mail_from))
    return InboundMessage.objects.get(pk=result.message_id)


def screen(message: InboundMessage) -> protection.Screening:
    """The protection step on a spooled mail, in a transaction with the mail locked; a mail it
    ends (suspended, dropped, bounce) is saved with its new status, as the pipeline does."""
    with transaction.atomic():
        locked = InboundMessage.objects.select_for_update().get(pk=message.pk)
        screening = protection.screen(locked, parse(bytes(locked.raw)))
        if screening.final_status is not None:
            locked.status = screening.final_status
            locked.diagnostics = {"protection": screening.diagnostics}
            locked.save()
    message.refresh_from_db()
    return screening


@pytest.fixture
def spool_mail() -> Callable[..., InboundMessage]:
    return spool


@pytest.fixture
def screen_mail() -> Callable[[InboundMessage], protection.Screening]:
    return screen


class FakeClock:
    def __init__(self, start: float = 1_900_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    fake = FakeClock()
    monkeypatch.setattr(policy, "CLOCK", fake)
    yield fake


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    # The API's per-user throttle counts in the cache; one test must not throttle the next.
    caches["default"].clear()


@pytest.fixture
def end_user(db: None) -> User:
    return make_user("customer@example.com", Role.END_USER)


def api_client(user: User) -> Client:
    token = api_tokens.create(user, "test")
    credentials = base64.b64encode(f"{user.email}/token:{token}".encode()).decode()
    return Client(HTTP_AUTHORIZATION="Basic " + credentials)


@pytest.fixture
def agent_api(agent: User) -> Client:
    return api_client(agent)
