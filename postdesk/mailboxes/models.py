"""A mailbox connected over IMAP (SPEC F17) and how far it has been read."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TlsMode(models.TextChoices):
    SSL = "ssl", _("Implicit TLS (IMAPS)")
    STARTTLS = "starttls", _("STARTTLS")
    NONE = "none", _("No encryption")


class SecretKind(models.TextChoices):
    PASSWORD = "password", _("Password or app password")
    OAUTH2 = "oauth2", _("OAuth2 access token (XOAUTH2)")


class Mailbox(models.Model):
    """One IMAP folder whose new unread mail becomes tickets at ``address``.

    ``uidvalidity`` and ``last_uid`` say what has been imported: every message of the folder
    with a UID up to ``last_uid`` under this ``uidvalidity`` has been seen. The secret is
    stored sealed (``postdesk.mailboxes.sealed``), never in plain text.
    """

    address = models.OneToOneField(
        "channels.SupportAddress",
        on_delete=models.CASCADE,
        related_name="mailbox",
        verbose_name=_("support address"),
    )
    host = models.CharField(_("host"), max_length=255)
    port = models.PositiveIntegerField(_("port"))
    tls = models.CharField(_("TLS"), max_length=16, choices=TlsMode.choices, default=TlsMode.SSL)
    username = models.CharField(_("username"), max_length=320)
    folder = models.CharField(_("folder"), max_length=255, default="INBOX")
    secret_kind = models.CharField(
        _("secret kind"), max_length=16, choices=SecretKind.choices, default=SecretKind.PASSWORD
    )
    secret_sealed = models.BinaryField(_("sealed secret"))
    uidvalidity = models.BigIntegerField(_("UIDVALIDITY"), null=True, blank=True)
    last_uid = models.BigIntegerField(_("last UID imported"), default=0)
    # How many of the latest messages the first connection imported (0: only new mail).
    import_last = models.PositiveIntegerField(_("messages imported on connect"), default=0)
    enabled = models.BooleanField(_("enabled"), default=True)
    last_polled_at = models.DateTimeField(_("last polled at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["id"]
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")

    def __str__(self) -> str:
        return f"{self.username}@{self.host}/{self.folder}"
