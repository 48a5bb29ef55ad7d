"""The ``smtp://`` relay against a real SMTP server (aiosmtpd ``SmtpSink`` with scripted
failures): replies per recipient, 4xx/5xx, a reset in the middle of DATA, a relay that is
down, STARTTLS with certificate checks and AUTH."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trustme

from postdesk.outbound import delivery, services
from postdesk.outbound.models import OutboundMessage, OutboundStatus, RecipientStatus
from postdesk.outbound.relays import RelayError, relay_from_url
from postdesk.outbound.relays.smtp import SmtpRelay
from tests.conftest import free_port
from tests.e2e.servers.sink import SmtpSink
from tests.integration.outbound.conftest import use_relay

pytestmark = pytest.mark.django_db


@pytest.fixture
def sink(settings) -> Iterator[SmtpSink]:  # type: ignore[no-untyped-def]
    with SmtpSink() as server:
        use_relay(settings, server.relay_url)
        yield server


def mail_to(*to: str) -> OutboundMessage:
    return services.send_system_mail(to=list(to), subject="Hello", text="Body")


def test_mail_arrives_with_its_verp_envelope_and_exact_bytes(sink, run_tasks):
    outbound = mail_to("a@example.com", "b@example.com")
    run_tasks()
    received = sink.wait_for(2)
    assert sorted(m.rcpt_tos for m in received) == [("a@example.com",), ("b@example.com",)]
    rows = {r.address: r for r in outbound.recipients.all()}
    for mail in received:
        assert mail.mail_from == rows[mail.rcpt_tos[0]].return_path
        outbound.refresh_from_db()
        assert mail.data == outbound.sent_bytes()
    assert outbound.status == OutboundStatus.SENT
    assert {r.reply_code for r in rows.values()} == {250}


def test_4xx_is_retried_and_5xx_fails_the_recipient(sink, fast_retry, run_tasks):
    sink.fail("451 4.3.0 Try again later", at="data", times=1)
    sink.fail("550 5.1.1 No such user", at="rcpt", times=1)
    outbound = mail_to("gone@example.com", "later@example.com")
    run_tasks()
    outbound.refresh_from_db()
    rows = {r.address: r for r in outbound.recipients.all()}
    assert rows["gone@example.com"].status == RecipientStatus.FAILED
    assert rows["gone@example.com"].reply_text == "5.1.1 No such user"
    assert rows["later@example.com"].status == RecipientStatus.SENT
    assert rows["later@example.com"].attempts == 2
    assert [m.rcpt_tos for m in sink.messages] == [("later@example.com",)]


def test_a_reset_in_the_middle_of_data_is_retried_without_a_duplicate(sink, fast_retry, run_tasks):
    sink.drop(at="body", times=1)
    outbound = mail_to("a@example.com")
    run_tasks()
    outbound.refresh_from_db()
    assert outbound.status == OutboundStatus.SENT and outbound.attempts == 2
    assert [a.outcome for a in sink.attempts] == ["dropped at body", "accepted"]
    assert len(sink.messages) == 1


def test_a_reset_after_the_whole_message_is_the_one_duplicate_smtp_allows(
    sink, fast_retry, run_tasks
):
    sink.drop(at="end", times=1)
    mail_to("a@example.com")
    run_tasks()
    attempts = sink.attempts
    assert [a.outcome for a in attempts] == ["dropped at end", "accepted"]
    # The duplicate is recognisable: the same bytes, the same Message-ID.
    assert attempts[0].data == attempts[1].data


def test_a_relay_that_is_down_is_retried_then_the_mail_fails(settings, fast_retry, run_tasks):
    use_relay(settings, f"smtp://127.0.0.1:{free_port()}")
    outbound = mail_to("a@example.com")
    run_tasks()
    outbound.refresh_from_db()
    assert outbound.status == OutboundStatus.FAILED
    assert outbound.attempts == fast_retry.max_attempts
    assert "cannot reach the relay" in outbound.recipients.get().reply_text


def test_a_relay_that_comes_back_gets_the_mail(settings, fast_retry, run_tasks):
    port = free_port()
    use_relay(settings, f"smtp://127.0.0.1:{port}")
    outbound = mail_to("a@example.com")
    assert delivery.deliver(outbound.pk) == OutboundStatus.QUEUED
    with SmtpSink(port=port) as sink:
        run_tasks()
        assert len(sink.wait_for(1)) == 1
    outbound.refresh_from_db()
    assert outbound.status == OutboundStatus.SENT


def test_starttls_and_auth(settings, run_tasks, monkeypatch):
    ca = trustme.CA()
    with SmtpSink(tls=ca, require_starttls=True, credentials={"desk": "s3cret"}) as sink:
        url = f"{sink.relay_url}&cafile={sink.ca_file}"
        use_relay(settings, url)
        mail_to("a@example.com")
        run_tasks()
        [received] = sink.wait_for(1)
        assert received.tls and received.authenticated_as == "desk"


def test_a_certificate_the_relay_cannot_prove_is_refused(settings, fast_retry, run_tasks):
    with SmtpSink(tls=trustme.CA(), require_starttls=True) as sink:
        use_relay(settings, sink.relay_url)  # the system trust store doesn't know this CA
        outbound = mail_to("a@example.com")
        run_tasks()
        assert sink.messages == []
    outbound.refresh_from_db()
    assert outbound.status == OutboundStatus.FAILED
    assert "CERTIFICATE_VERIFY_FAILED" in outbound.last_error


def test_relay_urls():
    relay = relay_from_url("smtp://user%40x:p%3Ass@mail.example.com:587?starttls=1")
    assert isinstance(relay, SmtpRelay)
    assert (relay.host, relay.port, relay.username, relay.password, relay.starttls) == (
        "mail.example.com",
        587,
        "user@x",
        "p:ss",
        True,
    )
    assert relay_from_url("smtps://mail.example.com").port == 465  # type: ignore[attr-defined]
    assert relay_from_url("outbox:").name == "outbox"
    for bad in ("ftp://x", "smtp://", "smtp://h:1?bogus=1"):
        with pytest.raises(RelayError):
            relay_from_url(bad)
    assert "p:ss" not in repr(relay)
