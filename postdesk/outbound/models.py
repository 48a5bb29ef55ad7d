"""The outbox and what outbound mail needs to remember.

``OutboundMessage.raw`` holds the composed message exactly as built by
``postdesk.mail.compose``; it is stored (and its delivery task queued) in the same transaction
as the comment or notice it belongs to. DKIM signing happens at send time, by the worker: the
``DKIM-Signature`` fields it prepended on the last attempt are kept in ``dkim_signature``, so
the bytes that went to the relay are exactly ``dkim_signature + raw`` (:meth:`sent_bytes`).
Signing late means a mail that waited out a relay outage is signed with the key that is
current when it leaves, with a fresh ``t=``, and web processes never need a private key.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from postdesk.channels.models import VerificationStatus


class OutboundStatus(models.TextChoices):
    # These three names are read by ``postdesk status`` (postdesk/operations.py).
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class RecipientStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    DEFERRED = "deferred", _("Deferred")
    FAILED = "failed", _("Failed")
    BOUNCED = "bounced", _("Bounced")

    @classmethod
    def pending(cls) -> tuple[str, ...]:
        return (cls.QUEUED, cls.DEFERRED)


class OutboundKind(models.TextChoices):
    ACKNOWLEDGEMENT = "acknowledgement", _("New ticket acknowledgement")
    REPLY = "reply", _("Public reply")
    ADMIN_NOTICE = "admin_notice", _("Admin notice")
    SYSTEM = "system", _("System mail")


class RecipientKind(models.TextChoices):
    TO = "to", "To"
    CC = "cc", "Cc"
    BCC = "bcc", "Bcc"


class OutboundMessage(models.Model):
    kind = models.CharField(max_length=16, choices=OutboundKind.choices)
    ticket = models.ForeignKey(
        "tickets.Ticket",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="outbound_messages",
    )
    comment = models.ForeignKey(
        "tickets.Comment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="outbound_messages",
    )
    sender_address = models.ForeignKey(
        "channels.SupportAddress", on_delete=models.SET_NULL, null=True, blank=True
    )
    from_address = models.CharField(max_length=320)
    subject = models.CharField(max_length=998, blank=True)
    message_id = models.CharField(max_length=998, db_index=True, blank=True)
    raw = models.BinaryField(default=b"")
    smtputf8 = models.BooleanField(default=False)
    dkim_signature = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=OutboundStatus.choices, default=OutboundStatus.QUEUED, db_index=True
    )
    # Which relay took the mail on the last attempt: "smtp", "outbox" or "locmem".
    relay = models.CharField(max_length=16, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Set when a worker starts sending and cleared when it has recorded the outcome; a claim
    # left behind tells the next worker that a send may already have happened.
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-id"]

    def __str__(self) -> str:
        return f"outbound {self.pk} ({self.status})"

    def sent_bytes(self) -> bytes:
        """The exact bytes handed to the relay on the last attempt (signature + message)."""
        return self.dkim_signature.encode("ascii") + bytes(self.raw)


class OutboundRecipient(models.Model):
    """One envelope recipient of an outbound mail and what the relay said about it."""

    message = models.ForeignKey(
        OutboundMessage, on_delete=models.CASCADE, related_name="recipients"
    )
    address = models.CharField(max_length=320)
    kind = models.CharField(max_length=4, choices=RecipientKind.choices, default=RecipientKind.TO)
    identity = models.ForeignKey(
        "tickets.UserIdentity", on_delete=models.SET_NULL, null=True, blank=True
    )
    return_path = models.CharField(max_length=320)
    status = models.CharField(
        max_length=16, choices=RecipientStatus.choices, default=RecipientStatus.QUEUED
    )
    reply_code = models.PositiveSmallIntegerField(null=True, blank=True)
    reply_text = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["id"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["message", "address"], name="outbound_rcpt_once")
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.status})"


class DkimKey(models.Model):
    """One DKIM key of a sending domain, in one of the two selector slots of its algorithm.

    The private key is stored encrypted (AES-256-GCM under a key derived from
    ``POSTDESK_SECRET_KEY``, see ``postdesk.outbound.dkim_keys``): a database dump or backup
    alone does not give it away. ``status`` is whether the published record was found to
    match (the DNS check sets it through ``mark_dkim_verified``); ``active`` marks the key
    that signs. A key signs only when it is active and verified.
    """

    domain = models.CharField(max_length=253)
    selector = models.CharField(max_length=63)
    algorithm = models.CharField(max_length=16, default="rsa-sha256")
    private_key_encrypted = models.BinaryField()
    public_key = models.TextField()
    status = models.CharField(
        max_length=16, choices=VerificationStatus.choices, default=VerificationStatus.UNKNOWN
    )
    active = models.BooleanField(default=False)
    failure_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["domain", "algorithm", "selector"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["domain", "selector"], name="dkim_selector_once")
        ]

    def __str__(self) -> str:
        return f"{self.selector}._domainkey.{self.domain} ({self.status})"


class NotificationTemplate(models.Model):
    """An admin's override of a built-in notification text (``templates/outbound/...``)."""

    name = models.CharField(max_length=64)
    language = models.CharField(max_length=8)
    subject = models.CharField(max_length=500)
    body = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["name", "language"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["name", "language"], name="notification_template_once")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    def clean(self) -> None:
        from postdesk.outbound.notifications import validate_template

        validate_template(self.subject, self.body)
