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
