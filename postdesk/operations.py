"""Operator tasks behind the CLI: the status report, creating admins, the first-run admin."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max

from postdesk.channels.models import SupportAddress
from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.suspension.services import metrics as protection_metrics
from postdesk.tickets import api_tokens
from postdesk.tickets.models import Comment, Role, Ticket, User, UserIdentity, normalize_email
from postdesk.transports.smtp_journal import waiting_in


class AdminError(ValueError):
    pass


def status() -> dict[str, Any]:
    """The counts of SPEC §4 ``postdesk status --json``."""
    journal = smtpd_journal_path()
    journalled = waiting_in(journal) if journal is not None else 0
    by_status = dict(
        InboundMessage.objects.values_list("status").annotate(n=Count("id")).order_by()
    )
    last = InboundMessage.objects.aggregate(last=Max("finished_at"))["last"]
    addresses: dict[str, dict[str, int]] = {}
    for kind, forwarding, count in (
        SupportAddress.objects.values_list("kind", "forwarding_status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        addresses.setdefault(kind, {})[forwarding] = count
    return {
        "inbound": {
            # Acknowledged by smtpd and on their way from its journal into the spool.
            "received": sum(by_status.values()) + journalled,
            "journalled": journalled,
            "queued": by_status.get(InboundStatus.QUEUED, 0),
            "retrying": by_status.get(InboundStatus.RETRYING, 0),
            "processed": by_status.get(InboundStatus.PROCESSED, 0),
            "failed": by_status.get(InboundStatus.FAILED, 0),
            "suspended": by_status.get(InboundStatus.SUSPENDED, 0),
            "dropped": by_status.get(InboundStatus.DROPPED, 0),
            "last_finished_at": last.isoformat().replace("+00:00", "Z") if last else None,
        },
        "tickets": Ticket.objects.count(),
        "comments": Comment.objects.count(),
        "outbound": _outbound_counts(),
        "protection": protection_metrics(),
        "addresses": addresses,
    }


def smtpd_journal_path() -> Path | None:
    """Where smtpd keeps the mail it has acknowledged but not yet spooled: beside a SQLite
    database file. ``None`` on PostgreSQL (and for an in-memory database), where smtpd
    spools directly."""
    from django.db import connection

    if connection.vendor != "sqlite" or connection.is_in_memory_db():  # type: ignore[attr-defined]
        return None
    return Path(f"{connection.settings_dict['NAME']}-smtpd-journal")


def _outbound_counts() -> dict[str, int]:
    counts = {"queued": 0, "sent": 0, "failed": 0}
    app_label = "outbound"
    if apps.is_installed(f"postdesk.{app_label}"):
        model = apps.get_model(app_label, "OutboundMessage")
        for state, n in model.objects.values_list("status").annotate(n=Count("id")).order_by():
            if state in counts:
                counts[state] = n
    return counts


def format_status(report: dict[str, Any]) -> str:
    inbound = report["inbound"]
    lines = [
        "inbound:  " + ", ".join(f"{k} {v}" for k, v in inbound.items() if k != "last_finished_at"),
        f"          last finished at {inbound['last_finished_at'] or 'never'}",
        f"tickets:  {report['tickets']} ({report['comments']} comments)",
        "outbound: " + ", ".join(f"{k} {v}" for k, v in report["outbound"].items()),
    ]
    for kind, states in sorted(report["addresses"].items()):
        lines.append(
            f"{kind} addresses: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
        )
    return "\n".join(lines)


def create_admin(email: str, password: str, api_token: str | None = None, name: str = "") -> User:
    email = normalize_email(email)
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise AdminError(f"not an email address: {email!r}")
    if len(password) < 8:
        raise AdminError("the password must have at least 8 characters")
    if api_token is not None and len(api_token) < 16:
        raise AdminError("an API token must have at least 16 characters")
    with transaction.atomic():
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email, password, name=name, role=Role.ADMIN)
        else:
            user.set_password(password)
            user.role = Role.ADMIN
            user.is_active = True
            if name:
                user.name = name
            user.save()
            UserIdentity.objects.get_or_create(user=user, email=email, defaults={"primary": True})
        if api_token:
            from postdesk.tickets.models import ApiToken

            ApiToken.objects.filter(user=user, name="createadmin").delete()
            api_tokens.create(user, "createadmin", token=api_token)
    return user


def initial_admin_file() -> Path:
    return Path(settings.DATA_DIR) / "initial-admin.txt"


def ensure_first_admin() -> tuple[str, Path | None]:
    """On a fresh desk, create ``admin@<desk domain>`` with a random password kept in the
    data directory (mode 0600), so ``make run`` can say how to log in. Returns the admin's
    email and the file holding the password (None once an admin exists by other means)."""
    path = initial_admin_file()
    existing = User.objects.filter(role=Role.ADMIN, is_active=True).order_by("id").first()
    if existing is not None:
        return existing.email, path if path.exists() else None
    email = f"admin@{settings.POSTDESK.mail_domain}"
    password = secrets.token_urlsafe(12)
    create_admin(email, password, name="Admin")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"email: {email}\npassword: {password}\n")
    return email, path
