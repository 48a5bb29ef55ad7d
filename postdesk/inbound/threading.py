"""Does a mail continue an existing ticket? SPEC F9, in this order:

1. ``In-Reply-To`` / ``References`` name a Message-ID Postdesk sent or received for a ticket
   (our own outbound ids are signed, so they are read without a lookup and can't be forged);
2. the ticket's signed token, ``[XXXX-XXXX]`` in the body or ``support+<token>@<desk domain>``;
3. ``[#<id>]`` in the subject, but only when the sender is the requester or a CC, since a
   bare number is guessable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings

from postdesk import keys
from postdesk.mail import tokens
from postdesk.mail.parse import ParsedMail
from postdesk.tickets.models import Comment, Ticket, User

SUBJECT_TICKET_ID = re.compile(r"\[#(\d{1,12})\]")


@dataclass(frozen=True)
class ThreadMatch:
    ticket: Ticket
    rule: str  # "references", "token", "plus-address", "subject"


def _by_message_ids(message_ids: list[str]) -> ThreadMatch | None:
    key = keys.token_key()
    for message_id in message_ids:
        own = tokens.read_message_id(key, f"<{message_id.strip('<>')}>")
        if own is not None:
            ticket = Ticket.objects.filter(pk=own.ticket_id).first()
            if ticket is not None:
                return ThreadMatch(ticket, "references")
    if not message_ids:
        return None
    comment = (
        Comment.objects.filter(message_id__in=message_ids)
        .select_related("ticket")
        .order_by("-id")
        .first()
    )
    return ThreadMatch(comment.ticket, "references") if comment else None


def _by_token(parsed: ParsedMail, envelope_rcpts: list[str]) -> ThreadMatch | None:
    key = keys.token_key()
    domain = settings.POSTDESK.mail_domain
    recipients = [a.email for a in parsed.to + parsed.cc] + list(envelope_rcpts)
    for address in recipients:
        plus = tokens.read_plus_address(key, address)
        if plus is not None and plus.address.rpartition("@")[2].lower() == domain:
            ticket = Ticket.objects.filter(pk=plus.ticket_id).first()
            if ticket is not None:
                return ThreadMatch(ticket, "plus-address")
    ticket_id = tokens.find_ticket_token(key, parsed.text)
    if ticket_id is not None:
        ticket = Ticket.objects.filter(pk=ticket_id).first()
        if ticket is not None:
            return ThreadMatch(ticket, "token")
    return None


def _by_subject(subject: str, sender: User | None) -> ThreadMatch | None:
    if sender is None:
        return None
    for match in SUBJECT_TICKET_ID.finditer(subject):
        ticket = Ticket.objects.filter(pk=int(match.group(1))).first()
        if ticket is None:
            continue
        if ticket.requester_id == sender.pk or ticket.ccs.filter(pk=sender.pk).exists():
            return ThreadMatch(ticket, "subject")
    return None


def find_ticket(
    parsed: ParsedMail, sender: User | None, envelope_rcpts: list[str]
) -> ThreadMatch | None:
    ids = list(parsed.in_reply_to) + list(reversed(parsed.references))
    return (
        _by_message_ids(ids)
        or _by_token(parsed, envelope_rcpts)
        or _by_subject(parsed.subject, sender)
    )
