"""What the rest of Postdesk calls to send mail. Each function only stores and queues (in the
caller's transaction); a worker sends. Nothing here talks to the network.

- :func:`notify_new_ticket`: the acknowledgement to the requester of a new ticket;
- :func:`send_public_reply`: an agent's public comment to the requester and the CCs;
- :func:`send_admin_notice`: a notice to every admin (or the given recipients);
- :func:`send_system_mail`: anything else the desk itself sends (forwarding verification).

Values typed by people in the UI or API (agent names, support address names, subjects of
system mail, extra headers) go through ``postdesk.mail.headersafe`` and raise
``headersafe.UnsafeHeader`` (HTTP 422 / a form error) rather than being repaired. Values that
came in with customers' mail (ticket subjects, customers' names) are cleaned instead: an
odd byte in a customer's subject must not stop the answer to them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import translation

from postdesk.channels.models import SupportAddress
from postdesk.inbound import rows
from postdesk.mail import headersafe
from postdesk.outbound import notifications
from postdesk.outbound.composer import Draft, Recipient, store, store_unsendable, validated_subject
from postdesk.outbound.models import OutboundKind, OutboundMessage, RecipientKind
from postdesk.outbound.sender import default_from_address, from_address_for
from postdesk.snapshots import Snapshot
from postdesk.suspension import policy
from postdesk.tickets.models import (
    Comment,
    Role,
    Status,
    Ticket,
    User,
    UserIdentity,
    normalize_email,
)

logger = logging.getLogger(__name__)

# Flags (on the ticket or the comment) of mail that must never be answered automatically
# (SPEC F10): robots, lists, bounces and mail without a usable sender.
NO_AUTO_REPLY_FLAGS = frozenset(
    {
        "automated",
        "auto_submitted",
        "auto_reply",
        "out_of_office",
        "mailing_list",
        "bounce",
        "loop",
        "no_sender",
        "system_sender",
    }
)
HISTORY_COMMENTS = 3
HISTORY_CHARS = 1500
SEPARATOR = "-" * 46


def _clean_name(name: str) -> str:
    """A customer's display name if it is safe in a header, else none at all."""
    try:
        return headersafe.display_name(" ".join(name.split())[:128])
    except headersafe.UnsafeHeader:
        return ""


def _sendable_address(address: str) -> str | None:
    try:
        return headersafe.addr_spec(address, allow_utf8=True)
    except headersafe.UnsafeHeader:
        return None


def _is_ours(address: str) -> bool:
    """Our own addresses never get automatic mail: that is how loops start."""
    email = normalize_email(address)
    if email.rpartition("@")[2] == settings.POSTDESK.mail_domain:
        return True
    return email in _SUPPORT_ADDRESSES.get()


_SUPPORT_ADDRESSES = Snapshot(
    lambda: frozenset(SupportAddress.objects.values_list("email", flat=True)),
    depends_on=(SupportAddress,),
)


def _undeliverable(address: str) -> bool:
    return UserIdentity.objects.filter(email=normalize_email(address), undeliverable=True).exists()


# The identity of an address, as ``UserIdentity.objects.filter(email=…).first()``: every
# acknowledgement asks, and building that query cost more than the rest of the recipient
# check. The locked one keeps its ``FOR UPDATE`` on PostgreSQL (SQLite has no row locks; its
# write lock orders the workers).
_IDENTITY = rows.Prepared(
    UserIdentity,
    lambda email: UserIdentity.objects.filter(email=email).order_by("pk")[:1],
    email=str,
)
_LOCKED_IDENTITY = rows.Prepared(
    UserIdentity,
    lambda email: UserIdentity.objects.filter(email=email).select_for_update().order_by("pk")[:1],
    email=str,
)


def _recipient(
    user: User, kind: str, address: str | None = None, *, lock: bool = False
) -> Recipient | None:
    """The user as a recipient at ``address`` (default: their email), unless undeliverable.

    ``lock`` locks the identity row (inside the caller's transaction) for the automatic-mail
    limits: found and locked in the one query."""
    email = normalize_email(address or user.email)
    found = (_LOCKED_IDENTITY if lock else _IDENTITY).instances(email=email)
    identity = found[0] if found else None
    if identity is not None and identity.undeliverable:
        return None
    sendable = _sendable_address(email)
    if sendable is None or _is_ours(sendable):
        return None
    return Recipient(sendable, _clean_name(user.name), kind, identity)


def _message_ids(values: Iterable[str]) -> list[str]:
    """Message-IDs of mail we received, fit for In-Reply-To/References. Broken clients send
    IDs that are not valid ones (no ``@``, stray characters): those are left out, so that a
    customer's odd header costs threading at worst, never the reply itself."""
    bracketed = (f"<{v.strip().strip('<>')}>" for v in values if v and v.strip().strip("<>"))
    return headersafe.clean_msg_ids(bracketed)


def _status_label(status: str, language: str) -> str:
    """What ``get_status_display()`` gives, without making the field's choices hashable
    again on every call (that cost more than all the other template values of an
    acknowledgement): the label in the mail's language (not whatever language the process
    has active), or the stored value when it is no known status."""
    try:
        label = Status(status).label
    except ValueError:
        return status
    with translation.override(language):
        return str(label)


def _ticket_values(ticket: Ticket, locale: str) -> dict[str, str]:
    return {
        "ticket.id": str(ticket.pk),
        "ticket.subject": validated_subject(ticket.subject),
        "ticket.status": _status_label(ticket.status, notifications.language_for(locale)),
        "ticket.link": f"{settings.POSTDESK.public_url}/tickets/{ticket.pk}/",
        "requester.name": _clean_name(ticket.requester.name) or ticket.requester.email,
        "requester.email": ticket.requester.email,
    }


# --------------------------------------------------------------------------- acknowledgement


def _auto_mail_allowed(address: str, subject: str, ticket_id: int) -> bool:
    """SPEC F10: at most 3 automatic mails to one address an hour, a repeated subject at most
    twice. Called inside a transaction that has locked the address's identity row first
    (``_recipient(..., lock=True)``), so two workers can't both take the last slot."""
    # The desk's one limiter: the limits an admin set (ProtectionSettings) over the windows
    # every process shares.
    decision = policy.rate_limiter().acquire_auto_mail(address, subject, ticket_id)
    if not decision.allowed:
        logger.info("acknowledgement for ticket %s not sent: %s", ticket_id, decision.reason)
    return decision.allowed


def _automated(ticket: Ticket, comment: Comment) -> bool:
    return bool(NO_AUTO_REPLY_FLAGS & {*ticket.flags, *comment.flags})


def notify_new_ticket(
    ticket: Ticket, comment: Comment, *, notify: bool = True
) -> OutboundMessage | None:
    """Acknowledge a new ticket to its requester; ``None`` when it must not be sent.

    Not sent when the caller says so (``notify=False``: the verdict found the mail automated),
    when the ticket or comment carries an automated-mail flag, when the requester's address is
    undeliverable or one of ours, or when the automatic-mail limits for the address are used up.
    """
    if not notify or _automated(ticket, comment):
        return None
    requester = ticket.requester
    inbound = comment.inbound
    written_from = inbound.diagnostics.get("requester") if inbound is not None else None
    # A transaction for the lock when the caller has none; inside the caller's it adds no
    # savepoint of its own (two statements a mail): a failure here dooms the caller's
    # transaction, and the pipeline runs this inside a savepoint that then rolls back.
    with transaction.atomic(savepoint=False):
        recipient = _recipient(
            requester, RecipientKind.TO, written_from or requester.email, lock=True
        )
        if recipient is None:
            return None
        if not _auto_mail_allowed(recipient.address, ticket.subject, ticket.pk):
            return None
    sender = from_address_for(ticket)
    values = {**_ticket_values(ticket, requester.locale), "comment.latest": comment.body.strip()}
    rendered = notifications.render("new_ticket", requester.locale, values)
    return store(
        Draft(
            kind=OutboundKind.ACKNOWLEDGEMENT,
            sender=sender,
            from_email=sender.email,
            recipients=[recipient],
            subject=validated_subject(rendered.subject),
            text=rendered.text,
            ticket=ticket,
            comment=comment,
            address_name=_clean_name(sender.name),
            language=rendered.language,
            auto_submitted="auto-replied",
            in_reply_to=next(iter(_message_ids([comment.message_id])), None),
            references=_message_ids([comment.message_id]),
        )
    )


# --------------------------------------------------------------------------- public reply


def _history(ticket: Ticket, comment: Comment) -> str:
    """The few public comments before this one, newest first, each shortened."""
    earlier = (
        ticket.comments.filter(public=True, created_at__lte=comment.created_at)
        .exclude(pk=comment.pk)
        .select_related("author")
        .order_by("-created_at", "-id")[:HISTORY_COMMENTS]
    )
    parts = []
    for previous in earlier:
        body = previous.body.strip()
        if len(body) > HISTORY_CHARS:
            body = body[:HISTORY_CHARS].rstrip() + " …"
        author = _clean_name(previous.author.name) or previous.author.email
        when = previous.created_at.strftime("%Y-%m-%d %H:%M UTC")
        parts.append(f"{SEPARATOR}\n\n{author}, {when}\n\n{body}\n")
    return "\n".join(parts)


def _thread_ids(ticket: Ticket, comment: Comment) -> tuple[str | None, list[str]]:
    """In-Reply-To (the newest earlier mail of the ticket) and References (all of them)."""
    ids = list(
        ticket.comments.exclude(pk=comment.pk)
        .exclude(message_id="")
        .order_by("created_at", "id")
        .values_list("message_id", flat=True)
    )
    references = _message_ids(ids)
    return (references[-1] if references else None), references


def send_public_reply(comment: Comment) -> OutboundMessage:
    """Mail an agent's public comment to the requester and the CCs.

    The mail's signed Message-ID is recorded on the comment, so a customer's reply threads to
    the ticket by it. If nobody can receive it (every address undeliverable), the returned
    mail is ``failed`` with the reason, so the ticket shows it.
    """
    if not comment.public:
        raise ValueError("internal notes are never mailed")
    ticket = comment.ticket
    sender = from_address_for(ticket)
    recipients: list[Recipient] = []
    requester = _recipient(ticket.requester, RecipientKind.TO)
    if requester is not None:
        recipients.append(requester)
    for cc in ticket.ccs.exclude(pk=ticket.requester_id).exclude(pk=comment.author_id):
        found = _recipient(cc, RecipientKind.CC)
        if found is not None and found.address not in {r.address for r in recipients}:
            recipients.append(found)
    values = {
        **_ticket_values(ticket, ticket.requester.locale),
        "agent.name": comment.author.name or sender.name,
        "comment.latest": comment.body.strip(),
        "comment.history": _history(ticket, comment),
    }
    rendered = notifications.render("public_reply", ticket.requester.locale, values)
    in_reply_to, references = _thread_ids(ticket, comment)
    draft = Draft(
        kind=OutboundKind.REPLY,
        sender=sender,
        from_email=sender.email,
        recipients=recipients,
        subject=validated_subject(rendered.subject),
        text=rendered.text,
        ticket=ticket,
        comment=comment,
        # Typed in the UI: validated (UnsafeHeader), never repaired.
        agent_name=headersafe.display_name(comment.author.name, field="agent name"),
        address_name=headersafe.display_name(sender.name, field="support address name"),
        language=rendered.language,
        in_reply_to=in_reply_to,
        references=references,
    )
    if not recipients:
        return store_unsendable(draft, "no deliverable recipient (requester and CCs)")
    return store(draft)


# --------------------------------------------------------------------------- admin and system


def _admins() -> list[User]:
    return list(User.objects.filter(role=Role.ADMIN, is_active=True).order_by("id"))


def send_admin_notice(
    subject: str, body: str, *, recipients: Sequence[User | str] | None = None
) -> OutboundMessage:
    """A notice to every active admin (or to ``recipients``), from the default address.

    The language is the first recipient's. Notices are not rate-limited: they go to the desk's
    own people, and a missed verification failure costs more than a second mail.
    """
    users_or_addresses = list(recipients) if recipients is not None else list(_admins())
    to: list[Recipient] = []
    locale = ""
    for entry in users_or_addresses:
        user = entry if isinstance(entry, User) else None
        address = entry.email if isinstance(entry, User) else entry
        locale = locale or (user.locale if user is not None else "")
        sendable = _sendable_address(address)
        if sendable is None or _undeliverable(sendable):
            continue
        name = _clean_name(user.name) if user is not None else ""
        if sendable not in {r.address for r in to}:
            to.append(Recipient(sendable, name))
    rendered = notifications.render(
        "admin_notice", locale, {"notice.subject": subject, "notice.body": body.strip()}
    )
    sender = default_from_address()
    draft = Draft(
        kind=OutboundKind.ADMIN_NOTICE,
        sender=sender,
        from_email=sender.email,
        recipients=to,
        subject=headersafe.subject(rendered.subject),
        text=rendered.text,
        address_name=_clean_name(sender.name),
        language=rendered.language,
        include_reply_delimiter=False,
        auto_submitted="auto-generated",
    )
    if not to:
        return store_unsendable(draft, "no admin with a deliverable address")
    return store(draft)


def _header_pairs(headers: Mapping[str, str] | Sequence[tuple[str, str]] | None) -> list[Any]:
    if headers is None:
        return []
    return list(headers.items()) if isinstance(headers, Mapping) else list(headers)


def send_system_mail(
    *,
    to: str | Sequence[str],
    subject: str,
    text: str,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    from_address: SupportAddress | str | None = None,
    auto_submitted: str | None = "auto-generated",
) -> OutboundMessage:
    """A mail from the desk itself (the forwarding verification, say), from the system address
    unless ``from_address`` says otherwise. Every value is validated; ``headers`` may add
    fields such as ``X-Postdesk-Verification`` but not replace Postdesk's own."""
    addresses = [to] if isinstance(to, str) else list(to)
    recipients = [
        Recipient(headersafe.addr_spec(a, field="to", allow_utf8=True)) for a in addresses
    ]
    sender: SupportAddress | None
    if isinstance(from_address, SupportAddress):
        sender = from_address
    elif from_address:
        sender = SupportAddress.objects.filter(email=normalize_email(from_address)).first()
    else:
        sender = SupportAddress.objects.filter(is_system=True).first() or default_from_address()
    from_email = (
        sender.email
        if sender is not None
        else headersafe.addr_spec(str(from_address), field="from", allow_utf8=True)
    )
    auto = auto_submitted if auto_submitted in ("auto-generated", "auto-replied") else None
    return store(
        Draft(
            kind=OutboundKind.SYSTEM,
            sender=sender,
            from_email=from_email,
            recipients=recipients,
            subject=headersafe.subject(subject),
            text=text,
            address_name=_clean_name(sender.name) if sender is not None else "",
            include_reply_delimiter=False,
            include_ticket_token=False,
            ticket_marker=False,
            auto_submitted=auto,  # type: ignore[arg-type]
            extra_headers=_header_pairs(headers),
        )
    )
