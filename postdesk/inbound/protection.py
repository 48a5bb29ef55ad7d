"""The protection step of the inbound pipeline (SPEC F10/F11): what the desk knows about a
mail and about itself goes into the pure rules of `postdesk.mail`, and their verdict is
carried out here.

* `facts_for(message, parsed)` fills `MailFacts`: the mail's own facts and the verdict of
  the authentication step, plus the desk's support addresses, domain, agents, loop header
  instance and signed Message-IDs.
* `decide_for(message, parsed)` runs the rules with the admin's settings and the shared rate
  limits. A mail being recovered from the suspended queue is let through (see `recovering`).
* `suspend`, `record_drop` and `hand_to_bounce_handler` carry out the three verdicts that end
  a mail's way here; `screen` runs the whole step for the pipeline in one call.
* `ticket_opened` counts a new ticket against its sender's flood window.

Everything runs inside the pipeline's transaction: a suspension or drop commits together with
the mail's new status, or not at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from postdesk import keys
from postdesk.channels.models import SupportAddress
from postdesk.inbound.threading import find_ticket
from postdesk.mail import bounces, tokens
from postdesk.mail.compose import LOOP_HEADER
from postdesk.mail.envelope import Transport
from postdesk.mail.parse import ParsedMail
from postdesk.mail.rules.base import MailFacts
from postdesk.mail.verdict import Action, Verdict, decide, policy_table
from postdesk.snapshots import Snapshot
from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.suspension import policy
from postdesk.suspension.models import DroppedMail, SuspendedMail
from postdesk.tickets.models import Role, User, UserIdentity

__all__ = [
    "RECOVERY_MARK",
    "Screening",
    "decide_for",
    "describe",
    "facts_for",
    "hand_to_bounce_handler",
    "instance_id",
    "record_drop",
    "recovering",
    "screen",
    "suspend",
    "ticket_opened",
]

logger = logging.getLogger(__name__)

# Set in ``InboundMessage.diagnostics`` by `postdesk.suspension.services.recover` before it
# runs the pipeline again: an agent has reviewed the mail, the rules must not hold it again.
# Only our own code writes diagnostics, so a sender can't set it.
RECOVERY_MARK = "recovering_suspended"
BOUNCE_HANDLER = "postdesk.outbound.bounces.handle_bounce"
INSTANCE_ID = "postdesk.outbound.composer.instance_id"
PREVIEW_LENGTH = 1000
# Transports whose envelope sender is the real SMTP MAIL FROM, so "" is the null sender.
_ENVELOPE_TRANSPORTS = frozenset({Transport.SMTP, Transport.LMTP})


def instance_id() -> str:
    """What this desk writes into its loop header, as the outbound app computes it.

    A desk without the outbound app sends nothing, so none of its mail can come back: then
    there is no instance to recognise and the loop-header rule stays quiet.
    """
    try:
        outbound_instance_id = import_string(INSTANCE_ID)
    except ImportError:
        return ""
    return str(outbound_instance_id())


# --- facts -------------------------------------------------------------------------------


def facts_for(
    message: InboundMessage, parsed: ParsedMail, *, authentication: str = ""
) -> MailFacts:
    """``authentication`` is the verdict of the authentication step ("" when not evaluated)."""
    mail_from = _envelope_sender(message, parsed)
    return MailFacts(
        headers=parsed.headers,
        mail_from=mail_from,
        from_email=_from_email(parsed, mail_from),
        from_name=parsed.from_address.name if parsed.from_address else "",
        reply_to=tuple(a.normalized for a in parsed.reply_to),
        to=tuple(a.normalized for a in parsed.to),
        cc=tuple(a.normalized for a in parsed.cc),
        subject=parsed.subject,
        content_type=parsed.content_type,
        size=message.size,
        message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to[0] if parsed.in_reply_to else "",
        references=tuple(parsed.references),
        is_bounce=_is_bounce(bytes(message.raw), mail_from),
        authentication=authentication,
        own_addresses=_own_addresses(),
        own_domains=frozenset({settings.POSTDESK.mail_domain}),
        loop_header_name=LOOP_HEADER,
        instance_id=instance_id(),
        own_message_id_domain=_own_message_id_domain(parsed.message_id),
        agent_emails=_agent_emails(),
    )


def _from_email(parsed: ParsedMail, mail_from: str) -> str:
    """The From address; without a usable one, the envelope sender stands in, as it does for
    the requester (SPEC F8), so a mail someone can be answered at is not "malformed"."""
    if parsed.from_address is not None and "@" in parsed.from_address.email:
        return parsed.from_address.normalized
    return mail_from if "@" in mail_from else ""


def _envelope_sender(message: InboundMessage, parsed: ParsedMail) -> str:
    """The envelope sender, "" only when it really was the null sender.

    SMTP and LMTP always know it. The pipe, HTTP and IMAP transports may not: there the MTA's
    ``Return-Path`` (RFC 5321 §4.4) tells, and without one the From address stands in, since an
    unknown sender is not a null sender and must not make every such mail "automated".
    """
    envelope = message.mail_from.strip().strip("<>").strip().lower()
    if envelope or message.transport in _ENVELOPE_TRANSPORTS:
        return envelope
    return_path = parsed.headers.get("Return-Path")
    if return_path:
        return return_path.strip().strip("<>").strip().lower()
    return parsed.from_address.normalized if parsed.from_address else ""


def _is_bounce(raw: bytes, mail_from: str) -> bool:
    try:
        return bounces.is_bounce_bytes(raw, mail_from)
    except RecursionError:
        # MIME nested deeper than the stdlib walks (a hostile mail, never a real report):
        # the headers have spoken, and this mail must still end somewhere.
        logger.warning("bounce check gave up on a deeply nested mail; treated as no bounce")
        return False


def _load_own_addresses() -> frozenset[str]:
    emails = {email.lower() for email in SupportAddress.objects.values_list("email", flat=True)}
    emails.add(settings.POSTDESK.system_address)
    return frozenset(emails)


def _load_agent_emails() -> frozenset[str]:
    return frozenset(
        email.lower()
        for email in UserIdentity.objects.filter(
            user__role__in=(Role.AGENT, Role.ADMIN), user__is_active=True
        ).values_list("email", flat=True)
    )


_OWN_ADDRESSES = Snapshot(_load_own_addresses, depends_on=(SupportAddress,))
_AGENT_EMAILS = Snapshot(_load_agent_emails, depends_on=(UserIdentity, User))


def _own_addresses() -> frozenset[str]:
    return _OWN_ADDRESSES.get()


def _agent_emails() -> frozenset[str]:
    return _AGENT_EMAILS.get()


def _own_message_id_domain(message_id: str) -> str:
    """The domain of the mail's Message-ID when this desk signed that Message-ID, else "".

    The own-Message-ID rule compares domains; handing it the domain only after the signature
    checks out means a stranger can't get mail dropped by borrowing our domain.
    """
    if not message_id or tokens.read_message_id(keys.token_key(), message_id) is None:
        return ""
    return message_id.strip().strip("<>").rpartition("@")[2].lower()


# --- the verdict ---------------------------------------------------------------------------


def recovering(message: InboundMessage) -> bool:
    return bool((message.diagnostics or {}).get(RECOVERY_MARK))


def decide_for(message: InboundMessage, parsed: ParsedMail, *, authentication: str = "") -> Verdict:
    facts = facts_for(message, parsed, authentication=authentication)
    row, rule_settings = policy.snapshot()
    if recovering(message):
        # Every holding verdict becomes "accept"; automation still switches notifications
        # off, so a recovered autoreply is not answered either. No limiter: a recovered mail
        # neither waits for nor starts a flood block.
        table = policy_table(rule_settings)
        held = (Action.SUSPEND, Action.DROP, Action.BOUNCE)
        overrides = {rule: Action.ACCEPT.value for rule, action in table.items() if action in held}
        rule_settings = replace(rule_settings, actions=(*rule_settings.actions, *overrides.items()))
        return decide(facts, settings=rule_settings)
    return decide(facts, settings=rule_settings, limiter=policy.rate_limiter(row))


def describe(verdict: Verdict) -> dict[str, Any]:
    """The verdict as it goes into ``InboundMessage.diagnostics["protection"]``."""
    return {
        "action": verdict.action.value,
        "rule": verdict.rule,
        "cause": verdict.cause,
        "cause_id": verdict.cause_id,
        "reason": verdict.reason,
        "notify": verdict.notify,
        "reopen": verdict.reopen,
        "hits": [
            {"rule": hit.rule, "cause": hit.cause, "reason": hit.reason} for hit in verdict.hits
        ],
    }


# --- carrying it out -----------------------------------------------------------------------


def suspend(message: InboundMessage, parsed: ParsedMail, verdict: Verdict) -> SuspendedMail:
    """Put the mail in the suspended queue and mark it ``suspended`` (the caller saves the
    message). Idempotent: a second call for the same mail returns the same entry."""
    sender, sender_name = _sender(message, parsed)
    match = find_ticket(parsed, None, list(message.rcpt_tos))
    suspended, _ = SuspendedMail.objects.get_or_create(
        inbound=message,
        defaults={
            "cause": verdict.cause or "",
            "cause_id": verdict.cause_id,
            "rule": verdict.rule or "",
            "reason": _text(verdict.reason[:2000]),
            "sender": _text(sender[:320]),
            "sender_name": _text(sender_name[:255]),
            "recipient": _text(_recipient(message, parsed)[:320]),
            "subject": _text(parsed.subject[:998]),
            "preview": _text(parsed.text[:PREVIEW_LENGTH]),
            "message_id": _text(parsed.message_id[:998]),
            "received_at": message.received_at,
            "thread_ticket_id": match.ticket.pk if match else None,
        },
    )
    message.status = InboundStatus.SUSPENDED
    return suspended


def record_drop(message: InboundMessage, parsed: ParsedMail, verdict: Verdict) -> DroppedMail:
    """Record why the mail was dropped and mark it ``dropped`` (the caller saves the message)."""
    sender, _ = _sender(message, parsed)
    dropped, _ = DroppedMail.objects.get_or_create(
        inbound=message,
        defaults={
            "rule": verdict.rule or "",
            "cause": verdict.cause or "",
            "reason": _text(verdict.reason[:2000]),
            "sender": _text(sender[:320]),
            "subject": _text(parsed.subject[:998]),
        },
    )
    message.status = InboundStatus.DROPPED
    return dropped


def hand_to_bounce_handler(message: InboundMessage, parsed: ParsedMail, verdict: Verdict) -> str:
    """Give a bounce to the outbound app's handler, which marks the failed recipients
    undeliverable, and record it as dropped (rule ``bounce``): it never becomes a ticket.

    The handler is looked up when needed, so a desk without it still keeps bounces out of
    tickets. Returns the status the mail ends in.
    """
    try:
        handle_bounce = import_string(BOUNCE_HANDLER)
    except ImportError:
        logger.info("inbound %s is a bounce; no bounce handler is installed", message.pk)
    else:
        matched = handle_bounce(bytes(message.raw), list(message.rcpt_tos))
        logger.info("inbound %s is a bounce (matched to our mail: %s)", message.pk, matched)
    record_drop(message, parsed, verdict)
    return InboundStatus.DROPPED


def ticket_opened(message: InboundMessage, parsed: ParsedMail) -> None:
    """Count a ticket this mail opened against its sender's flood window."""
    sender, _ = _sender(message, parsed)
    if sender:
        policy.rate_limiter().record_ticket_opened(sender)


@dataclass(frozen=True)
class Screening:
    """The protection step's outcome for the pipeline.

    ``final_status`` is the mail's status when the step ended its way (suspended, dropped, a
    handled bounce), or None when it goes on to become a ticket or comment, in which case
    ``verdict.notify`` and ``verdict.reopen`` say whether it may notify and reopen.
    """

    verdict: Verdict
    final_status: str | None
    diagnostics: dict[str, Any]


def screen(message: InboundMessage, parsed: ParsedMail, *, authentication: str = "") -> Screening:
    verdict = decide_for(message, parsed, authentication=authentication)
    diagnostics = describe(verdict)
    if recovering(message):
        diagnostics["recovered"] = message.diagnostics[RECOVERY_MARK]
    final_status: str | None = None
    if verdict.action == Action.SUSPEND:
        diagnostics["suspended_id"] = suspend(message, parsed, verdict).pk
        final_status = InboundStatus.SUSPENDED
    elif verdict.action == Action.DROP:
        record_drop(message, parsed, verdict)
        final_status = InboundStatus.DROPPED
    elif verdict.action == Action.BOUNCE:
        final_status = hand_to_bounce_handler(message, parsed, verdict)
    return Screening(verdict=verdict, final_status=final_status, diagnostics=diagnostics)


def _text(value: str) -> str:
    # PostgreSQL text can't hold NUL, and hostile mail carries it in every field.
    return value.replace("\x00", "")


def _sender(message: InboundMessage, parsed: ParsedMail) -> tuple[str, str]:
    if parsed.from_address is not None and "@" in parsed.from_address.email:
        return parsed.from_address.normalized, parsed.from_address.name
    return message.mail_from.strip().strip("<>").lower(), ""


def _recipient(message: InboundMessage, parsed: ParsedMail) -> str:
    """The support address the mail was for: a registered one among To, Cc and the envelope."""
    candidates: list[str] = [a.normalized for a in (*parsed.to, *parsed.cc)] + [
        str(rcpt).strip().lower() for rcpt in message.rcpt_tos
    ]
    known = set(SupportAddress.objects.filter(email__in=candidates).values_list("email", flat=True))
    for candidate in candidates:
        if candidate in known:
            return candidate
    return candidates[0] if candidates else ""
