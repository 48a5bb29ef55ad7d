"""Recognising Gmail forwarding confirmations (SPEC F4).

When a Gmail or Google Workspace user adds a forwarding address, Google mails that address a
confirmation from ``forwarding-noreply@google.com``. Its subject starts with the confirmation
code in ``(#…)`` and continues in the sender's language and, for Workspace domains, sometimes
with the organisation's brand instead of "Gmail"::

    (#123456789) Gmail Forwarding Confirmation - Receive Mail from ada@gmail.com
    (#123456789) Gmail 전달 확인 - ada@gmail.com의 메일 받기
    (#123456789) Acme Mail Forwarding Confirmation - Receive Mail from ada@acme.com

The body carries the same code and a confirmation link on a Google host
(``https://mail-settings.google.com/mail/vf-…``, older ``mail.google.com``/
``isolated.mail.google.com``). Postdesk shows both to the admin and never follows the link:
doing so would let anyone who can mail the desk make it accept forwarding on their behalf.

Recognition rests on the exact sender address plus the ``(#code)`` subject marker, not on the
wording, so new translations and brandings are recognised without a list of them. A link is
only reported when it is ``https`` on a Google host, so a forged confirmation can't put a
phishing link onto the admin's page. Pure functions, no Django.
"""

from __future__ import annotations

import html as html_entities
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["GMAIL_FORWARDING_SENDER", "GmailConfirmation", "recognise"]

GMAIL_FORWARDING_SENDER = "forwarding-noreply@google.com"

# The code is 9 digits today; a little slack either way costs nothing.
_SUBJECT_CODE_RE = re.compile(r"^\s*\(\s*#\s*(\d{6,12})\s*\)")
# "Confirmation code: 123456789" in English; other languages keep the digits, so the body
# check only needs the digits themselves.
_URL_RE = re.compile(r"https://[^\s<>\"')\]]+", re.IGNORECASE)
_LINK_PATH_RE = re.compile(r"^/mail/(?:u/\d+/)?vf-", re.IGNORECASE)
_EMAIL_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_MAX_URL = 2000


@dataclass(frozen=True, slots=True)
class GmailConfirmation:
    """What the admin needs from one confirmation mail."""

    code: str
    confirmation_url: str | None  # None when the body held no Google link
    requested_by: str | None  # the Gmail/Workspace address that asks to forward


def _is_google_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == "google.com" or host.endswith(".google.com")


def _confirmation_url(body: str) -> str | None:
    for match in _URL_RE.finditer(body):
        url = match.group(0).rstrip(".,;")
        if len(url) > _MAX_URL:
            continue
        parts = urlsplit(url)
        if (
            parts.scheme.lower() == "https"
            and _is_google_host(parts.hostname or "")
            and _LINK_PATH_RE.match(parts.path)
        ):
            return url
    return None


def _requested_by(subject: str, body: str, recipients: tuple[str, ...]) -> str | None:
    """The first address in the subject, else the body, that is neither Google's sender nor
    one of the recipients (the body names the forwarding target too)."""
    skip = {GMAIL_FORWARDING_SENDER, *(r.lower() for r in recipients)}
    for text in (subject, body):
        for match in _EMAIL_RE.finditer(text):
            # Korean and Japanese subjects glue particles to the address ("…@gmail.com의").
            address = match.group(0).rstrip(".").lower()
            if address not in skip:
                return address
    return None


def recognise(
    sender: str | None,
    subject: str,
    body: str,
    recipients: tuple[str, ...] = (),
    html: str = "",
) -> GmailConfirmation | None:
    """The confirmation in a mail, or ``None`` when the mail is not one.

    ``sender`` is the ``From`` address, ``body`` the plain text (or the HTML rendered as
    text), ``html`` the HTML body if any (its link targets are not in the text rendering),
    ``recipients`` the desk's addresses the mail was sent to.
    """
    if sender is None or sender.strip().lower() != GMAIL_FORWARDING_SENDER:
        return None
    match = _SUBJECT_CODE_RE.match(subject or "")
    if match is None:
        return None
    code = match.group(1)
    return GmailConfirmation(
        code=code,
        confirmation_url=(
            _confirmation_url(body or "") or _confirmation_url(html_entities.unescape(html or ""))
        ),
        requested_by=_requested_by(subject, body or "", recipients),
    )
