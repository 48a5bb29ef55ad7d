"""Does a mail continue an existing ticket? SPEC F9, in this order:

1. ``In-Reply-To`` / ``References`` name a Message-ID Postdesk sent or received for a ticket
   (our own outbound ids are signed, so they are read without a lookup and can't be forged);
2. the ticket's signed token: ``support+<token>@<desk domain>`` among the recipients, or
   ``[XXXX-XXXXXX]`` in the body;
3. ``[#<id>]`` in the subject, but only when the sender (the ``From`` address, not a
   ``Reply-To`` anyone can set to the requester) is the requester or a CC of that ticket,
   since a bare number is guessable.

The caller decides what a match on a closed ticket means (a linked follow-up ticket).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings

from postdesk import keys
from postdesk.mail import tokens
from postdesk.mail.parse import ParsedMail
from postdesk.tickets.models import Comment, Ticket, User, UserIdentity, normalize_email

SUBJECT_TICKET_ID = re.compile(r"\[#(\d{1,12})\]")
# A reply quotes its whole thread in References; no client needs more than this many.
MAX_REFERENCES = 100


@dataclass(frozen=True)
class ThreadMatch:
    ticket: Ticket
    rule: str  # "references", "own-message-id", "plus-address", "token", "subject"


def by_message_ids(message_ids: list[str]) -> ThreadMatch | None:
    """Rule 1: a Message-ID we signed (no lookup), else one stored on a comment."""
    key = keys.token_key()
    for message_id in message_ids:
        own = tokens.read_message_id(key, f"<{message_id.strip('<>')}>")
        if own is not None:
            ticket = Ticket.objects.filter(pk=own.ticket_id).first()
            if ticket is not None:
                return ThreadMatch(ticket, "own-message-id")
    if not message_ids:
        return None
    comment = (
        Comment.objects.filter(message_id__in=message_ids)
        .select_related("ticket")
        .order_by("-id")
        .first()
    )
    return ThreadMatch(comment.ticket, "references") if comment else None


def by_plus_address(recipients: Iterable[str]) -> ThreadMatch | None:
    """Rule 2a: ``support+<signed token>@<desk domain>`` among the recipients."""
    key = keys.token_key()
    domain = settings.POSTDESK.mail_domain
    for address in recipients:
        plus = tokens.read_plus_address(key, address)
        if plus is not None and plus.address.rpartition("@")[2].lower() == domain:
            ticket = Ticket.objects.filter(pk=plus.ticket_id).first()
            if ticket is not None:
                return ThreadMatch(ticket, "plus-address")
    return None


def by_body_token(text: str) -> ThreadMatch | None:
    """Rule 2b: the signed ``[XXXX-XXXXXX]`` token in the body."""
    ticket_id = tokens.find_ticket_token(keys.token_key(), text)
    if ticket_id is None:
        return None
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    return ThreadMatch(ticket, "token") if ticket is not None else None


def by_subject(subject: str, sender: User | None) -> ThreadMatch | None:
    """Rule 3: ``[#id]`` in the subject, from that ticket's requester or one of its CCs."""
    if sender is None:
        return None
    for found in SUBJECT_TICKET_ID.findall(subject):
        ticket = Ticket.objects.filter(pk=int(found)).first()
        if ticket is None:
            continue
        if ticket.requester_id == sender.pk or ticket.ccs.filter(pk=sender.pk).exists():
            return ThreadMatch(ticket, "subject")
    return None


def from_user(parsed: ParsedMail) -> User | None:
    """The known user behind the From address (never created here: a stranger is nobody's
    requester or CC)."""
    if parsed.from_address is None:
        return None
    identity = (
        UserIdentity.objects.select_related("user")
        .filter(email=normalize_email(parsed.from_address.email))
        .first()
    )
    return identity.user if identity is not None else None


def find_ticket(
    parsed: ParsedMail, sender: User | None, envelope_rcpts: list[str]
) -> ThreadMatch | None:
    """The ticket the mail continues, by the first rule that matches.

    ``sender`` is the user behind the From address when the caller already has it; with
    None it is looked up, and only when the subject names a ticket.
    """
    ids = list(parsed.in_reply_to) + list(reversed(parsed.references))
    recipients = [a.email for a in parsed.to + parsed.cc] + list(envelope_rcpts)
    match = (
        by_message_ids(ids[:MAX_REFERENCES])
        or by_plus_address(recipients)
        or by_body_token(parsed.text)
    )
    if match is not None or not SUBJECT_TICKET_ID.search(parsed.subject):
        return match
    return by_subject(parsed.subject, sender or from_user(parsed))
