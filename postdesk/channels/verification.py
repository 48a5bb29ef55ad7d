"""Forwarding verification of external addresses (SPEC F3).

``start(address)`` mints a secret token (only its SHA-256 is stored, in a
``VerificationAttempt``), sends a test mail From the system address To the external address
carrying the token in a header, the subject and the body, and sets the address ``waiting``.
The customer's mail server forwards it back to one of our hosted addresses;
``confirm(token, ...)`` (called for inbound mail by ``postdesk.inbound.channels_step``) then
marks the address ``verified`` and makes the hosted address the mail really arrived at its
forwarding target, telling the admin when that differs from the plan.

``check_pending()`` (a scheduler job) fails attempts whose test mail the relay refused
(``send_failed``) or that did not come back within ``POSTDESK_VERIFICATION_TIMEOUT``
(``not_received``), notifying the admins by mail and with a banner.

Tokens that can't be used (unknown: forged or from another desk; expired; already used;
superseded by a newer attempt; arriving for another address than the one they were minted
for) change nothing and are logged. Starting a verification is rate-limited per address.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from postdesk.channels import notify
from postdesk.channels.addresses import is_desk_domain
from postdesk.channels.models import (
    AddressEvent,
    AddressKind,
    AttemptState,
    EventKind,
    FailureReason,
    SupportAddress,
    VerificationAttempt,
    VerificationStatus,
)
from postdesk.channels.services import AddressError
from postdesk.mail.tokens import hash_token, new_verification_token
from postdesk.tickets.models import User

logger = logging.getLogger(__name__)

# Each Verify sends a real mail to an address outside the desk: keep a slip of the finger (or
# a script) from mail-bombing it.
MIN_INTERVAL = timedelta(seconds=30)
MAX_PER_HOUR = 6


class VerificationRateLimited(AddressError):
    """Verify was pressed too often for this address."""

    retry_after: int

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(
            "base",
            "TooManyRequests",
            _("Verification was started too often; try again in %(seconds)d seconds.")
            % {"seconds": seconds},
        )
        self.retry_after = seconds


def timeout() -> timedelta:
    return timedelta(seconds=int(settings.POSTDESK.verification_timeout))


def _check_rate(address: SupportAddress, now: datetime) -> None:
    recent = list(
        VerificationAttempt.objects.filter(
            address=address, created_at__gt=now - timedelta(hours=1)
        ).values_list("created_at", flat=True)
    )
    if recent:
        latest = max(recent)
        if now - latest < MIN_INTERVAL:
            raise VerificationRateLimited((latest + MIN_INTERVAL - now).total_seconds())
    if len(recent) >= MAX_PER_HOUR:
        oldest = min(recent)
        raise VerificationRateLimited((oldest + timedelta(hours=1) - now).total_seconds())


def start(
    address: SupportAddress, *, requested_by: User | None = None, now: datetime | None = None
) -> VerificationAttempt:
    """Send the test mail and set the address ``waiting``. One transaction: the attempt, the
    status and the outbox row commit together, so the mail is sent only if all of it stuck."""
    now = now or timezone.now()
    with transaction.atomic():
        address = SupportAddress.objects.select_for_update().get(pk=address.pk)
        if address.kind != AddressKind.EXTERNAL:
            raise AddressError(
                "type",
                "InvalidValue",
                _("%(email)s is hosted by Postdesk: it needs no forwarding verification.")
                % {"email": address.email},
            )
        _check_rate(address, now)
        VerificationAttempt.objects.filter(address=address, state=AttemptState.PENDING).update(
            state=AttemptState.SUPERSEDED, finished_at=now
        )
        token, digest = new_verification_token()
        attempt = VerificationAttempt.objects.create(
            address=address,
            token_sha256=digest,
            planned_target=address.forwarding_target,
            requested_by=requested_by,
            created_at=now,
            expires_at=now + timeout(),
        )
        attempt.outbound_message_id = notify.send_test_mail(address, token)
        attempt.save(update_fields=["outbound_message_id"])
        address.forwarding_status = VerificationStatus.WAITING
        address.failure_reason = ""
        address.save(update_fields=["forwarding_status", "failure_reason", "updated_at"])
        AddressEvent.objects.create(
            address=address,
            kind=EventKind.VERIFICATION_SENT,
            detail=_("Test mail sent to %(email)s.") % {"email": address.email},
            data={"attempt": attempt.pk},
            created_at=now,
        )
    logger.info("verification %s started for address %s", attempt.pk, address.pk)
    return attempt


@dataclass
class Outcome:
    """What a returning test mail did; ``verdict`` goes into the mail's diagnostics."""

    verdict: str  # "verified" or "verification_ignored"
    details: dict[str, Any] = field(default_factory=dict)


def _arrival(rcpt_tos: list[str], forwarded_to: list[str]) -> str | None:
    """The hosted address the test mail really reached: the envelope recipient at the desk
    domain, else a forwarding header naming one (an HTTP or pipe delivery may lack the
    envelope)."""
    for candidate in [*rcpt_tos, *forwarded_to]:
        email = candidate.strip().strip("<>").lower()
        if "@" in email and is_desk_domain(email.rpartition("@")[2]):
            # A plus address reached its base address.
            local, _at, domain = email.rpartition("@")
            return f"{local.partition('+')[0]}@{domain}"
    return None


def _ignored(reason: str, token_hash: str, **details: Any) -> Outcome:
    logger.warning(
        "verification token ignored (%s): %s… %s", reason, token_hash[:12], details or ""
    )
    return Outcome("verification_ignored", {"reason": reason, **details})


def confirm(
    token: str,
    *,
    addressed_to: list[str],
    rcpt_tos: list[str],
    forwarded_to: list[str],
    inbound_id: int | None = None,
    now: datetime | None = None,
) -> Outcome:
    """A test mail came back carrying ``token``. ``addressed_to`` are the mail's ``To``/``Cc``
    addresses (the external address the test mail was sent to must be among them),
    ``rcpt_tos`` its envelope recipients, ``forwarded_to`` the addresses of its
    ``Delivered-To``/``X-Original-To``-style headers."""
    now = now or timezone.now()
    digest = hash_token(token)
    with transaction.atomic():
        attempt = (
            VerificationAttempt.objects.select_for_update(of=("self",))
            .select_related("address", "planned_target")
            .filter(token_sha256=digest)
            .first()
        )
        if attempt is None:
            return _ignored("unknown_token", digest)
        address = attempt.address
        if attempt.state != AttemptState.PENDING:
            return _ignored(f"attempt_{attempt.state}", digest, attempt=attempt.pk)
        if attempt.expires_at <= now:
            return _ignored("expired", digest, attempt=attempt.pk)
        if address.email not in {a.lower() for a in addressed_to}:
            _record_rejection(address, "wrong_address", now)
            return _ignored("wrong_address", digest, attempt=attempt.pk)
        arrived = _arrival(rcpt_tos, forwarded_to)
        target = _arrival_target(arrived) if arrived else address.forwarding_target
        planned = attempt.planned_target
        attempt.state = AttemptState.VERIFIED
        attempt.finished_at = now
        attempt.arrived_at = arrived or ""
        attempt.inbound_id = inbound_id
        attempt.save(update_fields=["state", "finished_at", "arrived_at", "inbound"])
        address = SupportAddress.objects.select_for_update().get(pk=address.pk)
        address.forwarding_status = VerificationStatus.VERIFIED
        address.failure_reason = ""
        address.last_verified_at = now
        changed = target is not None and planned is not None and target.pk != planned.pk
        if target is not None:
            address.forwarding_target = target
        address.save(
            update_fields=[
                "forwarding_status",
                "failure_reason",
                "last_verified_at",
                "forwarding_target",
                "updated_at",
            ]
        )
        AddressEvent.objects.create(
            address=address,
            kind=EventKind.VERIFIED,
            detail=_("The test mail came back through %(target)s.")
            % {"target": arrived or (target.email if target else "?")},
            data={"attempt": attempt.pk, "inbound": inbound_id},
            created_at=now,
        )
        if changed and target is not None and planned is not None:
            _target_changed(address, planned, target, now)
    logger.info("address %s verified (attempt %s)", address.pk, attempt.pk)
    return Outcome(
        "verified",
        {
            "address": address.email,
            "attempt": attempt.pk,
            "arrived_at": arrived,
            "target_changed": changed,
        },
    )


def _arrival_target(email: str) -> SupportAddress:
    """The hosted address at ``email``; registered now if only the wildcard took it."""
    existing = SupportAddress.objects.filter(email=email).first()
    if existing is not None:
        return existing
    return SupportAddress.objects.create(email=email, kind=AddressKind.HOSTED)


def _record_rejection(address: SupportAddress, reason: str, now: datetime) -> None:
    AddressEvent.objects.create(
        address=address,
        kind=EventKind.TOKEN_REJECTED,
        detail=_(
            "A verification mail for this address arrived in a way that doesn't fit (%(reason)s) and was ignored."
        )
        % {"reason": reason},
        data={"reason": reason},
        created_at=now,
    )


def _target_changed(
    address: SupportAddress, planned: SupportAddress, target: SupportAddress, now: datetime
) -> None:
    text = _(
        "The test mail for %(email)s was forwarded to %(actual)s, not to %(planned)s as "
        "planned. Postdesk now uses %(actual)s as its forwarding target."
    ) % {"email": address.email, "actual": target.email, "planned": planned.email}
    AddressEvent.objects.create(
        address=address,
        kind=EventKind.TARGET_CHANGED,
        detail=text,
        data={"planned": planned.email, "actual": target.email},
        notice=True,
        created_at=now,
    )
    notify.tell_admins(
        _("Forwarding target of %(email)s changed") % {"email": address.email}, text, address
    )


def fail(attempt: VerificationAttempt, reason: str, now: datetime | None = None) -> None:
    """Mark the attempt and its address failed, and tell the admins (mail and banner)."""
    now = now or timezone.now()
    with transaction.atomic():
        attempt = VerificationAttempt.objects.select_for_update().get(pk=attempt.pk)
        if attempt.state != AttemptState.PENDING:
            return
        attempt.state = AttemptState.FAILED
        attempt.failure_reason = reason
        attempt.finished_at = now
        attempt.save(update_fields=["state", "failure_reason", "finished_at"])
        address = SupportAddress.objects.select_for_update().get(pk=attempt.address_id)
        address.forwarding_status = VerificationStatus.FAILED
        address.failure_reason = reason
        address.save(update_fields=["forwarding_status", "failure_reason", "updated_at"])
        if reason == FailureReason.SEND_FAILED:
            text = _(
                "The mail relay refused the test mail to %(email)s, so forwarding could not be "
                "checked. Check the relay settings, then press Verify again."
            ) % {"email": address.email}
        else:
            text = _(
                "The test mail sent to %(email)s did not come back within %(minutes)d minutes. "
                "Check that %(email)s forwards to %(target)s, then press Verify again."
            ) % {
                "email": address.email,
                "minutes": max(1, round(timeout().total_seconds() / 60)),
                "target": address.forwarding_target.email if address.forwarding_target else "?",
            }
        AddressEvent.objects.create(
            address=address,
            kind=EventKind.FAILED,
            detail=text,
            data={"attempt": attempt.pk, "reason": reason},
            created_at=now,
        )
        notify.tell_admins(
            _("Forwarding verification of %(email)s failed") % {"email": address.email},
            text,
            address,
        )
    logger.warning("verification %s of address %s failed: %s", attempt.pk, address.pk, reason)


def check_pending(now: datetime | None = None) -> int:
    """The scheduler job: fail attempts whose test mail was refused or that timed out.

    A test mail the relay refused for good fails at once (``send_failed``). At the timeout, a
    test mail that never left the outbox (the relay was down all along) is ``send_failed``
    too: the forwarding was never tested; one that left is ``not_received``. Returns how many
    attempts failed.
    """
    now = now or timezone.now()
    failed = 0
    pending = list(VerificationAttempt.objects.filter(state=AttemptState.PENDING))
    states = notify.test_mail_states(
        a.outbound_message_id for a in pending if a.outbound_message_id is not None
    )
    for attempt in pending:
        state = states.get(attempt.outbound_message_id or 0, notify.PENDING)
        if state == notify.REFUSED:
            fail(attempt, FailureReason.SEND_FAILED, now)
            failed += 1
        elif attempt.expires_at <= now:
            reason = (
                FailureReason.NOT_RECEIVED if state == notify.SENT else FailureReason.SEND_FAILED
            )
            fail(attempt, reason, now)
            failed += 1
    return failed
