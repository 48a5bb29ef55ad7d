"""The ticket data model: users with several email identities, groups, tickets, comments
and attachments. Zendesk's vocabulary where it fits (status, priority, requester, CCs)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def normalize_email(address: str) -> str:
    """The form identities are stored and compared in. Local parts are case-sensitive by the
    RFC but case-insensitive in practice at every provider a help desk meets."""
    return address.strip().lower()


class Role(models.TextChoices):
    END_USER = "end-user", _("End user")
    AGENT = "agent", _("Agent")
    ADMIN = "admin", _("Admin")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        if not email:
            raise ValueError("A user needs an email address")
        email = normalize_email(email)
        user = self.model(email=email, **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        UserIdentity.objects.get_or_create(user=user, email=email, defaults={"primary": True})
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.setdefault("role", Role.ADMIN)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """Anyone Postdesk knows: customers (end users) who only send mail, agents and admins."""

    email = models.EmailField(_("email"), unique=True)
    name = models.CharField(_("name"), max_length=255, blank=True)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.END_USER)
    locale = models.CharField(_("language"), max_length=8, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering: ClassVar[list[str]] = ["id"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    @property
    def is_agent(self) -> bool:
        return self.role in (Role.AGENT, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_staff(self) -> bool:
        return self.is_admin


class UserIdentity(models.Model):
    """One email address of a user. A customer writing from two addresses is one user with
    two identities; a hard bounce marks the identity, not the user, undeliverable."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="identities")
    email = models.CharField(max_length=320, unique=True)
    primary = models.BooleanField(default=False)
    undeliverable = models.BooleanField(default=False)
    undeliverable_reason = models.TextField(blank=True)
    undeliverable_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.email


class Group(models.Model):
    """A team of agents tickets are routed to (Zendesk: group)."""

    name = models.CharField(_("name"), max_length=255, unique=True)
    description = models.TextField(_("description"), blank=True)
    members = models.ManyToManyField(User, related_name="agent_groups", blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["name"]

    def __str__(self) -> str:
        return self.name


class Status(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    PENDING = "pending", _("Pending")
    HOLD = "hold", _("On hold")
    SOLVED = "solved", _("Solved")
    CLOSED = "closed", _("Closed")


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class Via(models.TextChoices):
    EMAIL = "email", _("Email")
    WEB = "web", _("Web")
    API = "api", _("API")


class Ticket(models.Model):
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.NEW
    )
    priority = models.CharField(
        _("priority"), max_length=16, choices=Priority.choices, blank=True, default=""
    )
    requester = models.ForeignKey(User, on_delete=models.PROTECT, related_name="requested_tickets")
    submitter = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="submitted_tickets", null=True, blank=True
    )
    assignee = models.ForeignKey(
        User, on_delete=models.SET_NULL, related_name="assigned_tickets", null=True, blank=True
    )
    group = models.ForeignKey(Group, on_delete=models.SET_NULL, null=True, blank=True)
    # Received-at (Zendesk: recipient). Routing and the From of every notification follow it.
    received_at = models.ForeignKey(
        "channels.SupportAddress", on_delete=models.SET_NULL, null=True, blank=True
    )
    recipient = models.CharField(max_length=320, blank=True)
    via = models.CharField(max_length=16, choices=Via.choices, default=Via.EMAIL)
    tags = models.JSONField(default=list, blank=True)
    ccs = models.ManyToManyField(User, related_name="cc_tickets", blank=True)
    followup_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="followups"
    )
    flags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-updated_at", "-id"]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["status", "-updated_at"]),
            models.Index(fields=["assignee", "status"]),
            models.Index(fields=["group", "status"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"


class Comment(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="comments")
    body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)
    quoted_text = models.TextField(blank=True)
    public = models.BooleanField(default=True)
    via = models.CharField(max_length=16, choices=Via.choices, default=Via.EMAIL)
    # The Message-ID of the mail this comment came from (inbound) or went out as (outbound):
    # the key replies thread on and duplicate deliveries are recognised by.
    message_id = models.CharField(max_length=998, blank=True, db_index=True)
    inbound = models.OneToOneField(
        "spool.InboundMessage",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="comment",
    )
    flags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar[list[str]] = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment {self.pk} on #{self.ticket_id}"


class Attachment(models.Model):
    """A file from a mail or a reply. The bytes live on disk under their SHA-256, so the same
    logo in a thousand signatures is stored once."""

    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    inline = models.BooleanField(default=False)
    content_id = models.CharField(max_length=998, blank=True)

    def __str__(self) -> str:
        return self.filename


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 is stored: the token itself is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=255, blank=True)
    token_sha256 = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
