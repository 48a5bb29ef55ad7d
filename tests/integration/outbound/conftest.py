"""Fixtures for outbound tests: the relay chosen per test, fast retries, a spooled ticket."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest

from postdesk.jobs.retry import RetryPolicy
from postdesk.mail.envelope import Envelope
from postdesk.outbound import delivery
from postdesk.outbound.models import OutboundMessage
from postdesk.outbound.relays import locmem
from postdesk.spool.accept import accept
from postdesk.suspension.models import RateEvent
from postdesk.tickets.models import Ticket
from tests.conftest import run_queued_tasks


def use_relay(settings: pytest.FixtureRequest, url: str) -> None:
    settings.POSTDESK = dataclasses.replace(settings.POSTDESK, relay=url)  # type: ignore[attr-defined]


@pytest.fixture
def locmem_relay(settings) -> Iterator[list[locmem.LocmemMail]]:  # type: ignore[no-untyped-def]
    """``POSTDESK_RELAY=locmem:``; yields the list of mails the relay accepted."""
    use_relay(settings, "locmem:")
    locmem.reset()
    yield locmem.sent
    locmem.reset()


@pytest.fixture
def fast_retry(monkeypatch: pytest.MonkeyPatch) -> RetryPolicy:
    """Retries due at once and only three attempts, so a test sees the whole life of a mail."""
    policy = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, jitter=0.0)
    monkeypatch.setattr(delivery, "RETRY", policy)
    return policy


@pytest.fixture
def new_ticket(mail: Callable[..., bytes]) -> Callable[..., Ticket]:
    """Spool a customer's mail and process it; returns the ticket it became.

    The pipeline acknowledges a new ticket by itself; unless ``keep_acknowledgement`` is
    set, that mail and the rate-limit events it counted are removed again, so that each
    test decides on its own what is sent."""

    def make(
        rcpt: str = "support@desk.test", keep_acknowledgement: bool = False, **headers: str
    ) -> Ticket:
        raw = mail(**headers)
        accepted = accept(raw, Envelope(transport="smtp", rcpt_tos=(rcpt,), mail_from="x@y.z"))
        run_queued_tasks()
        if not keep_acknowledgement:
            OutboundMessage.objects.all().delete()
            RateEvent.objects.all().delete()
            locmem.reset()
        return Ticket.objects.get(inbound__pk=accepted.message_id)

    return make
