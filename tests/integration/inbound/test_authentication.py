"""Inbound authentication in the pipeline (SPEC F11, F8): the result is stored and shown, only
mail that passes acts with an agent's rights, and mail claiming an agent's or a support
address that fails waits in the suspended queue.

The DNS is the test table of ``tests/conftest.py`` (``inbound_dns``): keys and records are
published there; the real DNS path runs in tests/e2e against dnsmasq.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.test import Client

from postdesk import cli
from postdesk.mail.envelope import Envelope
from postdesk.spool.accept import accept
from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.suspension import policy, services
from postdesk.suspension.models import SuspendedMail
from postdesk.tickets.models import Comment, Role, Ticket, User

pytestmark = pytest.mark.django_db

AGENT = "agent@acme.test"


@pytest.fixture
def sign(dkim_sign: Callable[..., bytes]) -> Callable[..., bytes]:
    return dkim_sign


@pytest.fixture
def agent() -> User:
    return User.objects.create_user(AGENT, name="Agent", role=Role.AGENT)


def set_profile(profile: str, forwarders: list[str] | None = None) -> None:
    row = policy.current_settings()
    row.auth_profile = profile
    row.trusted_forwarders = forwarders or []
    row.save()


def spool(raw: bytes, run_tasks, **envelope: object) -> InboundMessage:
    fields = {
        "transport": "smtp",
        "rcpt_tos": ("support@desk.test",),
        "mail_from": "ada@example.com",
        "peer_ip": "192.0.2.7",
        **envelope,
    }
    message_id = accept(raw, Envelope(**fields)).message_id  # type: ignore[arg-type]
    run_tasks()
    return InboundMessage.objects.get(pk=message_id)


def test_a_signed_agent_reply_passes_and_keeps_agent_rights(mail, sign, agent, run_tasks):
    message = spool(sign(mail(sender=f"Agent <{AGENT}>"), "acme.test"), run_tasks)
    assert message.status == InboundStatus.PROCESSED
    result = message.diagnostics["authentication"]
    assert result["verdict"] == "pass", result
    assert result["dkim"][0]["domain"] == "acme.test" and result["dkim"][0]["aligned"]
    assert message.diagnostics["agent_rights"] is True
    assert Comment.objects.get().author == agent


def test_an_unsigned_mail_claiming_an_agent_is_suspended_as_spoofing(mail, agent, run_tasks):
    message = spool(mail(sender=f"Agent <{AGENT}>"), run_tasks)
    assert message.status == InboundStatus.SUSPENDED
    assert message.diagnostics["authentication"]["verdict"] == "fail"
    assert message.diagnostics["agent_rights"] is False
    queued = SuspendedMail.objects.get()
    assert queued.cause == "failed_authentication"
    assert queued.reason == f"claims agent {AGENT}, fails authentication"
    assert not Comment.objects.exists() and not Ticket.objects.exists()


def test_a_signature_by_another_domain_does_not_make_an_agent(mail, sign, agent, run_tasks):
    message = spool(sign(mail(sender=f"Agent <{AGENT}>"), "mailer.example"), run_tasks)
    assert message.status == InboundStatus.SUSPENDED
    result = message.diagnostics["authentication"]
    assert result["verdict"] == "fail"
    assert result["dkim"][0]["result"] == "pass" and not result["dkim"][0]["aligned"]


def test_an_agent_claim_the_dns_could_not_check_waits_for_an_agent(
    mail, sign, agent, run_tasks, inbound_dns
):
    inbound_dns.failing.add("s1._domainkey.acme.test")
    message = spool(sign(mail(sender=f"Agent <{AGENT}>"), "acme.test"), run_tasks)
    assert message.status == InboundStatus.SUSPENDED
    assert message.diagnostics["authentication"]["verdict"] == "temperror"
    assert SuspendedMail.objects.get().reason == f"claims agent {AGENT}, could not be authenticated"


def test_a_mail_claiming_a_support_address_that_fails_is_held_too(mail, run_tasks):
    message = spool(mail(sender="Support <support@desk.test>"), run_tasks)
    hits = {hit["rule"]: hit["reason"] for hit in message.diagnostics["protection"]["hits"]}
    assert hits["failed_authentication"] == (
        "claims support address support@desk.test, fails authentication"
    )
    # The desk's own address as sender is a loop as well, and dropping is the stronger verdict.
    assert message.status == InboundStatus.DROPPED and not Ticket.objects.exists()


def test_a_check_that_breaks_holds_agent_mail_and_lets_customers_through(
    mail, agent, run_tasks, monkeypatch
):
    def broken(*args: object) -> None:
        raise ValueError("a library bug")

    monkeypatch.setattr("postdesk.inbound.authentication.evaluate", broken)
    customer = spool(mail(), run_tasks)
    assert customer.status == InboundStatus.PROCESSED
    assert customer.diagnostics["authentication"]["reason"] == "the check failed (ValueError)"
    claimed = spool(mail(sender=f"Agent <{AGENT}>", subject="Other"), run_tasks)
    assert claimed.status == InboundStatus.SUSPENDED
    assert claimed.diagnostics["authentication"]["verdict"] == "temperror"


def test_a_customer_who_fails_still_gets_a_ticket_with_the_result_stored(mail, run_tasks):
    message = spool(mail(), run_tasks)
    assert message.status == InboundStatus.PROCESSED
    result = message.diagnostics["authentication"]
    assert result["verdict"] == "fail" and result["from_domain"] == "example.com"
    assert result["spf"]["result"] == "not_checked"  # came from a non-global address


def test_strict_suspends_every_failing_mail(mail, sign, run_tasks):
    set_profile("strict")
    assert spool(mail(), run_tasks).status == InboundStatus.SUSPENDED
    signed = spool(sign(mail(subject="Signed"), "example.com"), run_tasks)
    assert signed.status == InboundStatus.PROCESSED


def test_off_checks_nothing_and_trusts_the_from_address(mail, agent, run_tasks, inbound_dns):
    set_profile("off")
    message = spool(mail(sender=f"Agent <{AGENT}>"), run_tasks)
    assert message.status == InboundStatus.PROCESSED
    assert message.diagnostics["authentication"] == {"verdict": "not_checked"}
    assert message.diagnostics["agent_rights"] is True
    assert inbound_dns.asked == []


def test_an_agent_mail_let_through_by_an_override_is_flagged(mail, agent, run_tasks):
    row = policy.current_settings()
    row.actions = {"failed_authentication": "accept"}
    row.save()
    message = spool(mail(sender=f"Agent <{AGENT}>"), run_tasks)
    assert message.status == InboundStatus.PROCESSED
    assert message.diagnostics["agent_rights"] is False
    assert "agent_not_authenticated" in Ticket.objects.get().flags


def test_a_recovered_agent_mail_becomes_the_agents_comment(mail, agent, run_tasks):
    message = spool(mail(sender=f"Agent <{AGENT}>"), run_tasks)
    services.recover(SuspendedMail.objects.get(), by=agent)
    message.refresh_from_db()
    assert message.status == InboundStatus.PROCESSED
    assert message.diagnostics["authentication"]["verdict"] == "fail"
    assert Comment.objects.get().author == agent


TRUSTED_RESULTS = (
    "Authentication-Results: mx.acme.test; dkim=pass header.d=acme.test;"
    " dmarc=pass header.from=acme.test\r\n"
)


def test_a_trusted_local_mta_speaks_for_mail_it_hands_over(mail, agent, run_tasks):
    set_profile("default", ["acme.test"])
    raw = mail(sender=f"Agent <{AGENT}>", extra_headers=TRUSTED_RESULTS)
    message = spool(raw, run_tasks, transport="lmtp", peer_ip="")
    assert message.status == InboundStatus.PROCESSED, message.diagnostics
    result = message.diagnostics["authentication"]
    assert result["verdict"] == "pass" and result["upstream"]["authserv_id"] == "mx.acme.test"
    assert message.diagnostics["agent_rights"] is True


def test_results_written_by_the_sender_count_for_nothing(mail, agent, run_tasks, inbound_dns):
    set_profile("default", ["acme.test"])
    raw = mail(sender=f"Agent <{AGENT}>", extra_headers=TRUSTED_RESULTS)
    # Straight from a server on the Internet: the header is the sender's own words.
    message = spool(raw, run_tasks, peer_ip="45.33.32.156", mail_from=AGENT)
    assert message.status == InboundStatus.SUSPENDED
    result = message.diagnostics["authentication"]
    assert result["upstream"] == {} and result["spf"]["result"] == "none"
    assert ("acme.test", "TXT") in inbound_dns.asked  # SPF was looked up for the client


def test_spf_of_a_direct_client_passes_an_agent(mail, agent, run_tasks, inbound_dns):
    inbound_dns.records["acme.test"] = {"TXT": ["v=spf1 ip4:45.33.32.0/24 -all"]}
    message = spool(
        mail(sender=f"Agent <{AGENT}>"), run_tasks, peer_ip="45.33.32.156", mail_from=AGENT
    )
    assert message.status == InboundStatus.PROCESSED
    spf = message.diagnostics["authentication"]["spf"]
    assert spf["result"] == "pass" and spf["aligned"]


def test_the_ticket_page_the_inbound_page_and_the_command_show_the_result(
    mail, sign, run_tasks, client: Client, capsys
):
    admin = User.objects.create_user("admin@desk.test", password="pw", role=Role.ADMIN)
    message = spool(sign(mail(subject="<b>Signed</b>"), "example.com"), run_tasks)
    client.force_login(admin)
    page = client.get(f"/tickets/{message.ticket_id}/").content.decode()
    assert 'class="badge auth-pass"' in page and "d=example.com" in page
    detail = client.get(f"/admin/channels/email/inbound/{message.pk}/").content.decode()
    assert 'class="badge auth-pass"' in detail
    korean = client.get(f"/tickets/{message.ticket_id}/", HTTP_ACCEPT_LANGUAGE="ko")
    assert ">통과</span>" in korean.content.decode()
    capsys.readouterr()
    assert cli.main(["inbound", str(message.pk)]) == 0
    line = next(
        line for line in capsys.readouterr().out.splitlines() if line.startswith("Authentication")
    )
    assert "pass: " in line and "DKIM pass d=example.com" in line
    assert cli.main(["inbound", str(message.pk), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["authentication"]["verdict"] == "pass"
