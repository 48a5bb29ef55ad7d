"""Suspended mail, drop records, the desk's protection settings and shared rate-limit windows.

* `SuspendedMail`: one mail kept out of tickets, with its cause (Zendesk's ``cause`` names and
  ``cause_id`` where they fit), what an agent needs to judge it, and what became of it
  (recovered into a ticket or comment, or deleted).
* `DroppedMail`: the record a dropped mail leaves (SPEC F10: "dropped, with a record").
* `SenderListEntry` and `ProtectionSettings`: what admins tune; `postdesk.suspension.policy`
  turns them into the pure `RuleSettings` and `RateLimits`.
* `RateEvent` and `RateBlock`: the rows behind `DatabaseWindowStore`.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from postdesk.mail.rules.base import AuthProfile, Cause

DEFAULT_RETENTION_DAYS = 14


class CauseChoices(models.TextChoices):
    SPAM = Cause.SPAM, _("Spam")
    AUTO_MAILER = Cause.AUTO_MAILER, _("Automated mail")
    LOOP = Cause.LOOP, _("Mail loop")
    AUTO_DELIVERY_FAILURE = Cause.AUTO_DELIVERY_FAILURE, _("Delivery failure")
    AUTO_VACATION = Cause.AUTO_VACATION, _("Out of office")
    SYSTEM_USER = Cause.SYSTEM_USER, _("System sender")
    BLOCKLISTED = Cause.BLOCKLISTED, _("Blocklisted")
    FROM_SUPPORT_ADDRESS = Cause.FROM_SUPPORT_ADDRESS, _("From a support address")
    FAILED_AUTHENTICATION = Cause.FAILED_AUTHENTICATION, _("Failed authentication")
    TOO_MANY_CCS = Cause.TOO_MANY_CCS, _("Too many recipients")
    MALFORMED = Cause.MALFORMED, _("Malformed")
    TOO_LARGE = Cause.TOO_LARGE, _("Too large")


class SuspendedMailQuerySet(models.QuerySet["SuspendedMail"]):
    def pending(self) -> SuspendedMailQuerySet:
        """What agents still have to review: neither recovered nor deleted."""
        return self.filter(recovered_at__isnull=True, deleted_at__isnull=True)


class SuspendedMail(models.Model):
    """A mail held for review. The raw mail stays in its `InboundMessage`."""

    inbound = models.OneToOneField(
        "spool.InboundMessage", on_delete=models.CASCADE, related_name="suspension"
    )
    cause = models.CharField(_("cause"), max_length=32, choices=CauseChoices.choices)
    cause_id = models.PositiveSmallIntegerField(null=True, blank=True)
    rule = models.CharField(max_length=64)
    reason = models.TextField(blank=True)
    sender = models.CharField(_("sender"), max_length=320, db_index=True)
    sender_name = models.CharField(max_length=255, blank=True)
    # The support address the mail was sent to (Zendesk: recipient).
    recipient = models.CharField(max_length=320, blank=True)
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    preview = models.TextField(_("preview"), blank=True)
    message_id = models.CharField(max_length=998, blank=True)
    received_at = models.DateTimeField(_("received"), db_index=True)
    # The ticket the mail answered when it was suspended (Zendesk: ticket_id). A number, not a
    # foreign key, so that a ticket deleted since is noticed at recovery.
    thread_ticket_id = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    recovered_at = models.DateTimeField(null=True, blank=True)
    recovered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    comment = models.ForeignKey(
        "tickets.Comment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = SuspendedMailQuerySet.as_manager()

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["cause", "-created_at"]),
            models.Index(fields=["recovered_at", "deleted_at", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"suspended {self.pk} ({self.cause}) from {self.sender}"

    @property
    def state(self) -> str:
        if self.recovered_at is not None:
            return "recovered"
        if self.deleted_at is not None:
            return "deleted"
        return "suspended"


class DroppedMail(models.Model):
    """What is left of a dropped mail besides its spool row: which rule dropped it and why."""

    inbound = models.OneToOneField(
        "spool.InboundMessage", on_delete=models.CASCADE, related_name="drop"
    )
    rule = models.CharField(max_length=64, db_index=True)
    cause = models.CharField(max_length=32, blank=True)
    reason = models.TextField(blank=True)
    sender = models.CharField(max_length=320, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"dropped {self.inbound_id} by {self.rule}"


class SenderListKind(models.TextChoices):
    ALLOW = "allow", _("Allow")
    BLOCK = "block", _("Block (suspend)")
    REJECT = "reject", _("Block (drop)")


class SenderListEntry(models.Model):
    """One allowlist or blocklist entry: an address, a domain, or ``@domain`` (Zendesk's
    format; a domain covers its subdomains). ``reject`` entries drop instead of suspending."""

    kind = models.CharField(_("list"), max_length=8, choices=SenderListKind.choices)
    value = models.CharField(_("address or domain"), max_length=320)
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar[list[str]] = ["kind", "value"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["kind", "value"], name="sender_list_entry_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.value}"


class ProtectionSettings(models.Model):
    """The one row of tunables (SPEC F10/F11); a missing row means every default."""

    auth_profile = models.CharField(
        max_length=8,
        choices=[(profile.value, profile.value) for profile in AuthProfile],
        default=AuthProfile.DEFAULT,
    )
    # Forwarders whose word on a mail's authentication counts (SPEC F11): an entry matches an
    # ARC sealer's domain (d=) and, for mail handed over by a local MTA, the authserv-id of its
    # Authentication-Results, itself or as a parent domain ("google.com" covers
    # "mx.google.com").
    trusted_forwarders = models.JSONField(default=list, blank=True)
    too_many_ccs_threshold = models.PositiveIntegerField(default=100)
    max_message_size = models.PositiveBigIntegerField(default=50 * 1024 * 1024)
    flood_limit = models.PositiveIntegerField(default=20)
    flood_window_seconds = models.PositiveIntegerField(default=10 * 60)
    flood_block_seconds = models.PositiveIntegerField(default=60 * 60)
    auto_mails_per_address = models.PositiveIntegerField(default=3)
    auto_mails_per_address_seconds = models.PositiveIntegerField(default=60 * 60)
    repeated_subject_limit = models.PositiveIntegerField(default=2)
    repeated_subject_seconds = models.PositiveIntegerField(default=24 * 60 * 60)
    auto_mails_per_ticket = models.PositiveIntegerField(default=10)
    auto_mails_per_ticket_seconds = models.PositiveIntegerField(default=60 * 60)
    auto_mails_overall = models.PositiveIntegerField(default=2000)
    auto_mails_overall_seconds = models.PositiveIntegerField(default=60 * 60)
    retention_days = models.PositiveIntegerField(default=DEFAULT_RETENTION_DAYS)
    # Extra out-of-office subject patterns and per-rule action overrides ({"rule": "action"}).
    out_of_office_subjects = models.JSONField(default=list, blank=True)
    actions = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "protection settings"

    def __str__(self) -> str:
        return "protection settings"


class RateEvent(models.Model):
    """One counted event of a sliding window (a ticket opened, an automatic mail sent)."""

    key = models.CharField(max_length=64)
    at = models.FloatField()

    class Meta:
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["key", "at"])]


class RateBlock(models.Model):
    """A key blocked until a time (a flooding sender)."""

    key = models.CharField(max_length=64, primary_key=True)
    until = models.FloatField()
