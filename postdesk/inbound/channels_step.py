"""The pipeline step for mail meant for the desk itself, not for a ticket (SPEC F3, F4).

``handle_channel_mail(message, parsed)`` looks at one spooled mail and returns a
``ChannelOutcome`` when it is:

- a forwarding test mail coming back (the verification token in the
  ``X-Postdesk-Verification`` header, the subject or the body): the address is marked
  verified (``verdict="verified"``), or, for a token that is known but can't be used any more
  (expired, used, superseded, for another address), nothing changes
  (``verdict="verification_ignored"``);
- a Gmail forwarding confirmation: stored for the address's setup page
  (``verdict="gmail_confirmation"``).

Such a mail never becomes a ticket: the pipeline finishes it as ``dropped`` with the outcome's
verdict and details in its diagnostics. ``None`` means: an ordinary mail, carry on. A token
that matches no attempt at all (forged, or minted by another desk) is logged and the mail is
handled as any other mail: whoever sent it could have sent that mail without a token too.

The step must run before the protection step, because the test mail is From our own system
address, which protection drops as a loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from postdesk.channels import confirmations, verification
from postdesk.mail import gmail
from postdesk.mail.parse import ParsedMail
from postdesk.mail.received_at import HEADER_SOURCES
from postdesk.mail.tokens import VERIFICATION_HEADER, find_verification_token
from postdesk.spool.models import InboundMessage

# The forwarding headers (Delivered-To, X-Original-To, ...): where a forwarder says it sent
# the mail, when the envelope is not known.
FORWARDING_HEADERS = HEADER_SOURCES[2:]


@dataclass
class ChannelOutcome:
    verdict: str
    details: dict[str, Any] = field(default_factory=dict)


def _forwarded_to(parsed: ParsedMail) -> list[str]:
    found: list[str] = []
    for name in FORWARDING_HEADERS:
        found.extend(value.strip().strip("<>") for value in parsed.headers.get_all(name))
    return found


def handle_channel_mail(message: InboundMessage, parsed: ParsedMail) -> ChannelOutcome | None:
    token = find_verification_token(
        header=parsed.headers.get(VERIFICATION_HEADER),
        subject=parsed.subject,
        body=parsed.text,
    )
    if token is not None:
        outcome = verification.confirm(
            token,
            addressed_to=[a.email for a in (*parsed.to, *parsed.cc)],
            rcpt_tos=[str(r) for r in message.rcpt_tos],
            forwarded_to=_forwarded_to(parsed),
            inbound_id=message.pk,
        )
        if outcome.details.get("reason") != "unknown_token":
            return ChannelOutcome(outcome.verdict, outcome.details)

    sender = parsed.from_address.email if parsed.from_address else None
    reached = [str(r).lower() for r in message.rcpt_tos] + [
        a.email.lower() for a in (*parsed.to, *parsed.cc)
    ]
    found = gmail.recognise(sender, parsed.subject, parsed.text, tuple(reached), html=parsed.html)
    if found is not None:
        stored = confirmations.record(
            found, reached=reached, subject=parsed.subject, inbound_id=message.pk
        )
        return ChannelOutcome(
            "gmail_confirmation",
            {"address": stored.address.email, "code": found.code, "confirmation": stored.pk},
        )
    return None
