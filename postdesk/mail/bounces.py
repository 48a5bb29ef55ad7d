"""Bounce (non-delivery report) recognition and parsing.

`is_bounce()` tells whether an inbound mail is a delivery failure or delay notice, so it is
handed to the bounce handler instead of becoming a ticket; `is_bounce_bytes()` asks the same
of raw bytes, parsing the MIME tree only when the answer can depend on it. `parse_bounce()` extracts which
recipients failed, whether each failure is temporary or permanent, the Message-ID of the mail
that bounced and, when the bounce came back to a VERP return path, the recipient that path
encodes (the VERP format itself lives with the outbound code and is passed in as a decoder).

Formats understood, most trustworthy first:

* RFC 3464 delivery status notifications (``multipart/report; report-type=delivery-status``
  with a ``message/delivery-status`` part; RFC 1894 before it) and the RFC 3463 enhanced status
  codes they carry; RFC 6533 ``message/global-delivery-status`` alike.
* Exim's ``X-Failed-Recipients`` header.
* The human-readable notices of MTAs that send no machine-readable part, or a broken one:
  Postfix, Exim, qmail and its derivatives (Yahoo, Sina, outblaze), Sendmail, Microsoft
  Exchange and GroupWise, Netscape Messaging Server, SMTP32/IMail, MDaemon, Lotus Domino,
  LSMTP, MailEnable, hMailServer, InterScan and others. They are read by one scanner that finds
  addresses announced as failed in the notice text and ignores the returned original.
"""

from __future__ import annotations

import email
import email.message
import html
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email import policy as email_policy
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parseaddr
from itertools import pairwise

__all__ = [
    "BounceReport",
    "FailedRecipient",
    "is_bounce",
    "is_bounce_bytes",
    "parse_bounce",
]

# A dot-atom addr-spec (RFC 5321 §4.1.2 Dot-string). Consecutive dots and leading or trailing
# dots are not addresses, so obfuscated addresses such as ``david...@gmail.com`` are not taken.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_ADDRESS_RE = re.compile(
    rf"(?<![A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.@-])"
    rf"({_ATEXT}+(?:\.{_ATEXT}+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{{2,}})"
    rf"(?![A-Za-z0-9-]|\.[A-Za-z0-9])"
)
# Exchange writes X.400-style recipients as ``c=US;...;dda:SMTP=user@example.com``.
_X400_PREFIX_RE = re.compile(r"^(?:SMTP|RFC-?822)=", re.IGNORECASE)
_STATUS_RE = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")

# Local parts of the robots that send bounces (and that are never the failed recipient).
SYSTEM_LOCAL_PARTS = frozenset(
    {
        "mailer-daemon",
        "mailer_daemon",
        "maildaemon",
        "mail-daemon",
        "mdaemon",
        "postmaster",
        "mail.delivery.system",
        "mail-delivery-system",
    }
)
_SYSTEM_DISPLAY_NAME_RE = re.compile(
    r"^\s*(mail delivery (system|subsystem|service)|mailer[- ]daemon|postmaster|"
    r"delivery subsystem|internet mail delivery)\b",
    re.IGNORECASE,
)

# Subjects that only delivery notices use. Searched, not anchored: gateways prefix their own
# words (``RE: … : non remis (delivery failed)``).
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver(able|ed)|non[- ]?deliver|not\s+(been\s+)?delivered|could\s+not\s+be\s+delivered|"
    r"delivery\s+(status\s+)?notification\s*\((failure|delay)|delivery\s+(has\s+)?failed|"
    r"delivery\s+failure|delivery\s+problem|failure\s+notice|failure\s+delivery|"
    r"failed\s+mail|returned\s+mail|mail\s+delivery\s+fail|returning\s+message\s+to\s+sender|"
    r"returned\s+to\s+sender|delivery\s+report|delayed\s+mail|message\s+delayed|"
    r"delivery\s+(status\s+)?warning|mail\s+system\s+error|mail\s+not\s+delivered|"
    r"delivery\s+status\s+notification|nondeliverable|rejected\s+mail|^mail\s+error\b",
    re.IGNORECASE,
)

# Phrases of a notice body that say a delivery went wrong (used with a bounce-like subject).
_FAILURE_PHRASE_RE = re.compile(
    r"could\s+not\s+be\s+delivered|undeliver|delivery\s+(has\s+)?failed|not\s+delivered|"
    r"unable\s+to\s+deliver|wasn'?t\s+able\s+to\s+deliver|did\s+not\s+reach|permanent\s+error|"
    r"mail\s+delivery\s+software|delivery\s+status\s+notification|not\s+yet\s+been\s+delivered|"
    r"could\s+not\s+deliver|delivery\s+to\s+the\s+following|failed\s+recipient|"
    r"can(not|'t)\s+be\s+delivered",
    re.IGNORECASE,
)

# Words that put a line of a notice in a failure context: addresses on or just after such a
# line are candidates for the failed recipient; others (directory look-ups, help addresses)
# are not.
_CONTEXT_RE = re.compile(
    r"deliver|fail|unable|could\s*not|couldn'?t|cannot|can'?t|not\s+reach|unknown|invalid|"
    r"reject|refused|error|no\s+such|quota|full|unavailable|recipient|address|bounce|"
    r"returned|problem|delay|postpone|not\s+yet|did\s+not|was\s+not|wasn'?t|mailbox|"
    r"non\s+remis|not\s+accepting|delivre|entregad|undisclosed",
    re.IGNORECASE,
)
_CONTEXT_LOOKBACK = 3

# Phrases that make the whole notice a delay warning rather than a final failure.
_TEMPORARY_RE = re.compile(
    r"not\s+yet\s+been\s+delivered|has\s+been\s+delayed|\bdelayed\b|postponed|"
    r"will\s+continue\s+to\s+(try|attempt)|attempts\s+will\s+continue|still\s+being\s+retried|"
    r"will\s+be\s+retried|warning\s+message\s+only|just\s+a\s+warning|this\s+is\s+a\s+warning",
    re.IGNORECASE,
)

# Lines where a notice stops talking and starts quoting the original message.
_CUTOFF_RES = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"^\W*(below\s+(this|the\s+next)\s+line|original\s+message\b|this\s+is\s+a\s+copy)",
        r"^\W*(a\s+)?copy\s+of\s+(the|your)\s+(original\s+)?message",
        r"^\W*(returned\s+mail|start\s+of\s+returned\s+message|unsent\s+message)",
        r"^\W*(message\s+(header|headers|text)\s+follows?|original\s+message\s+follows)",
        r"^\W*(the\s+)?header(s)?\s+of\s+the\s+(source|original)\s+(mail|message)",
        r"^\W*(included\s+is\s+a\s+copy|here\s+is\s+a\s+copy|your\s+message\s+reads)",
        r"^\W*(the\s+first\s+\d+\s+lines|a\s+summary\s+of\s+the\s+undelivered)",
        r"^\W*(attachment\s+is\s+a\s+copy|the\s+header\s+and\s+top)",
        r"^\W*original\s+message\s+(as\s+received|details|headers|attached|adjunto)",
        r"^\W*mensaje\s+original",
        r"^(Received|Return-Path):\s",
        r"^Message removed\s*$",
    )
)

_HEADER_LINE_RE = re.compile(
    r"^\W*(to|cc|from|sent|subject|date|reply-to|received on)\s*:", re.IGNORECASE
)
# An address the notice names as the sender of the original (``MAIL FROM:<…>``, ``from x via
# y``, ``not accepting mail from x``). ``generated from`` / ``expanded from`` name an alias of
# the failed recipient and are kept.
_SENDER_MENTION_RE = re.compile(
    r"(?<!generated\s)(?<!expanded\s)\bfrom\s*:?\s*<?\s*$", re.IGNORECASE
)
_HELP_LINE_RE = re.compile(
    r"\b(contact|reply\s+to|questions|for\s+more\s+information)\b", re.IGNORECASE
)
_BARE_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._+-]{0,63})\s*$")

_DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
# A part of a _DSN_TYPES type has that type written out in its Content-Type line: compat32
# neither unfolds nor decodes that value, so it must appear verbatim (in any case) in the raw
# bytes.
_DSN_TYPE_BYTES = tuple(dsn_type.encode() for dsn_type in sorted(_DSN_TYPES))
_RETURNED_TYPES = frozenset(
    {"message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"}
)
_SKIPPED_IN_NOTICE = _DSN_TYPES | _RETURNED_TYPES | {"message/disposition-notification"}
_RETURN_PATH_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "To")
# The bounce's own addresses: its sender and our return path. (Delivered-To/X-Original-To are
# left out: some gateways copy the failed recipient into them.)
_SELF_HEADERS = ("From", "To", "Cc", "Sender", "Reply-To", "Return-Path", "Errors-To")


@dataclass(frozen=True)
class FailedRecipient:
    """One recipient a bounce reports: the address as written, and how it failed."""

    address: str
    temporary: bool
    # The RFC 3463 enhanced status code ("5.1.1") when the bounce gives one.
    status: str = ""
    diagnostic: str = ""


@dataclass(frozen=True)
class BounceReport:
    """What a bounce says: who failed, which mail bounced, and where it came back to."""

    failed: list[FailedRecipient] = field(default_factory=list)
    original_message_id: str = ""
    # The recipient encoded in the VERP return path the bounce was sent to, when decodable.
    verp_recipient: str | None = None
    # Which reading produced `failed`: "dsn", "x-failed-recipients", "notice" or "" (none).
    source: str = ""

    @property
    def permanent_addresses(self) -> list[str]:
        return [entry.address for entry in self.failed if not entry.temporary]

    @property
    def temporary_addresses(self) -> list[str]:
        return [entry.address for entry in self.failed if entry.temporary]


def is_bounce(message: email.message.Message, mail_from: str = "") -> bool:
    """Whether ``message`` is a delivery failure or delay notice.

    ``mail_from`` is the envelope sender ("" or "<>" for the null sender of RFC 5321 §4.5.5).
    A mail with a bounce-like subject alone is not enough: it must also come from a mail
    system, or its notice text must speak of a failed delivery, and it must not be a reply in
    a thread (people write "Re: delivery failed" too).
    """
    if _has_delivery_status(message) or message.get("X-Failed-Recipients"):
        return True
    if _is_system_sender(message, mail_from) and (
        _local_part(_from_address(message)) in SYSTEM_LOCAL_PARTS or _bounce_subject(message)
    ):
        return True
    if not _bounce_subject(message) or message.get("In-Reply-To"):
        return False
    notice = "\n".join(_notice_texts(message))
    return bool(_FAILURE_PHRASE_RE.search(notice)) or bool(_scan_notice(message).entries)


def is_bounce_bytes(raw: bytes, mail_from: str = "") -> bool:
    """``is_bounce`` of the mail ``raw``, parsing its body only when the answer can depend on
    it. May raise ``RecursionError`` for MIME nested deeper than the stdlib walks.

    Most of ``is_bounce`` reads headers. The body speaks in two cases only: a delivery-status
    part inside a multipart (or message/*) mail, whose type then stands verbatim in the raw
    bytes (compat32 neither unfolds nor decodes it), and the notice text of a mail with a
    bounce subject outside a thread. Any other mail, nearly every one, is answered from its
    header section alone, without reading the body line by line.
    """
    head = BytesHeaderParser(policy=email_policy.compat32).parsebytes(_header_section(raw))
    if is_bounce(head, mail_from):
        return True
    notice_decides = _bounce_subject(head) and not head.get("In-Reply-To")
    may_hold_dsn = head.get_content_maintype() in ("multipart", "message") and _names_dsn(raw)
    if not notice_decides and not may_hold_dsn:
        return False
    return is_bounce(email.message_from_bytes(raw, policy=email_policy.compat32), mail_from)


def _names_dsn(raw: bytes) -> bool:
    lowered = raw.lower()  # one pass in C; a case-blind regex over the body is far slower
    return any(dsn_type in lowered for dsn_type in _DSN_TYPE_BYTES)


# Two line breaks in a row, as the stdlib's feed parser splits lines (``\r\n``, ``\r`` or
# ``\n``): every blank line holds one of these, and "\r\n" alone is a single break.
_BLANK_LINE_RE = re.compile(rb"\n\n|\n\r|\r\r")


def _header_section(raw: bytes) -> bytes:
    """``raw`` up to the blank line that ends its header section (all of it without one)."""
    if raw[:1] in (b"\r", b"\n"):
        return raw  # no header section at all: the parser decides what that means
    blank = _BLANK_LINE_RE.search(raw)
    return raw[: blank.end()] if blank else raw


def parse_bounce(
    message: email.message.Message,
    *,
    verp_decoder: Callable[[str], str | None] | None = None,
    return_path: str = "",
) -> BounceReport | None:
    """Read a bounce; ``None`` when ``message`` is not one.

    ``return_path`` is the envelope recipient the bounce was delivered to (our VERP return
    path); without it the address is taken from ``X-Original-To``/``Delivered-To``/``To``.
    ``verp_decoder`` turns such an address into the original recipient, or ``None``.
    """
    if not is_bounce(message, _null_sender_hint(message)):
        return None
    failed, source = _failed_recipients(message)
    return BounceReport(
        failed=failed,
        original_message_id=_original_message_id(message),
        verp_recipient=_verp_recipient(message, return_path, verp_decoder),
        source=source,
    )


# --- recognition -------------------------------------------------------------------------


def _has_delivery_status(message: email.message.Message) -> bool:
    if (
        message.get_content_type() == "multipart/report"
        and message.get_param("report-type", "", header="content-type") == "delivery-status"
    ):
        return True
    return any(part.get_content_type() in _DSN_TYPES for part in message.walk())


def _from_address(message: email.message.Message) -> str:
    return parseaddr(str(message.get("From", "")))[1]


def _local_part(address: str) -> str:
    return address.rpartition("@")[0].strip('"').lower() if "@" in address else address.lower()


def _is_system_sender(message: email.message.Message, mail_from: str) -> bool:
    # The null sender (RFC 5321 §4.5.5) is used by bounces and by RFC 3834 auto-replies alike,
    # so the caller only trusts it together with a bounce subject or a daemon's address.
    null_sender = mail_from.strip() in ("", "<>") or message.get("Return-Path", "").strip() == "<>"
    name, address = parseaddr(str(message.get("From", "")))
    # ``From: "Mail System" <>``: only a mail system writes a null From.
    null_from = "<>" in str(message.get("From", "")) and not address
    return (
        null_sender
        or null_from
        or _local_part(address) in SYSTEM_LOCAL_PARTS
        or _local_part(mail_from.strip("<>")) in SYSTEM_LOCAL_PARTS
        or bool(_SYSTEM_DISPLAY_NAME_RE.match(name))
    )


def _bounce_subject(message: email.message.Message) -> bool:
    return bool(_BOUNCE_SUBJECT_RE.search(_header_text(message, "Subject")))


def _null_sender_hint(message: email.message.Message) -> str:
    return "<>" if message.get("Return-Path", "").strip() == "<>" else ""


def _header_text(message: email.message.Message, name: str) -> str:
    value = message.get(name)
    if value is None:
        return ""
    text = str(value)
    if "=?" in text:
        text = _decode_encoded_words(text)
    return " ".join(text.split())


def _decode_encoded_words(text: str) -> str:
    try:
        return str(make_header(decode_header(text)))
    except (LookupError, ValueError, UnicodeDecodeError):
        return text


# --- failed recipients ---------------------------------------------------------------------


def _failed_recipients(message: email.message.Message) -> tuple[list[FailedRecipient], str]:
    dsn = _dsn_recipients(message)
    if dsn:
        return dsn, "dsn"
    notice = _scan_notice(message)
    exim = _x_failed_recipients(message, notice.entries)
    if exim:
        return exim, "x-failed-recipients"
    if notice.entries:
        return notice.entries, "notice"
    return [], ""


def _dsn_recipients(message: email.message.Message) -> list[FailedRecipient]:
    found: list[FailedRecipient] = []
    for part in message.walk():
        if part.get_content_type() in _DSN_TYPES:
            for fields in _dsn_field_groups(part):
                entry = _dsn_entry(fields)
                if entry is not None:
                    found.append(entry)
    return _unique(found)


def _dsn_field_groups(part: email.message.Message) -> Iterator[dict[str, str]]:
    """The field groups of a delivery-status body (RFC 3464 §2.1), as lowercase-keyed dicts."""
    payload = part.get_payload()
    if isinstance(payload, list):
        # The stdlib parser already split the groups into header-only messages.
        for block in payload:
            if isinstance(block, email.message.Message):
                yield {key.lower(): " ".join(str(value).split()) for key, value in block.items()}
        return
    raw = part.get_payload(decode=True)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
    yield from _parse_field_groups(text)


def _parse_field_groups(text: str) -> Iterator[dict[str, str]]:
    group: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if group:
                yield group
            group, last = {}, ""
        elif line[0] in " \t" and last:
            group[last] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            last = name.strip().lower()
            group[last] = value.strip()
    if group:
        yield group


def _dsn_entry(fields: dict[str, str]) -> FailedRecipient | None:
    # Original-Recipient is the address as we wrote it (RFC 3464 §2.3.1); Final-Recipient may
    # be an internal alias of it. The help desk knows the former.
    address = _dsn_address(fields.get("original-recipient", "")) or _dsn_address(
        fields.get("final-recipient", "")
    )
    if not address:
        return None
    action = fields.get("action", "").lower().split(" ")[0]
    status_match = _STATUS_RE.search(fields.get("status", ""))
    status = status_match.group(1) if status_match else ""
    if action in ("delivered", "relayed", "expanded"):
        return None
    if action == "delayed":
        temporary = True
    elif action in ("failed", "error", "failure"):
        temporary = False
    elif status:
        # No usable Action: the status class decides (RFC 3463 §3.1: 4 transient, 5 permanent).
        if status.startswith("2"):
            return None
        temporary = status.startswith("4")
    else:
        return None
    return FailedRecipient(
        address=address,
        temporary=temporary,
        status=status,
        diagnostic=_diagnostic_text(fields.get("diagnostic-code", "")),
    )


def _dsn_address(value: str) -> str:
    """The address of an RFC 3464 ``address-type; address`` field, if it is an email address."""
    _, _, address = value.rpartition(";")
    match = _ADDRESS_RE.search(address.strip().strip("<>"))
    return _clean_address(match.group(1)) if match else ""


def _diagnostic_text(value: str) -> str:
    _, separator, text = value.partition(";")
    return (text if separator else value).strip()[:500]


def _x_failed_recipients(
    message: email.message.Message, notice: list[FailedRecipient]
) -> list[FailedRecipient]:
    """Exim's header names the failures; its notice text says why."""
    explained = {entry.address.lower(): entry for entry in notice}
    values = [str(value) for value in message.get_all("X-Failed-Recipients", [])]
    found = []
    for _, address in getaddresses(values):
        if _ADDRESS_RE.fullmatch(address):
            known = explained.get(address.lower())
            found.append(
                FailedRecipient(
                    address=address,
                    temporary=False,
                    status=known.status if known else "",
                    diagnostic=known.diagnostic if known else "",
                )
            )
    return _unique(found)


def _unique(entries: Iterable[FailedRecipient]) -> list[FailedRecipient]:
    seen: set[str] = set()
    result: list[FailedRecipient] = []
    for entry in entries:
        key = entry.address.lower()
        if key not in seen:
            seen.add(key)
            result.append(entry)
    return result


# --- the human-readable notice -------------------------------------------------------------


@dataclass(frozen=True)
class _NoticeScan:
    entries: list[FailedRecipient]


def _notice_texts(message: email.message.Message) -> list[str]:
    """Text of the parts a mail system wrote, each cut where the returned original begins."""
    texts: list[str] = []
    _collect_notice_texts(message, texts)
    return [_cut_at_original(text) for text in texts]


def _collect_notice_texts(part: email.message.Message, texts: list[str]) -> None:
    ctype = part.get_content_type()
    if ctype in _SKIPPED_IN_NOTICE:
        return
    if part.is_multipart():
        for sub in part.get_payload():
            if isinstance(sub, email.message.Message):
                _collect_notice_texts(sub, texts)
        return
    if part.get_content_maintype() != "text":
        return
    text = _decode_part(part)
    texts.append(_html_to_text(text) if ctype == "text/html" else text)


def _decode_part(part: email.message.Message) -> str:
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return str(part.get_payload())
    charset = part.get_content_charset() or "us-ascii"
    try:
        return raw.decode(charset, "replace")
    except LookupError:
        # An unknown charset label: latin-1 keeps every byte, and addresses are ASCII anyway.
        return raw.decode("latin-1")


def _html_to_text(text: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>|</tr\s*>", "\n", text)
    text = re.sub(r"(?s)<[^>]*>", "", text)
    return html.unescape(text)


def _cut_at_original(text: str) -> str:
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if index and any(pattern.search(line) for pattern in _CUTOFF_RES):
            return "\n".join(lines[:index])
    return text


def _scan_notice(message: email.message.Message) -> _NoticeScan:
    excluded = _excluded_addresses(message)
    primary: list[FailedRecipient] = []
    secondary: list[FailedRecipient] = []
    subject = _header_text(message, "Subject")
    texts = _notice_texts(message)
    temporary = bool(_TEMPORARY_RE.search(subject)) or any(_TEMPORARY_RE.search(t) for t in texts)
    for text in texts:
        lines = text.splitlines()
        for index, line in enumerate(lines):
            for address in _line_addresses(line):
                if address.lower() in excluded or _local_part(address) in SYSTEM_LOCAL_PARTS:
                    continue
                entry = FailedRecipient(
                    address=address,
                    temporary=temporary,
                    status=_nearby_status(lines, index),
                    diagnostic=" ".join(line.split())[:500],
                )
                if _HEADER_LINE_RE.match(line):
                    secondary.append(entry)
                elif _address_only_line(line) or _in_failure_context(lines, index):
                    primary.append(entry)
    chosen = primary or secondary
    if not chosen:
        chosen = _bare_name_entries(message, texts, temporary)
    return _NoticeScan(entries=_unique(chosen))


def _line_addresses(line: str) -> Iterator[str]:
    if _HELP_LINE_RE.search(line):
        return
    for match in _ADDRESS_RE.finditer(line):
        if _SENDER_MENTION_RE.search(line[: match.start()]):
            continue
        yield _clean_address(match.group(1))


def _clean_address(address: str) -> str:
    # Notices quote addresses ('user@example.com'); a quote is legal atext but never meant.
    return _X400_PREFIX_RE.sub("", address).lstrip("'`")


def _address_only_line(line: str) -> bool:
    """A line that is nothing but an address, as in qmail's ``<user@example.com>:`` lists."""
    return not re.sub(r"[\s<>:;,.*>\[\]()'\"-]", "", _without_addresses(line))


def _in_failure_context(lines: list[str], index: int) -> bool:
    start = index
    seen = 0
    while start > 0 and seen < _CONTEXT_LOOKBACK:
        start -= 1
        if lines[start].strip():
            seen += 1
    return any(_CONTEXT_RE.search(_without_addresses(line)) for line in lines[start : index + 1])


def _without_addresses(line: str) -> str:
    return _ADDRESS_RE.sub(" ", line)


def _nearby_status(lines: list[str], index: int) -> str:
    for line in lines[index : index + 4]:
        match = _STATUS_RE.search(line)
        if match:
            return match.group(1)
    return ""


def _bare_name_entries(
    message: email.message.Message, texts: list[str], temporary: bool
) -> list[FailedRecipient]:
    """Recipients a notice names without a domain (AOL writes screen names), qualified with
    the domain of the mail system that sent the notice."""
    domain = _from_address(message).rpartition("@")[2].lower()
    if not domain:
        return []
    found: list[FailedRecipient] = []
    for text in texts:
        lines = [line for line in text.splitlines() if line.strip()]
        for previous, line in pairwise(lines):
            match = _BARE_NAME_RE.match(line)
            if match and previous.rstrip().endswith(":") and _FAILURE_PHRASE_RE.search(previous):
                found.append(
                    FailedRecipient(
                        address=f"{match.group(1)}@{domain}",
                        temporary=temporary,
                        diagnostic=" ".join(previous.split())[:500],
                    )
                )
    return found


def _excluded_addresses(message: email.message.Message) -> set[str]:
    """Addresses a notice mentions that are not failed recipients: the bounce's own sender and
    recipients (our return path). The sender of the returned original is not excluded as a
    whole: a mail can bounce back to its own author's address, and notices that mention the
    sender say so with ``from``, which `_line_addresses` skips."""
    excluded: set[str] = set()
    for name in _SELF_HEADERS:
        excluded.update(_header_addresses(message, name))
    return excluded


def _header_addresses(message: email.message.Message, name: str) -> set[str]:
    values = [str(value) for value in message.get_all(name, [])]
    return {address.lower() for _, address in getaddresses(values) if "@" in address}


def _returned_headers(message: email.message.Message) -> Iterator[email.message.Message]:
    """Header blocks of the returned original: attached parts, or inline after the notice."""
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if (
                isinstance(payload, list)
                and payload
                and isinstance(payload[0], email.message.Message)
            ):
                yield payload[0]
        elif ctype in ("text/rfc822-headers", "message/global-headers"):
            yield email.message_from_string(_decode_part(part))
    for text in _full_texts(message):
        inline = _inline_original(text)
        if inline is not None:
            yield inline


def _full_texts(message: email.message.Message) -> list[str]:
    texts: list[str] = []
    _collect_notice_texts(message, texts)
    return texts


def _inline_original(text: str) -> email.message.Message | None:
    match = re.search(r"(?im)^(Return-Path|Received|From|Message-ID):\s", text)
    if match is None or match.start() == 0:
        return None
    return email.message_from_string(text[match.start() :])


# --- original Message-ID and VERP ------------------------------------------------------------


def _original_message_id(message: email.message.Message) -> str:
    for original in _returned_headers(message):
        value = original.get("Message-ID")
        if value:
            return " ".join(str(value).split())
    return ""


def _verp_recipient(
    message: email.message.Message,
    return_path: str,
    verp_decoder: Callable[[str], str | None] | None,
) -> str | None:
    if verp_decoder is None:
        return None
    candidates = [return_path] if return_path else []
    for name in _RETURN_PATH_HEADERS:
        candidates.extend(address for _, address in getaddresses(message.get_all(name, [])))
    for candidate in candidates:
        candidate = candidate.strip().strip("<>")
        if candidate:
            decoded = verp_decoder(candidate)
            if decoded:
                return decoded
    return None
