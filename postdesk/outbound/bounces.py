"""Bounces coming back to our VERP return paths, matched to the mail and the recipient.

Every outbound mail goes to each recipient with its own envelope sender
``bounces+<outbound id>-<tag><mac>@<desk domain>`` (``postdesk.mail.tokens.verp_address``),
so a delivery status notification (RFC 3464) or a plain notice that comes back to it names,
by the address it was delivered to, exactly which mail and which recipient failed, whatever
the notice text says. Where no VERP address is at hand (a server that bounced to the From
address instead), the failed addresses the notice reports are matched against the recipients
of the mail its ``Message-ID`` names.

A permanent failure marks the recipient ``bounced`` and its identity ``undeliverable``: no
more mail goes to it (SPEC F10), and the ticket shows it. A temporary one (a delay warning)
is recorded on the recipient and changes nothing else.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import logging
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from postdesk import keys
from postdesk.mail import tokens
from postdesk.mail.bounces import BounceReport, parse_bounce
from postdesk.outbound.models import OutboundMessage, OutboundRecipient, RecipientStatus
from postdesk.tickets.models import UserIdentity, normalize_email

logger = logging.getLogger(__name__)


def _as_message(raw_or_parsed: bytes | email.message.Message) -> email.message.Message:
    if isinstance(raw_or_parsed, email.message.Message):
        return raw_or_parsed
    return email.message_from_bytes(bytes(raw_or_parsed), policy=email.policy.compat32)


def _verp_targets(envelope_rcpts: Sequence[str]) -> list[OutboundRecipient]:
    """The recipients our VERP return paths among ``envelope_rcpts`` were minted for."""
    key = keys.token_key()
    found = []
    for address in envelope_rcpts:
        info = tokens.read_verp(key, address)
        if info is None:
            continue
        rows = OutboundRecipient.objects.filter(message_id=info.outbound_id)
        for row in rows:
            if tokens.verp_matches(key, info, row.address):
                found.append(row)
    return found


def _by_original_message_id(report: BounceReport) -> list[OutboundRecipient]:
    message_id = report.original_message_id.strip()
    if not message_id:
        return []
    wanted = f"<{message_id.strip('<>')}>"
    outbound = OutboundMessage.objects.filter(message_id=wanted).first()
    if outbound is None:
        return []
    failed = {normalize_email(a) for a in report.permanent_addresses + report.temporary_addresses}
    return [r for r in outbound.recipients.all() if normalize_email(r.address) in failed]


def _is_temporary(report: BounceReport, address: str) -> bool:
    entries = [e for e in report.failed if normalize_email(e.address) == normalize_email(address)]
    if entries:
        return all(e.temporary for e in entries)
    # The VERP path told us who; the notice may not name them. Delay warnings say so.
    return bool(report.failed) and all(e.temporary for e in report.failed)


def _diagnostic(report: BounceReport, address: str) -> str:
    for entry in report.failed:
        if normalize_email(entry.address) == normalize_email(address):
            return " ".join(f"{entry.status} {entry.diagnostic}".split())[:2000]
    return "bounced"


def _mark(row: OutboundRecipient, report: BounceReport) -> None:
    temporary = _is_temporary(report, row.address)
    reason = _diagnostic(report, row.address)
    if temporary:
        row.reply_text = f"delayed: {reason}"
        row.save(update_fields=["reply_text", "updated_at"])
        return
    row.status = RecipientStatus.BOUNCED
    row.reply_text = reason
    row.save(update_fields=["status", "reply_text", "updated_at"])
    UserIdentity.objects.filter(email=normalize_email(row.address)).update(
        undeliverable=True, undeliverable_reason=reason, undeliverable_at=timezone.now()
    )
    logger.info("outbound %s: hard bounce for recipient %s", row.message_id, row.pk)


def handle_bounce(
    raw_or_parsed: bytes | email.message.Message, envelope_rcpts: Sequence[str]
) -> bool:
    """Apply a bounce to the outbound mail it is about. True when it was matched to one.

    ``envelope_rcpts`` are the RCPT TO addresses the bounce was delivered to (our VERP return
    path). Call it for mail to ``bounces+…@<desk domain>`` and for mail the verdict found to be
    a bounce; a bounce that matches nothing of ours returns False and changes nothing.
    """
    message = _as_message(raw_or_parsed)
    key = keys.token_key()

    def decode(address: str) -> str | None:
        info = tokens.read_verp(key, address)
        if info is None:
            return None
        recipients = OutboundRecipient.objects.filter(message_id=info.outbound_id)
        return tokens.verp_recipient(key, info, [r.address for r in recipients])

    verp_path = next((a for a in envelope_rcpts if tokens.read_verp(key, a)), "")
    report = parse_bounce(message, verp_decoder=decode, return_path=verp_path)
    if report is None:
        # Mail to a VERP path that doesn't read as a bounce (an auto-reply sent to the return
        # path, say) is no evidence of failure.
        return False
    targets = _verp_targets(envelope_rcpts)
    if not targets:
        targets = _by_original_message_id(report)
    if not targets:
        return False
    with transaction.atomic():
        for row in targets:
            _mark(row, report)
    return True
