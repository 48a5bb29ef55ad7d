"""Support addresses: where tickets arrive and replies go out from (SPEC F1)."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AddressKind(models.TextChoices):
    HOSTED = "hosted", _("Hosted")
    EXTERNAL = "external", _("External")


class VerificationStatus(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    WAITING = "waiting", _("Waiting")
    VERIFIED = "verified", _("Verified")
    FAILED = "failed", _("Failed")


class SupportAddress(models.Model):
    email = models.CharField(_("email"), max_length=320, unique=True)
    name = models.CharField(_("name"), max_length=255, blank=True)
    default = models.BooleanField(_("default"), default=False)
    kind = models.CharField(max_length=16, choices=AddressKind.choices, default=AddressKind.HOSTED)
    # An external address names the hosted address its mail is forwarded to.
    forwarding_target = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="forwarded_from"
    )
    group = models.ForeignKey("tickets.Group", on_delete=models.SET_NULL, null=True, blank=True)
    forwarding_status = models.CharField(
        max_length=16, choices=VerificationStatus.choices, default=VerificationStatus.UNKNOWN
    )
    spf_status = models.CharField(
        max_length=16, choices=VerificationStatus.choices, default=VerificationStatus.UNKNOWN
    )
    dkim_status = models.CharField(
        max_length=16, choices=VerificationStatus.choices, default=VerificationStatus.UNKNOWN
    )
    domain_verification_status = models.CharField(
        max_length=16, choices=VerificationStatus.choices, default=VerificationStatus.UNKNOWN
    )
    last_verified_at = models.DateTimeField(null=True, blank=True)
    last_mail_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=64, blank=True)
    # Chosen in the wizard (F2): decides which setup steps are shown.
    provider = models.CharField(max_length=16, blank=True)
    is_system = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["id"]
        verbose_name_plural = "support addresses"

    def __str__(self) -> str:
        return self.email

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]

    @property
    def is_external(self) -> bool:
        return self.kind == AddressKind.EXTERNAL

    @property
    def may_send(self) -> bool:
        """Whether mail may go out From this address (SPEC F3/F12): hosted always, external
        only once forwarding has been proved with a test mail."""
        return self.kind == AddressKind.HOSTED or (
            self.forwarding_status == VerificationStatus.VERIFIED
        )


class Provider(models.TextChoices):
    """Where the external mailbox lives: decides which setup steps the wizard shows."""

    GMAIL = "gmail", _("Gmail / Google Workspace")
    MICROSOFT = "microsoft", _("Microsoft 365 / Outlook")
    OTHER = "other", _("Other mail server")


class DeskSettings(models.Model):
    """Desk-wide email settings: one row (pk 1), created on first read."""

    # Mail to any local part at the desk domain becomes a ticket at the system address (F1).
    wildcard_enabled = models.BooleanField(
        _("accept mail to any address at the desk domain"), default=True
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "desk settings"

    def __str__(self) -> str:
        return "desk settings"

    @classmethod
    def load(cls) -> DeskSettings:
        row, _created = cls.objects.get_or_create(pk=1)
        return row


class AttemptState(models.TextChoices):
    PENDING = "pending", _("Waiting for the test mail")
    VERIFIED = "verified", _("Verified")
    FAILED = "failed", _("Failed")
    SUPERSEDED = "superseded", _("Replaced by a newer attempt")


class FailureReason(models.TextChoices):
    NOT_RECEIVED = "not_received", _("The test mail did not come back in time")
    SEND_FAILED = "send_failed", _("The mail relay refused the test mail")


class VerificationAttempt(models.Model):
    """One forwarding test (SPEC F3). The token itself is only in the test mail; the row holds
    its SHA-256, which binds it to one address and one attempt and makes replays worthless."""

    address = models.ForeignKey(
        SupportAddress, on_delete=models.CASCADE, related_name="verification_attempts"
    )
    token_sha256 = models.CharField(max_length=64, unique=True)
    # The hosted address the admin planned as target when the test started.
    planned_target = models.ForeignKey(
        SupportAddress, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        "tickets.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    state = models.CharField(
        max_length=16, choices=AttemptState.choices, default=AttemptState.PENDING, db_index=True
    )
    failure_reason = models.CharField(max_length=32, choices=FailureReason.choices, blank=True)
    # The test mail in the outbox; its delivery status tells a refused send apart.
    outbound_message_id = models.BigIntegerField(null=True, blank=True)
    # Where the test mail really arrived (a hosted address) and the spooled mail it came in.
    arrived_at = models.CharField(max_length=320, blank=True)
    inbound = models.ForeignKey(
        "spool.InboundMessage", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"verification {self.pk} of {self.address_id} ({self.state})"


class GmailConfirmation(models.Model):
    """A Gmail forwarding confirmation that reached a hosted address (SPEC F4): kept for the
    admin to use on the address's setup page. Postdesk never follows the link itself."""

    address = models.ForeignKey(
        SupportAddress, on_delete=models.CASCADE, related_name="gmail_confirmations"
    )
    requested_by = models.CharField(max_length=320, blank=True)  # the Gmail account forwarding
    code = models.CharField(max_length=32)
    confirmation_url = models.CharField(max_length=2000, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    inbound = models.ForeignKey(
        "spool.InboundMessage", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar[list[str]] = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"Gmail confirmation {self.code} for {self.address_id}"


class RoutingRule(models.Model):
    """*Received at is X* → group, priority, tags (SPEC F7). Rules apply in ``position`` order
    after the address's own group; a later rule's group or priority wins, tags add up."""

    received_at = models.ForeignKey(
        SupportAddress, on_delete=models.CASCADE, related_name="routing_rules"
    )
    group = models.ForeignKey("tickets.Group", on_delete=models.SET_NULL, null=True, blank=True)
    priority = models.CharField(max_length=16, blank=True)
    tags = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["position", "id"]

    def __str__(self) -> str:
        return f"routing rule {self.pk} for {self.received_at_id}"


class EventKind(models.TextChoices):
    VERIFICATION_SENT = "verification_sent", _("Test mail sent")
    VERIFIED = "verified", _("Forwarding verified")
    FAILED = "failed", _("Verification failed")
    TARGET_CHANGED = "target_changed", _("Forwarding target changed")
    GMAIL_CONFIRMATION = "gmail_confirmation", _("Gmail confirmation received")
    TOKEN_REJECTED = "token_rejected", _("Unusable verification token")


class AddressEvent(models.Model):
    """What happened to an address, shown on its page. Events that need the admin's attention
    (``notice``) also show as a banner until dismissed."""

    address = models.ForeignKey(SupportAddress, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    detail = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    notice = models.BooleanField(default=False)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.address_id}"
