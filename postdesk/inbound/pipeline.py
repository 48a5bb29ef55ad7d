"""Turn one spooled mail into a ticket or a comment (SPEC F6-F9).

``process(message)`` runs inside the worker's processing transaction (see
``postdesk.spool.tasks``): whatever it writes commits together with the mail's new status,
or not at all. Every decision is written into ``message.diagnostics`` so the admin can read
how the mail was handled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from postdesk.channels.models import SupportAddress
from postdesk.inbound import people
from postdesk.inbound.threading import find_ticket
from postdesk.mail import received_at as received_at_rules
from postdesk.mail.parse import Address, ParsedMail, ParseError, parse
from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.tickets import blobs
from postdesk.tickets.models import Attachment, Comment, Status, Ticket, User, Via

MAX_CCS = 48
CLOSED_STATES = (Status.CLOSED,)


@dataclass
class Work:
    """What travels with the mail through the steps (Mailman's ``msgdata``)."""

    message: InboundMessage
    parsed: ParsedMail
    diagnostics: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)


def _parse(message: InboundMessage) -> tuple[ParsedMail | None, str]:
    try:
        return parse(bytes(message.raw)), ""
    except ParseError as exc:
        return None, str(exc)


def process(message: InboundMessage) -> None:
    started = time.perf_counter()
    parsed, error = _parse(message)
    if parsed is None:
        message.status = InboundStatus.FAILED
        message.diagnostics = {"parse_error": error}
        return
    work = Work(message, parsed)
    work.diagnostics.update(
        {
            "message_id": parsed.message_id,
            "message_id_generated": parsed.message_id_generated,
            "defects": list(parsed.defects)[:50],
        }
    )
    address = _received_at(work)
    requester = _requester(work)
    match = find_ticket(parsed, requester, list(message.rcpt_tos))
    work.diagnostics["threading"] = match.rule if match else "new-ticket"

    ccs = _cc_addresses(work)
    duplicate = _duplicate_of(work, match.ticket if match else None)
    if duplicate is not None:
        work.diagnostics["duplicate_of_comment"] = duplicate.pk
        message.ticket = duplicate.ticket
        _finish(work, started, InboundStatus.DROPPED, "duplicate")
        return

    if match is not None and match.ticket.status not in CLOSED_STATES:
        ticket = match.ticket
        _reopen(ticket, requester)
    else:
        ticket = _new_ticket(work, requester, address, followup_of=match.ticket if match else None)
    comment = _add_comment(work, ticket, requester)
    if ccs:
        ticket.ccs.add(*[people.user_for(a) for a in ccs])
    message.ticket = ticket
    work.diagnostics["comment_id"] = comment.pk
    if address is not None and address.pk:
        SupportAddress.objects.filter(pk=address.pk).update(last_mail_at=message.received_at)
    _finish(work, started, InboundStatus.PROCESSED, "accept")


def _finish(work: Work, started: float, status: str, verdict: str) -> None:
    work.diagnostics["verdict"] = verdict
    work.diagnostics["flags"] = work.flags
    work.diagnostics["processing_ms"] = round((time.perf_counter() - started) * 1000, 2)
    work.message.status = status
    work.message.diagnostics = work.diagnostics


def _received_at(work: Work) -> SupportAddress | None:
    parsed = work.parsed
    header_addresses = {
        "To": [a.email for a in parsed.to],
        "Cc": [a.email for a in parsed.cc],
    }
    for name in received_at_rules.HEADER_SOURCES[2:]:
        header_addresses[name] = [v.strip().strip("<>") for v in parsed.headers.get_all(name)]
    all_candidates = {
        a for _, a in received_at_rules.candidates(header_addresses, work.message.rcpt_tos)
    }
    addresses = {
        a.email: a
        for a in SupportAddress.objects.filter(email__in=all_candidates).select_related(
            "forwarding_target"
        )
    }
    known = {
        email: received_at_rules.KnownAddress(
            email=email,
            external=a.kind == "external",
            forwarding_target=a.forwarding_target.email if a.forwarding_target else None,
        )
        for email, a in addresses.items()
    }
    decision = received_at_rules.choose(
        header_addresses,
        work.message.rcpt_tos,
        known,
        desk_domain=settings.POSTDESK.mail_domain,
        system_address=settings.POSTDESK.system_address,
    )
    if decision is None:
        work.diagnostics["received_at"] = None
        work.diagnostics["matched_via"] = None
        return SupportAddress.objects.filter(default=True).first()
    work.diagnostics["received_at"] = decision.email
    work.diagnostics["matched_via"] = decision.matched_via
    return (
        addresses.get(decision.email) or SupportAddress.objects.filter(email=decision.email).first()
    )


def _requester(work: Work) -> User:
    parsed = work.parsed
    chosen, rule = people.choose_requester(parsed.reply_to, parsed.from_address)
    if chosen is None and "@" in work.message.mail_from:
        chosen, rule = Address("", work.message.mail_from), "envelope"
    if chosen is None:
        chosen, rule = Address("", f"unknown-sender@{settings.POSTDESK.mail_domain}"), "none"
        work.flags.append("no_sender")
    work.diagnostics["requester_rule"] = rule
    work.diagnostics["requester"] = chosen.email.lower()
    if (
        rule == "reply-to"
        and parsed.from_address is not None
        and parsed.from_address.normalized != chosen.normalized
    ):
        work.flags.append("reply_to_differs_from_from")
    return people.user_for(chosen)


def _duplicate_of(work: Work, ticket: Ticket | None) -> Comment | None:
    """The same mail (same Message-ID and same text) already made a comment."""
    parsed = work.parsed
    if parsed.message_id_generated:
        return None  # the raw hash, checked by the spool, is all we have
    return (
        Comment.objects.filter(
            message_id=parsed.message_id, body=parsed.text, inbound__isnull=False
        )
        .select_related("ticket")
        .first()
    )


def _reopen(ticket: Ticket, requester: User) -> None:
    fields = ["updated_at"]
    ticket.updated_at = timezone.now()
    if requester.pk == ticket.requester_id and ticket.status in (Status.PENDING, Status.SOLVED):
        ticket.status = Status.OPEN
        fields.append("status")
    ticket.save(update_fields=fields)


def _new_ticket(
    work: Work, requester: User, address: SupportAddress | None, followup_of: Ticket | None
) -> Ticket:
    ticket = Ticket.objects.create(
        subject=work.parsed.subject[:998],
        requester=requester,
        submitter=requester,
        received_at=address,
        recipient=address.email if address else "",
        group_id=address.group_id if address else None,
        via=Via.EMAIL,
        followup_of=followup_of,
        flags=list(work.flags),
        created_at=work.message.received_at,
        updated_at=timezone.now(),
    )
    if followup_of is not None:
        work.diagnostics["followup_of"] = followup_of.pk
    return ticket


def _add_comment(work: Work, ticket: Ticket, author: User) -> Comment:
    parsed = work.parsed
    comment = Comment.objects.create(
        ticket=ticket,
        author=author,
        body=parsed.text,
        html_body=parsed.html,
        public=True,
        via=Via.EMAIL,
        message_id=parsed.message_id[:998],
        inbound=work.message,
        flags=list(work.flags),
        created_at=work.message.received_at,
    )
    attachments = [
        Attachment(
            comment=comment,
            filename=(part.filename or "attachment")[:255],
            content_type=part.content_type[:255],
            size=len(part.data),
            sha256=blobs.store(part.data),
            inline=part.inline,
            content_id=part.content_id[:998],
        )
        for part in parsed.attachments
    ]
    Attachment.objects.bulk_create(attachments)
    return comment


def _cc_addresses(work: Work) -> list[Address]:
    """To/Cc addresses that are not ours and not the requester become CCs (SPEC F8)."""
    support = set(SupportAddress.objects.values_list("email", flat=True))
    requester_email = work.diagnostics.get("requester")
    seen: set[str] = set()
    ccs: list[Address] = []
    for address in work.parsed.to + work.parsed.cc:
        email = address.normalized
        if not email or "@" not in email or email in support or email == requester_email:
            continue
        if email.rpartition("@")[2] == settings.POSTDESK.mail_domain or email in seen:
            continue
        seen.add(email)
        ccs.append(address)
    if len(ccs) > MAX_CCS:
        work.flags.append("too_many_ccs")
        work.diagnostics["ccs_dropped"] = len(ccs) - MAX_CCS
        ccs = ccs[:MAX_CCS]
    return ccs
