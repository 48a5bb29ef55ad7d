"""Helpers for the inbound pipeline tests: spool a mail as a transport would, then run the
worker's tasks in-process (``run_tasks``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from postdesk.mail.envelope import Envelope
from postdesk.spool.accept import accept
from postdesk.spool.models import InboundMessage


def spool_mail(
    raw: bytes, rcpt: str = "support@desk.test", mail_from: str = "ada@example.com"
) -> int:
    envelope = Envelope(
        transport="smtp", rcpt_tos=(rcpt,), mail_from=mail_from, peer_ip="192.0.2.7"
    )
    return accept(raw, envelope).message_id


@pytest.fixture
def deliver(run_tasks: Callable[..., int]) -> Callable[..., InboundMessage]:
    """Spool one mail, process everything queued, return the mail's spool row."""

    def deliver(raw: bytes, **envelope: str) -> InboundMessage:
        message_id = spool_mail(raw, **envelope)
        run_tasks()
        return InboundMessage.objects.get(pk=message_id)

    return deliver
