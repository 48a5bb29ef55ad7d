"""Inbound authentication end to end (SPEC F11, F8): an agent answers by mail through the
company's real mail server (Postfix, which forwards ``billing@mycompany.test`` to the desk),
and the desk checks the DKIM signature against a real DNS server (dnsmasq, through
``POSTDESK_DNS``).

A signed reply becomes the agent's comment; the same mail unsigned, as anyone could send it,
waits in the suspended queue as possible spoofing; and when the DNS doesn't answer, the
agent's mail waits too instead of acting with the agent's rights.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

import dkim
import pytest

from postdesk import keys
from postdesk.channels import services
from postdesk.inbound import authentication
from postdesk.mail import tokens
from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.suspension.models import SuspendedMail
from postdesk.tickets.models import Comment, Role, Ticket, User
from tests.conftest import LiveSMTP, make_mail, run_queued_tasks
from tests.dkim_keys import rsa_key

from .servers.dns import DnsServer
from .servers.postfix import PostfixInstance
from .servers.sink import SmtpSink

pytestmark = pytest.mark.django_db(transaction=True)

# Captured at import, before tests/conftest.py's autouse fixture swaps in its table.
REAL_MAIL_LOOKUP = authentication.mail_lookup
AGENT = "agent@mycompany.test"


@pytest.fixture(scope="module")
def agent_key() -> tuple[bytes, str]:
    """The company's DKIM key: (private PEM, the TXT record to publish)."""
    return rsa_key("mycompany.test")


@pytest.fixture
def desk(
    transactional_db: None,
    make_postfix: Callable[..., PostfixInstance],
    smtp_sink: SmtpSink,
    dns_server: DnsServer,
    agent_key: tuple[bytes, str],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[PostfixInstance]:
    """The desk on the real DNS, and mycompany.test's Postfix forwarding billing@ to it."""
    monkeypatch.setattr(authentication, "mail_lookup", REAL_MAIL_LOOKUP)
    dns_server.set_records({"s1._domainkey.mycompany.test": {"TXT": [agent_key[1]]}})
    with LiveSMTP() as desk_smtp:
        server = make_postfix(
            "mycompany",
            transports={"desk.test": desk_smtp.port},
            virtual_aliases={"billing@mycompany.test": "billing@desk.test"},
            relayhost=smtp_sink.port,
        )
        settings.POSTDESK = dataclasses.replace(
            settings.POSTDESK, relay=server.relay_url, dns_servers=(dns_server.address,)
        )
        services.connect_external("billing@mycompany.test", name="Billing", provider="other")
        yield server


@pytest.fixture
def ticket(transactional_db: None) -> Ticket:
    customer = User.objects.create_user("ada@customer.test", name="Ada")
    User.objects.create_user(AGENT, name="Agent", role=Role.AGENT)
    return Ticket.objects.create(subject="Invoice is wrong", requester=customer)


def agent_writes(server: PostfixInstance, ticket: Ticket, key: bytes | None) -> InboundMessage:
    # The ticket's signed token, as in the notification the agent answers (SPEC F9).
    token = tokens.make_ticket_token(keys.token_key(), ticket.pk)
    raw = make_mail(
        sender=f"Agent <{AGENT}>",
        to="billing@mycompany.test",
        subject=f"Re: Invoice is wrong [#{ticket.pk}]",
        body=f"We have corrected the invoice.\r\n\r\n[{token}]\r\n",
    )
    if key is not None:
        raw = (
            dkim.sign(
                raw, b"s1", b"mycompany.test", key, include_headers=[b"from", b"to", b"subject"]
            )
            + raw
        )
    before = set(InboundMessage.objects.values_list("pk", flat=True))
    server.send(raw, AGENT, "billing@mycompany.test")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run_queued_tasks()
        arrived = InboundMessage.objects.exclude(pk__in=before).first()
        if arrived is not None and arrived.status in InboundStatus.finished():
            return arrived
        time.sleep(0.2)
    raise AssertionError("the agent's mail did not arrive through Postfix in 60 s")


def test_a_signed_agent_reply_through_the_company_server_is_the_agents_comment(
    desk: PostfixInstance, ticket: Ticket, agent_key: tuple[bytes, str]
) -> None:
    message = agent_writes(desk, ticket, agent_key[0])
    assert message.status == InboundStatus.PROCESSED, message.diagnostics
    result = message.diagnostics["authentication"]
    assert result["verdict"] == "pass"
    assert result["dkim"] == [
        {
            "domain": "mycompany.test",
            "selector": "s1",
            "result": "pass",
            "aligned": True,
            "problem": "",
        }
    ]
    # Forwarded by the company's server on this machine: SPF of that hop says nothing.
    assert result["spf"]["result"] == "not_checked"
    comment = Comment.objects.get(ticket=ticket)
    assert comment.author.email == AGENT and message.diagnostics["agent_rights"] is True


def test_the_same_reply_unsigned_waits_as_possible_spoofing(
    desk: PostfixInstance, ticket: Ticket
) -> None:
    message = agent_writes(desk, ticket, None)
    assert message.status == InboundStatus.SUSPENDED
    assert message.diagnostics["authentication"]["verdict"] == "fail"
    suspended = SuspendedMail.objects.get(inbound=message)
    assert suspended.cause == "failed_authentication"
    assert suspended.thread_ticket_id == ticket.pk
    assert not Comment.objects.filter(ticket=ticket).exists()


def test_without_an_answer_from_the_dns_the_agents_mail_waits(
    desk: PostfixInstance, ticket: Ticket, agent_key: tuple[bytes, str], dns_server: DnsServer
) -> None:
    dns_server.stop()
    message = agent_writes(desk, ticket, agent_key[0])
    assert message.status == InboundStatus.SUSPENDED
    result = message.diagnostics["authentication"]
    assert result["verdict"] == "temperror"
    assert SuspendedMail.objects.get(inbound=message).reason == (
        f"claims agent {AGENT}, could not be authenticated"
    )
