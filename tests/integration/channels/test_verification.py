"""Forwarding verification (SPEC F3): the test mail, its return, timeouts, forged tokens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from postdesk.channels import services, verification
from postdesk.channels.models import (
    AddressEvent,
    AttemptState,
    EventKind,
    SupportAddress,
    VerificationAttempt,
    VerificationStatus,
)
from postdesk.channels.services import AddressError
from postdesk.mail.parse import parse
from postdesk.mail.tokens import VERIFICATION_HEADER, hash_token
from postdesk.outbound.models import OutboundKind, OutboundMessage
from postdesk.outbound.relays import locmem
from postdesk.outbound.sender import may_send_from
from postdesk.spool.models import InboundMessage
from postdesk.tickets.models import User
from tests.conftest import run_queued_tasks

from .conftest import handle, outbox_raw

pytestmark = pytest.mark.django_db


def _start(address: SupportAddress, admin: User) -> tuple[VerificationAttempt, bytes, str]:
    attempt = verification.start(address, requested_by=admin)
    raw = outbox_raw(attempt)
    token = parse(raw).headers.get(VERIFICATION_HEADER)
    return attempt, raw, token


def test_verify_sends_a_test_mail_from_the_system_address_with_the_token_everywhere(
    external: SupportAddress, admin: User, relay: list[locmem.LocmemMail]
) -> None:
    attempt, raw, token = _start(external, admin)
    parsed = parse(raw)
    assert token.startswith("pdv-")
    assert token in parsed.subject
    assert token in parsed.text
    assert parsed.from_address is not None
    assert parsed.from_address.email == "support@desk.test"
    assert [a.email for a in parsed.to] == ["billing@mycompany.test"]
    # Only the hash is stored.
    assert attempt.token_sha256 == hash_token(token)
    assert not VerificationAttempt.objects.filter(token_sha256=token).exists()
    external.refresh_from_db()
    assert external.forwarding_status == VerificationStatus.WAITING
    run_queued_tasks()
    assert [m.recipients for m in relay] == [("billing@mycompany.test",)]


def test_returning_test_mail_verifies_and_never_becomes_a_ticket(
    external: SupportAddress,
    admin: User,
    relay: list[locmem.LocmemMail],
    returning: Callable[..., InboundMessage],
) -> None:
    attempt, raw, _token = _start(external, admin)
    message = returning(raw, "billing@desk.test")
    outcome = handle(message)
    assert outcome is not None and outcome.verdict == "verified"
    assert outcome.details["target_changed"] is False
    external.refresh_from_db()
    assert external.forwarding_status == VerificationStatus.VERIFIED
    assert external.last_verified_at is not None
    assert external.forwarding_target is not None
    assert external.forwarding_target.email == "billing@desk.test"
    assert may_send_from(external)
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.VERIFIED
    assert attempt.inbound_id == message.pk
    assert not AddressEvent.objects.filter(kind=EventKind.TARGET_CHANGED).exists()


def test_token_found_in_the_subject_when_a_forwarder_dropped_the_header(
    external: SupportAddress,
    admin: User,
    relay: list[locmem.LocmemMail],
    returning: Callable[..., InboundMessage],
) -> None:
    _attempt, raw, _token = _start(external, admin)
    stripped = b"\r\n".join(
        line for line in raw.split(b"\r\n") if not line.startswith(VERIFICATION_HEADER.encode())
    )
    outcome = handle(returning(stripped, "billing@desk.test"))
    assert outcome is not None and outcome.verdict == "verified"


def test_arrival_at_another_hosted_address_updates_the_target_and_tells_the_admin(
    external: SupportAddress,
    admin: User,
    relay: list[locmem.LocmemMail],
    returning: Callable[..., InboundMessage],
) -> None:
    _attempt, raw, _token = _start(external, admin)
    outcome = handle(returning(raw, "finance@desk.test"))
    assert outcome is not None and outcome.verdict == "verified"
    assert outcome.details["target_changed"] is True
    external.refresh_from_db()
    assert external.forwarding_status == VerificationStatus.VERIFIED
    assert external.forwarding_target is not None
    assert external.forwarding_target.email == "finance@desk.test"
    notice = AddressEvent.objects.get(kind=EventKind.TARGET_CHANGED)
    assert notice.notice and "finance@desk.test" in notice.detail
    mail = OutboundMessage.objects.get(kind=OutboundKind.ADMIN_NOTICE)
    assert b"finance@desk.test" in bytes(mail.raw)
    assert "admin@desk.test" in mail.recipients.values_list("address", flat=True)


def test_replayed_expired_superseded_and_misaddressed_tokens_change_nothing(
    external: SupportAddress,
    admin: User,
    relay: list[locmem.LocmemMail],
    returning: Callable[..., InboundMessage],
) -> None:
    first, first_raw, _ = _start(external, admin)
    # Verify again (after the minimum interval): the first token is superseded.
    later = timezone.now() + verification.MIN_INTERVAL + timedelta(seconds=1)
    second = verification.start(external, requested_by=admin, now=later)
    outcome = handle(returning(first_raw, "billing@desk.test"))
    assert outcome is not None and outcome.verdict == "verification_ignored"
    assert outcome.details["reason"] == "attempt_superseded"
    external.refresh_from_db()
    assert external.forwarding_status == VerificationStatus.WAITING

    second_raw = outbox_raw(second)
    # The same mail claiming another address in To: ignored.
    misaddressed = second_raw.replace(b"To: billing@mycompany.test", b"To: sales@mycompany.test")
    outcome = handle(returning(misaddressed, "billing@desk.test"))
    assert outcome is not None and outcome.details["reason"] == "wrong_address"

    # Used once, then replayed: the replay is ignored.
    outcome = handle(returning(second_raw, "billing@desk.test"))
    assert outcome is not None and outcome.verdict == "verified"
    replay = handle(returning(second_raw, "billing@desk.test", extra_headers="X-Replay: 1\r\n"))
    assert replay is not None and replay.details["reason"] == "attempt_verified"
    assert first.pk != second.pk


def test_expired_token_is_ignored(
    external: SupportAddress,
    admin: User,
    relay: list[locmem.LocmemMail],
    returning: Callable[..., InboundMessage],
) -> None:
    attempt, raw, _ = _start(external, admin)
    VerificationAttempt.objects.filter(pk=attempt.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    outcome = handle(returning(raw, "billing@desk.test"))
    assert outcome is not None and outcome.details["reason"] == "expired"
    external.refresh_from_db()
    assert external.forwarding_status == VerificationStatus.WAITING


def test_a_forged_token_is_logged_and_the_mail_handled_as_any_other(
    external: SupportAddress,
    returning: Callable[..., InboundMessage],
    mail: Callable[..., bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    forged = mail(
        to="billing@mycompany.test",
        subject="Postdesk forwarding test [pdv-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]",
    )
    assert handle(returning(forged, "billing@desk.test")) is None
    assert "unknown_token" in caplog.text
    external.refresh_from_db()
    assert external.forwarding_status == VerificationStatus.UNKNOWN


def test_timeout_fails_with_not_received_and_notifies(
    external: SupportAddress, admin: User, relay: list[locmem.LocmemMail]
) -> None:
    attempt, _raw, _ = _start(external, admin)
    run_queued_tasks()  # the relay takes the test mail
    assert verification.check_pending() == 0
    assert verification.check_pending(now=attempt.expires_at + timedelta(seconds=1)) == 1
    external.refresh_from_db()
    assert external.forwarding_status == VerificationStatus.FAILED
    assert external.failure_reason == "not_received"
    assert not may_send_from(external)
    notice = OutboundMessage.objects.get(kind=OutboundKind.ADMIN_NOTICE)
    assert b"billing@mycompany.test" in bytes(notice.raw)
    assert AddressEvent.objects.filter(kind=EventKind.FAILED, address=external).exists()


def test_relay_refusing_the_test_mail_fails_with_send_failed(
    external: SupportAddress, admin: User, relay: list[locmem.LocmemMail]
) -> None:
    locmem.fail("550 5.7.1 relaying denied", at="rcpt")
    _start(external, admin)
    run_queued_tasks()
    assert verification.check_pending() == 1
    external.refresh_from_db()
    assert external.forwarding_status == VerificationStatus.FAILED
    assert external.failure_reason == "send_failed"


def test_relay_down_until_the_timeout_is_send_failed(
    external: SupportAddress, admin: User, relay: list[locmem.LocmemMail]
) -> None:
    locmem.go_down(times=100)
    attempt, _raw, _ = _start(external, admin)
    run_queued_tasks()
    assert verification.check_pending() == 0  # still being retried
    verification.check_pending(now=attempt.expires_at + timedelta(seconds=1))
    external.refresh_from_db()
    assert external.failure_reason == "send_failed"


def test_verify_is_rate_limited_per_address(
    external: SupportAddress, admin: User, relay: list[locmem.LocmemMail]
) -> None:
    now = timezone.now()
    verification.start(external, now=now)
    with pytest.raises(verification.VerificationRateLimited) as caught:
        verification.start(external, now=now + timedelta(seconds=5))
    assert 0 < caught.value.retry_after <= 30
    for minute in range(1, verification.MAX_PER_HOUR):
        verification.start(external, now=now + timedelta(minutes=minute))
    with pytest.raises(verification.VerificationRateLimited):
        verification.start(external, now=now + timedelta(minutes=30))
    other = services.connect_external("sales@mycompany.test")
    verification.start(other, now=now + timedelta(minutes=30))  # other addresses unaffected


def test_hosted_addresses_need_no_verification(admin: User) -> None:
    hosted = services.create_hosted("orders")
    with pytest.raises(AddressError, match="needs no forwarding verification"):
        verification.start(hosted, requested_by=admin)
    assert not VerificationAttempt.objects.exists()
    assert not OutboundMessage.objects.exists()
