"""Turn one spooled mail into a ticket or a comment (SPEC F5-F9).

``process(message)`` runs inside the worker's processing transaction (see
``postdesk.spool.tasks``): whatever it writes commits together with the mail's new status,
or not at all. It is a row of small steps, one per concern, that share a ``Work`` record
(Mailman's ``msgdata``):

    parse → received-at → requester → forwarding chain → CCs → authentication →
    protection → threading → duplicate check → ticket → comment (+ attachments, cid
    images) → CCs linked → support address touched → notifications

Every decision and each step's time is written into ``message.diagnostics``, the record an
admin reads to see how the mail was handled: transport, envelope, matched_via, requester
rule, threading rule, verdict, flags, timings. Everything stored passes through
``content.db_text``/``db_json``: nothing that reaches the database holds NUL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from postdesk.channels import routing
from postdesk.channels.models import SupportAddress
from postdesk.inbound import authentication, content, people, protection, rows
from postdesk.inbound.channels_step import handle_channel_mail
from postdesk.inbound.forwarding import forwarding_trace
from postdesk.inbound.threading import ThreadMatch, find_ticket
from postdesk.mail import received_at as received_at_rules
from postdesk.mail.parse import Address, ParsedMail, ParseError, Part, parse
from postdesk.mail.rules.base import AuthProfile
from postdesk.mail.verdict import Action, Verdict
from postdesk.outbound.services import notify_new_ticket
from postdesk.snapshots import Snapshot
from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.suspension import policy
from postdesk.tickets import blobs
from postdesk.tickets.models import Attachment, Comment, Status, Ticket, User, Via

logger = logging.getLogger(__name__)

MAX_CCS = 48
# A reply to a ticket in these states opens a new, linked ticket (SPEC F9).
CLOSED_STATES = frozenset({Status.CLOSED})
# An end user's reply puts these back in front of an agent.
REOPENED_STATES = frozenset({Status.PENDING, Status.SOLVED})
# last_mail_at is passive re-verification (SPEC F3): minute precision is plenty, and not
# writing it for every mail keeps a busy address's row out of every transaction.
LAST_MAIL_AT_GRANULARITY = timedelta(minutes=1)
MAX_DEFECTS_RECORDED = 50


def _load_support_addresses() -> dict[str, SupportAddress]:
    return {a.email: a for a in SupportAddress.objects.select_related("forwarding_target")}


# Every mail's received-at decision reads the (small) address table: see postdesk.snapshots.
_SUPPORT_ADDRESSES = Snapshot(_load_support_addresses, depends_on=(SupportAddress,))

_FINAL_STATUS = {
    Action.DROP: InboundStatus.DROPPED,
    Action.BOUNCE: InboundStatus.DROPPED,
    Action.SUSPEND: InboundStatus.SUSPENDED,
}


@dataclass
class Work:
    """What travels with the mail through the steps."""

    message: InboundMessage
    parsed: ParsedMail
    raw: bytes = b""
    diagnostics: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    addresses: dict[str, SupportAddress] = field(default_factory=dict)
    address: SupportAddress | None = None
    requester_user: User | None = None
    ccs: list[Address] = field(default_factory=list)
    # Whether the mail may act as the agent who sent it. Never when Reply-To names an agent;
    # the authentication step also withdraws it when the mail doesn't pass (SPEC F11).
    agent_rights: bool = False
    # The verdict of the authentication step: "pass", "fail", "temperror", "none", or "" when
    # the admin switched checks off.
    authentication: str = ""
    verdict: Verdict = field(default_factory=lambda: Verdict(action=Action.ACCEPT))
    match: ThreadMatch | None = None
    _comment_text: tuple[str, str] | None = field(default=None, init=False, repr=False)

    @property
    def comment_text(self) -> tuple[str, str]:
        """(body, quoted text) of the comment: the duplicate check and the comment itself
        both need it, and separating the quote is one of the costlier steps."""
        if self._comment_text is None:
            self._comment_text = content.split_body(content.db_text(self.parsed.text))
        return self._comment_text

    @property
    def requester(self) -> User:
        if self.requester_user is None:
            raise RuntimeError("the requester step has not run")
        return self.requester_user

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[step] = round((time.perf_counter() - started) * 1000, 3)


def process(message: InboundMessage) -> None:
    started = time.perf_counter()
    work = _parse(message)
    if work is None:
        return
    with work.timed("channels"):
        channel_outcome = handle_channel_mail(message, work.parsed)
    if channel_outcome is not None:
        # Mail for the desk itself (a forwarding test mail, a Gmail confirmation): never a
        # ticket. It runs before protection, which would drop the test mail as our own.
        work.diagnostics["channels"] = channel_outcome.details
        _finish(work, started, InboundStatus.DROPPED, verdict=channel_outcome.verdict)
        return
    with work.timed("received_at"):
        _received_at(work)
    with work.timed("requester"):
        _requester(work)
    _forwarding_chain(work)
    _cc_addresses(work)
    with work.timed("authentication"):
        _authenticate(work)
    with work.timed("protection"):
        work.verdict = _protect(work)
    if work.verdict.action in _FINAL_STATUS:
        _finish(work, started, _FINAL_STATUS[work.verdict.action])
        return
    with work.timed("threading"):
        _thread(work)
        duplicate = _duplicate_of(work)
    if duplicate is not None:
        work.diagnostics["duplicate_of_comment"], message.ticket_id = duplicate
        _finish(work, started, InboundStatus.DROPPED, verdict="duplicate")
        return
    with work.timed("store"):
        ticket, created = _ticket_for(work)
        comment = _add_comment(work, ticket)
        _link_ccs(work, ticket)
        _touch_address(work)
    message.ticket = ticket
    if created:
        protection.ticket_opened(message, work.parsed)
    work.diagnostics.update(ticket_id=ticket.pk, ticket_created=created, comment_id=comment.pk)
    _notify(work, ticket, comment, created)
    _finish(work, started, InboundStatus.PROCESSED)


# --- steps ---------------------------------------------------------------------------------


def _parse(message: InboundMessage) -> Work | None:
    """The parsed mail, or None after recording why it can't be one (a visible failure that
    an admin can reprocess; the raw bytes stay in the spool)."""
    started = time.perf_counter()
    raw = bytes(message.raw)
    try:
        parsed = parse(raw)
    except ParseError as error:
        message.status = InboundStatus.FAILED
        diagnostics = _transport(message)
        diagnostics.update(parse_error=str(error), verdict="failed")
        diagnostics["internal_error"] = error.internal
        message.diagnostics = content.db_json(diagnostics)
        return None
    work = Work(message, parsed, raw)
    work.timings["parse"] = round((time.perf_counter() - started) * 1000, 3)
    work.diagnostics.update(_transport(message))
    work.diagnostics.update(
        message_id=parsed.message_id,
        message_id_generated=parsed.message_id_generated,
        defects=list(parsed.defects)[:MAX_DEFECTS_RECORDED],
    )
    return work


def _transport(message: InboundMessage) -> dict[str, Any]:
    return {"transport": message.transport, "envelope": message.envelope_json()}


def _received_at(work: Work) -> None:
    """SPEC F7: the support address the mail came to, and how that was decided."""
    parsed = work.parsed
    header_addresses: dict[str, list[str]] = {
        "To": [a.email for a in parsed.to],
        "Cc": [a.email for a in parsed.cc],
    }
    for name in received_at_rules.HEADER_SOURCES[2:]:
        header_addresses[name] = [v.strip().strip("<>") for v in parsed.headers.get_all(name)]
    rcpts = list(work.message.rcpt_tos)
    wanted = {a for _, a in received_at_rules.candidates(header_addresses, rcpts)}
    # One query serves received-at and the CC step (support addresses are never CCs).
    every_address = _SUPPORT_ADDRESSES.get()
    # Support addresses are never CCs: the CC step reads this too.
    work.addresses = {email: every_address[email] for email in wanted if email in every_address}
    known = {
        email: received_at_rules.KnownAddress(
            email=email,
            external=a.kind == "external",
            forwarding_target=a.forwarding_target.email if a.forwarding_target else None,
        )
        for email, a in work.addresses.items()
    }
    decision = received_at_rules.choose(
        header_addresses,
        rcpts,
        known,
        desk_domain=settings.POSTDESK.mail_domain,
        system_address=settings.POSTDESK.system_address,
    )
    if decision is None:
        work.address = next((a for a in every_address.values() if a.default), None)
        work.diagnostics.update(received_at=None, matched_via="default")
        return
    work.diagnostics.update(received_at=decision.email, matched_via=decision.matched_via)
    work.address = every_address.get(decision.email)


def _requester(work: Work) -> None:
    """SPEC F8: first Reply-To, else From; the envelope sender when neither is usable.

    A Reply-To naming an agent is not followed: anyone can write an agent's address there,
    and the mail would then speak as that agent. The From address is used instead.
    """
    parsed = work.parsed
    chosen, rule = people.choose_requester(parsed.reply_to, parsed.from_address)
    if chosen is None:
        chosen, rule = _fallback_sender(work)
    requester = people.user_for(chosen)
    from_address = parsed.from_address
    if (
        rule == "reply-to"
        and from_address is not None
        and people.usable_email(from_address.normalized)
        and from_address.normalized != chosen.normalized
    ):
        work.flag("reply_to_differs_from_from")
        if requester.is_agent:
            work.flag("reply_to_names_agent")
            chosen, rule = from_address, "from (reply-to names an agent)"
            requester = people.user_for(chosen)
    work.requester_user = requester
    work.agent_rights = requester.is_agent and "reply_to_names_agent" not in work.flags
    work.diagnostics.update(
        requester_rule=rule, requester=chosen.normalized, agent_rights=work.agent_rights
    )


def _fallback_sender(work: Work) -> tuple[Address, str]:
    envelope_sender = work.message.mail_from.strip().strip("<>")
    if people.usable_email(envelope_sender.lower()):
        work.flag("sender_from_envelope")
        return Address("", envelope_sender), "envelope"
    work.flag("no_sender")
    return Address("", f"unknown-sender@{settings.POSTDESK.mail_domain}"), "none"


def _forwarding_chain(work: Work) -> None:
    """SPEC F8: several forwarding hops mean the requester may not be who wrote."""
    trace = forwarding_trace(work.parsed.headers)
    work.diagnostics["forwarding"] = {"hops": trace.hops, "evidence": trace.evidence}
    if trace.chained:
        work.flag("chained_forwarding")


def _cc_addresses(work: Work) -> None:
    """To/Cc addresses that are not ours and not the requester become CCs (SPEC F8)."""
    requester_email = work.diagnostics.get("requester")
    desk_domain = settings.POSTDESK.mail_domain
    seen: set[str] = set()
    unusable = 0
    for address in work.parsed.to + work.parsed.cc:
        email = address.normalized
        if email in seen or email == requester_email or email in work.addresses:
            continue
        seen.add(email)
        if email.rpartition("@")[2] == desk_domain:
            continue
        if not people.usable_email(email):
            unusable += 1
            continue
        work.ccs.append(address)
    if unusable:
        work.diagnostics["ccs_unusable"] = unusable
    if len(work.ccs) > MAX_CCS:
        work.flag("too_many_ccs")
        work.diagnostics["ccs_dropped"] = len(work.ccs) - MAX_CCS
        work.ccs = work.ccs[:MAX_CCS]


def _authenticate(work: Work) -> None:
    """SPEC F11: SPF, DKIM, DMARC and ARC, stored with the mail and shown to admins; the
    protection step reads the verdict. Only a mail that passes may act with an agent's
    rights (SPEC F8), unless the admin switched the checks off or an agent recovered the
    mail from the suspended queue after reading it."""
    row, rule_settings = policy.snapshot()
    if rule_settings.auth_profile == AuthProfile.OFF:
        work.diagnostics["authentication"] = {"verdict": "not_checked"}
        return
    result = authentication.check(work.message, work.raw, row.trusted_forwarders)
    work.authentication = result.verdict
    work.diagnostics["authentication"] = content.db_json(result.as_json())
    if result.verdict != "pass" and work.agent_rights and not protection.recovering(work.message):
        work.agent_rights = False
        work.diagnostics["agent_rights"] = False
        # Normally the protection step suspends such a mail. If the admin let it through
        # (an action override), the ticket says that the agent's address was not proven.
        work.flag("agent_not_authenticated")


def _protect(work: Work) -> Verdict:
    """The protection step (``postdesk.inbound.protection``: loops, automated mail, bounces,
    authentication, rate limits; SPEC F10/F11). Drop, bounce and suspend end here with the
    mail's status (the queue entry or drop record is written by the step); accept without
    notifications goes on but sends nothing and, per the verdict, reopens nothing."""
    screening = protection.screen(work.message, work.parsed, authentication=work.authentication)
    work.diagnostics["protection"] = screening.diagnostics
    return screening.verdict


def _thread(work: Work) -> None:
    # The requester is the From user unless Reply-To chose someone else.
    sender = work.requester if work.diagnostics["requester_rule"].startswith("from") else None
    work.match = find_ticket(work.parsed, sender, list(work.message.rcpt_tos))
    work.diagnostics["threading"] = work.match.rule if work.match else "new-ticket"


def _duplicate_of(work: Work) -> tuple[int, int] | None:
    """(comment id, ticket id) of the comment the same mail (same Message-ID and same text)
    already made (SPEC F5).

    A generated Message-ID hashes the raw bytes, which the spool already deduplicates; it
    still finds a copy that was spooled before that check (reprocessing)."""
    body, _quoted = work.comment_text
    found = _SAME_COMMENT.rows(message_id=_message_id(work.parsed), body=body)
    return (found[0][0], found[0][1]) if found else None


_SAME_COMMENT = rows.Prepared(
    Comment,
    lambda message_id, body: (
        Comment.objects.filter(message_id=message_id, body=body, inbound__isnull=False)
        .order_by()
        .values_list("pk", "ticket_id")[:1]
    ),
    message_id=str,
    body=str,
)


def _ticket_for(work: Work) -> tuple[Ticket, bool]:
    """The matched open ticket, or a new one (a linked follow-up for a closed ticket)."""
    match = work.match
    if match is not None and match.ticket.status not in CLOSED_STATES:
        _update_thread(work, match.ticket)
        return match.ticket, False
    followup_of = match.ticket if match is not None else None
    ticket = _new_ticket(work, followup_of)
    # Routing rules (received at X -> group, priority, tags) after the address's own group.
    work.diagnostics["routing"] = content.db_json(routing.apply(ticket))
    return ticket, True


def _update_thread(work: Work, ticket: Ticket) -> None:
    """A new comment on an existing ticket: bump it, reopen it for an end user's reply, and
    add flags it didn't have. One UPDATE, of the changed columns only."""
    changes: dict[str, Any] = {"updated_at": timezone.now()}
    if ticket.status in REOPENED_STATES and work.verdict.reopen and not work.requester.is_agent:
        changes["status"] = Status.OPEN
        work.diagnostics["reopened"] = True
    new_flags = [flag for flag in work.flags if flag not in ticket.flags]
    if new_flags:
        changes["flags"] = [*ticket.flags, *new_flags]
    Ticket.objects.filter(pk=ticket.pk).update(**changes)
    for name, value in changes.items():
        setattr(ticket, name, value)


def _new_ticket(work: Work, followup_of: Ticket | None) -> Ticket:
    address = work.address
    ticket = rows.insert(
        Ticket(
            subject=content.db_text(work.parsed.subject, 998),
            requester=work.requester,
            submitter=work.requester,
            received_at=address,
            recipient=address.email if address else "",
            group_id=address.group_id if address else None,
            via=Via.EMAIL,
            followup_of=followup_of,
            flags=list(work.flags),
            created_at=work.message.received_at,
            updated_at=timezone.now(),
        )
    )
    if followup_of is not None:
        work.diagnostics["followup_of"] = followup_of.pk
    return ticket


def _message_id(parsed: ParsedMail) -> str:
    return content.db_text(parsed.message_id, 998)


def _add_comment(work: Work, ticket: Ticket) -> Comment:
    body, quoted = work.comment_text
    comment = rows.insert(
        Comment(
            ticket=ticket,
            author=work.requester,
            body=body,
            quoted_text=quoted,
            html_body=content.db_text(work.parsed.html),
            public=True,
            via=Via.EMAIL,
            message_id=_message_id(work.parsed),
            inbound=work.message,
            flags=list(work.flags),
            created_at=work.message.received_at,
        )
    )
    _store_attachments(work, comment)
    return comment


def _store_attachments(work: Work, comment: Comment) -> None:
    """Files by content hash; the original HTML as its inert copy; ``cid:`` images linked."""
    parts = work.parsed.attachments
    if not parts:
        return
    shown_inline = set(content.referenced_cids(work.parsed.html))
    rows.insert_all([_attachment(comment, part, shown_inline) for part in parts])
    missing = content.missing_cids(work.parsed.html, (part.content_id for part in parts))
    work.diagnostics["attachments"] = len(parts)
    if shown_inline:
        work.diagnostics["cid_images"] = {
            "linked": len(shown_inline) - len(missing),
            "missing": missing[:20],
        }


def _attachment(comment: Comment, part: Part, shown_inline: set[str]) -> Attachment:
    content_id = content.normalize_cid(part.content_id) if part.content_id else ""
    return Attachment(
        comment=comment,
        filename=content.db_text(part.filename or "attachment", 255),
        content_type=content.db_text(part.content_type, 255) or "application/octet-stream",
        size=len(part.data),
        sha256=blobs.store(part.data),
        # Inline means "shown inside the body": a part the HTML shows by its Content-ID,
        # whatever its Content-Disposition says (Apple Mail marks them attachment).
        inline=bool(content_id) and content_id in shown_inline and not part.original_html,
        content_id=content.db_text(part.content_id, 998),
    )


def _link_ccs(work: Work, ticket: Ticket) -> None:
    if work.ccs:
        # The through rows directly rather than ``ticket.ccs.add``: its m2m_changed signal
        # drops every snapshot of this process (postdesk.snapshots listens to all senders),
        # so each mail with CCs would reload the addresses, agents and settings.
        through = Ticket.ccs.through
        through.objects.bulk_create(
            [through(ticket_id=ticket.pk, user_id=user.pk) for user in people.users_for(work.ccs)],
            ignore_conflicts=True,  # already a CC of this ticket
        )
        work.diagnostics["ccs"] = len(work.ccs)


def _touch_address(work: Work) -> None:
    address = work.address
    received = work.message.received_at
    if address is None or address.pk is None:
        return
    if address.last_mail_at and address.last_mail_at > received - LAST_MAIL_AT_GRANULARITY:
        return
    SupportAddress.objects.filter(pk=address.pk).update(last_mail_at=received)
    address.last_mail_at = received  # the snapshot's copy, so the next mail skips the write


def _notify(work: Work, ticket: Ticket, comment: Comment, created: bool) -> None:
    """The new-ticket acknowledgement (SPEC F12), only when the verdict allows notifications.

    It is queued in the outbox inside this transaction, so it exists exactly when the ticket
    does. A fault in building it must not cost the customer's mail: it is recorded and the
    mail is still processed (inside a savepoint, so a half-written outbox row rolls back)."""
    if not created:
        work.diagnostics["notifications"] = "none (comment on an existing ticket)"
        return
    if not work.verdict.notify:
        work.diagnostics["notifications"] = "suppressed"
        return
    try:
        with transaction.atomic():
            outbound = notify_new_ticket(ticket, comment, notify=True)
    except Exception as error:
        logger.exception("acknowledgement for ticket %s failed", ticket.pk)
        work.diagnostics["notifications"] = f"failed: {type(error).__name__}"
        return
    work.diagnostics["notifications"] = (
        f"acknowledgement queued (outbound {outbound.pk})" if outbound else "not sent (limits)"
    )


def _finish(work: Work, started: float, status: str, *, verdict: str | None = None) -> None:
    work.timings["total"] = round((time.perf_counter() - started) * 1000, 3)
    work.diagnostics.update(
        verdict=verdict or str(work.verdict.action),
        cause=work.verdict.cause,
        flags=work.flags,
        timings_ms=work.timings,
        processing_ms=work.timings["total"],
    )
    work.message.status = status
    work.message.diagnostics = content.db_json(work.diagnostics)
