"""One row per mail that the desk acknowledged, with its raw bytes, its envelope, and what
became of it."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class InboundStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RETRYING = "retrying", _("Retrying")
    PROCESSED = "processed", _("Processed")
    FAILED = "failed", _("Failed")
    SUSPENDED = "suspended", _("Suspended")
    DROPPED = "dropped", _("Dropped")

    @classmethod
    def finished(cls) -> tuple[str, ...]:
        return (cls.PROCESSED, cls.SUSPENDED, cls.DROPPED)


class InboundMessage(models.Model):
    raw = models.BinaryField()
    # Delivering the same bytes twice (an MTA retrying after a lost 250) yields one row.
    raw_sha256 = models.CharField(max_length=64, unique=True)
    size = models.PositiveBigIntegerField()
    transport = models.CharField(max_length=8)
    peer_ip = models.CharField(max_length=64, blank=True)
    helo = models.CharField(max_length=255, blank=True)
    mail_from = models.CharField(max_length=998, blank=True)
    rcpt_tos = models.JSONField(default=list)
    tls = models.BooleanField(default=False)
    envelope_extra = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    status = models.CharField(
        max_length=16, choices=InboundStatus.choices, default=InboundStatus.QUEUED, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # What was learned while processing (message id, requester rule, matched_via, verdict,
    # timings): the "how did this mail reach us" record the admin reads.
    diagnostics = models.JSONField(default=dict, blank=True)
    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.SET_NULL, null=True, blank=True, related_name="inbound"
    )

    class Meta:
        ordering: ClassVar[list[str]] = ["-id"]

    def __str__(self) -> str:
        return f"inbound {self.pk} ({self.status})"

    def envelope_json(self) -> dict[str, Any]:
        """The SMTP envelope as stored in a mail's processing record."""
        return {
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "peer_ip": self.peer_ip,
            "helo": self.helo,
            "tls": self.tls,
        }
