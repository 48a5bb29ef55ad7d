"""Outbound message building: an :class:`OutboundSpec` in, the exact bytes to send out.

Everything a notification or an agent's reply needs on the wire is decided here, once, so the
bytes that are stored in the outbox are the bytes that are DKIM-signed and sent:

- ``From`` with the display name "Agent name (Support address name)"; ``To``, ``Cc``,
  ``Reply-To`` (``Bcc`` only in the envelope); ``Subject`` with an optional ``[#id]`` marker.
- Threading (RFC 5322 3.6.4, SPEC F9): a signed ``Message-ID``, ``In-Reply-To`` and
  ``References`` that always starts with the ticket's constant reference.
- Loop and auto-reply control (RFC 3834, SPEC F10): ``Auto-Submitted`` on automatic mail,
  ``X-Auto-Response-Suppress: All`` (Exchange's switch for out-of-office and read receipts) and
  ``X-Postdesk-Loop: <instance id>`` on every mail.
- The body: the localised reply delimiter on top, the ticket token ``[XXXX-XXXXXX]`` at the
  bottom, text and optional HTML alternatives (RFC 2046 multipart/alternative) and attachments.

Every header value passes :mod:`postdesk.mail.headersafe` first. The top-level headers are
then rendered and folded here (quoted-strings for ASCII display names, RFC 2047 B-encoded
words split between characters for the rest, folds only where a space was) because the
``email`` package's folder mangles long Message-IDs and display names; the finished header
block is parsed back and compared with what was meant, and a mismatch is refused, not sent.
The body is written by :mod:`postdesk.mail.mimebody` with CRLF line ends and 7-bit transfer
encodings, so relays without 8BITMIME never have to re-encode a body and break its DKIM
signature. RFCs: 5322, 2045-2047, 2231, 3834, 6532 (with ``smtputf8``).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.parser import Parser
from email.utils import format_datetime
from typing import Final, Literal

from postdesk.mail import headersafe, mimebody, tokens

__all__ = [
    "LOOP_HEADER",
    "REPLY_DELIMITERS",
    "Attachment",
    "ComposedMessage",
    "Mailbox",
    "OutboundSpec",
    "compose",
    "compose_message",
    "reply_delimiter",
    "sender_display_name",
    "subject_with_marker",
]

LOOP_HEADER: Final = "X-Postdesk-Loop"

REPLY_DELIMITERS: Final[Mapping[str, str]] = {
    "en": "##- Please type your reply above this line -##",
    "ko": "##- 이 줄 위에 답장을 입력해 주세요 -##",
}

# Past this many entries References is trimmed to the first and the most recent ones, as
# RFC 5322 3.6.4 allows; long threads otherwise grow a header of many kilobytes.
MAX_REFERENCES: Final = 20

# Headers compose() writes itself; extra_headers may not replace or duplicate them.
_RESERVED_HEADERS: Final = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "auto-submitted",
        "x-auto-response-suppress",
        LOOP_HEADER.lower(),
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "return-path",
        "received",
        "dkim-signature",
    }
)


# Our own headers are rendered and folded here and written as they are: the email package's
# folder mangles exactly the values we write: it turns long Message-IDs into encoded words
# (breaking threading), drops the quotes of long display names (turning "(Acme Support)" into
# a comment) and can even emit an empty line inside the header block. The body is written by
# ``postdesk.mail.mimebody``.
#
# Reading the header block back (_check_round_trip) uses the email package's own parser.
# Its registry makes a new header class on every header lookup, which was most of what the
# check cost; this one makes each class once.
class _HeaderClasses(HeaderRegistry):
    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = super().__getitem__(name)
        return found


_READ_BACK_POLICY: Final = policy.default.clone(header_factory=_HeaderClasses())
# Header fields (name, raw text, intended value) that read back as intended; bounded.
_READ_BACK: dict[tuple[str, str, object], None] = {}
_READ_BACK_SIZE: Final = 4096
_FOLD_WIDTH: Final = 78
# UTF-8 octets per RFC 2047 encoded word: 39 octets are 52 base64 characters, 64 with the
# "=?utf-8?b?" and "?=" around them, so a word fits a line even after "Subject: ".
_ENCODED_WORD_OCTETS: Final = 39

# RFC 6838 4.2 restricted-name, for attachment content types that come from uploads.
_MIME_TYPE_RE: Final = re.compile(
    r"([a-z0-9][a-z0-9!#$&^_.+-]{0,126})/([a-z0-9][a-z0-9!#$&^_.+-]{0,126})", re.IGNORECASE
)

AutoSubmitted = Literal["auto-replied", "auto-generated"]
_AUTO_SUBMITTED_VALUES: Final = ("auto-replied", "auto-generated")
HeaderValue = str | list[Address]


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A recipient as stored: the address and an optional display name."""

    address: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes = field(repr=False)
    content_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundSpec:
    """Everything one outbound mail is made of. All text is taken as untrusted input.

    ``secret_key`` signs the Message-ID and the ticket token; ``desk_domain`` is the right side
    of the Message-ID; ``instance_id`` is what the loop header carries. ``auto_submitted`` is
    set for automatic mail (acknowledgements, notices) and left ``None`` for an agent's reply,
    which RFC 3834 counts as human-written. ``html`` is a fragment already rendered and escaped
    by its template; it is body content, not a header, and is inserted as given. Pass ``message_id`` to use one minted earlier (the
    outbox stores it before composing); otherwise a fresh signed one is made.
    ``bounce_domain`` makes :attr:`ComposedMessage.return_paths` carry one VERP return path per
    recipient.
    """

    secret_key: bytes = field(repr=False)
    desk_domain: str
    instance_id: str
    ticket_id: int
    outbound_id: int
    from_address: str
    to: Sequence[Mailbox]
    subject: str
    text: str
    agent_name: str = ""
    address_name: str = ""
    cc: Sequence[Mailbox] = ()
    bcc: Sequence[Mailbox] = ()
    reply_to: Sequence[Mailbox] = ()
    ticket_marker: bool = True
    html: str | None = None
    language: str = "en"
    include_reply_delimiter: bool = True
    include_ticket_token: bool = True
    auto_submitted: AutoSubmitted | None = None
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    attachments: Sequence[Attachment] = ()
    extra_headers: Sequence[tuple[str, str]] = ()
    date: datetime | None = None
    message_id: str | None = None
    bounce_domain: str | None = None
    smtputf8: bool = False


@dataclass(frozen=True, slots=True)
class ComposedMessage:
    """The bytes to store, sign and send, with what the outbox needs to know about them.

    ``recipients`` are the envelope recipients (To, Cc and Bcc, each once). ``return_paths``
    maps each recipient to its VERP envelope sender when a bounce domain was given: VERP means
    one SMTP transaction per recipient, all with the same bytes.
    """

    raw: bytes = field(repr=False)
    message_id: str
    recipients: tuple[str, ...]
    return_paths: Mapping[str, str]


def reply_delimiter(language: str) -> str:
    """The reply delimiter for a language tag such as ``ko`` or ``ko-KR`` (English otherwise)."""
    primary = language.split("-", 1)[0].split("_", 1)[0].lower()
    return REPLY_DELIMITERS.get(primary, REPLY_DELIMITERS["en"])


def sender_display_name(agent_name: str, address_name: str) -> str:
    """The From display name: ``Agent name (Support address name)``, or whichever is given.

    Parts that contain ``@`` are left out: an address-like display name in front of another
    address is the first thing spoofing filters score ("support@bank.com" <x@elsewhere>), and
    an agent whose name was never set often has their address in its place.
    """
    agent = headersafe.display_name(agent_name, field="agent name")
    address = headersafe.display_name(address_name, field="support address name")
    parts = [part for part in (agent, address) if part and "@" not in part]
    if len(parts) == 2:
        # Both halves are checked; joining them adds nothing but a space and parentheses.
        return f"{parts[0]} ({parts[1]})"
    return parts[0] if parts else ""


def subject_with_marker(subject: str, ticket_id: int) -> str:
    """The subject with ``[#id]`` appended unless a reply already carries it."""
    marker = f"[#{ticket_id}]"
    if marker in subject:
        return subject
    return f"{subject} {marker}" if subject else marker


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 B-encoded words for ``text``, split between characters, never inside one."""
    chunks: list[bytes] = []
    chunk = b""
    for char in text:
        octets = char.encode("utf-8")
        if chunk and len(chunk) + len(octets) > _ENCODED_WORD_OCTETS:
            chunks.append(chunk)
            chunk = b""
        chunk += octets
    if chunk:
        chunks.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=" for chunk in chunks]


def _text_atoms(text: str) -> list[str]:
    """Space-separated atoms of unstructured text; runs of non-ASCII words become encoded words.

    Joined with single spaces the atoms give back ``text``: the space between an encoded word
    and a plain word is displayed, the space between two encoded words is not (RFC 2047 6.2),
    so each run of non-ASCII words is encoded as one, spaces included.
    """
    atoms: list[str] = []
    run: list[str] = []
    parts = text.split(" ")
    for index, part in enumerate(parts):
        continues_run = (
            run and not part and any(not p.isascii() for p in parts[index + 1 : index + 2])
        )
        if not part.isascii() or continues_run:
            run.append(part)
            continue
        if run:
            atoms.extend(_encoded_words(" ".join(run)))
            run = []
        atoms.append(part)
    if run:
        atoms.extend(_encoded_words(" ".join(run)))
    return atoms


def _mailbox_atoms(address: Address) -> list[str]:
    if not address.display_name:
        return [address.addr_spec]
    name = address.display_name
    if name.isascii():
        # Always a quoted-string: it may hold specials such as the parentheses of
        # "Agent (Support)"; folding at its spaces is allowed FWS inside the quotes.
        quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        atoms = quoted.split(" ")
    else:
        atoms = _encoded_words(name)
    return [*atoms, f"<{address.addr_spec}>"]


def _address_atoms(addresses: Sequence[Address]) -> list[str]:
    atoms: list[str] = []
    for index, address in enumerate(addresses):
        mailbox_atoms = _mailbox_atoms(address)
        if index < len(addresses) - 1:
            mailbox_atoms[-1] += ","
        atoms.extend(mailbox_atoms)
    return atoms


def _folded(name: str, atoms: Sequence[str]) -> str:
    """The value of header ``name`` with atoms joined by spaces, folded before ~78 columns.

    A fold replaces a single space with CRLF + space, so unfolding (RFC 5322 2.2.3) restores
    the value exactly. Never before an empty atom (that would leave a whitespace-only line),
    and never on the first line: an atom too long for any line stays whole on its own line
    (every atom is far below the 998-octet limit).
    """
    lines: list[str] = []
    line = ""
    used = len(name) + 2  # "Name: "
    for index, atom in enumerate(atoms):
        if index == 0:
            line = atom
        elif atom and used + len(line) + 1 + len(atom) > _FOLD_WIDTH:
            lines.append(line)
            line, used = " " + atom, 0
        else:
            line += " " + atom
    lines.append(line)
    return "\r\n".join(lines)


def _squashed(text: str) -> str:
    return "".join(text.split())


def _comparable(value: HeaderValue) -> str | tuple[tuple[str, str], ...]:
    if isinstance(value, str):
        return value
    return tuple((_squashed(a.display_name), a.addr_spec) for a in value)


def _check_round_trip(header_block: str, expected: Sequence[tuple[str, HeaderValue]]) -> None:
    """Parse our own header block back and compare it with what was meant to be written.

    The last line of defence against any folding or encoding mistake: a mail whose headers
    don't read back as intended is refused instead of sent. Display names are compared without
    whitespace because parsers differ on the space between adjacent encoded words (RFC 2047
    6.2 says to drop it; the ``email`` package keeps one).

    The block is split into fields by the ``email`` parser, and the fields must be exactly
    the ones meant, in order. What a field reads back as depends on nothing but its name and
    raw text, so a field whose exact text already read back correctly (the same From, the
    loop header, a returning customer's To) is not parsed again.
    """
    parsed = Parser(policy=_READ_BACK_POLICY).parsestr(header_block + "\r\n", headersonly=True)
    fields = list(parsed.raw_items())
    if [name for name, _ in fields] != [name for name, _ in expected] or parsed.get_payload():
        raise headersafe.UnsafeHeader("headers", "do not read back as written")
    for (name, raw_value), (_, value) in zip(fields, expected, strict=True):
        wanted = _comparable(value)
        key = (name, raw_value, wanted)
        if key in _READ_BACK:
            continue
        header = _READ_BACK_POLICY.header_fetch_parse(name, raw_value)
        found = str(header) if isinstance(wanted, str) else _comparable(list(header.addresses))
        if found != wanted:
            raise headersafe.UnsafeHeader(name, "does not survive encoding unchanged")
        if len(_READ_BACK) >= _READ_BACK_SIZE:
            _READ_BACK.clear()
        _READ_BACK[key] = None


def _mailboxes(boxes: Iterable[Mailbox], field_label: str, allow_utf8: bool) -> list[Address]:
    return [
        headersafe.mailbox(box.address, box.name, field=field_label, allow_utf8=allow_utf8)
        for box in boxes
    ]


def _references(spec: OutboundSpec, own_reference: str) -> list[str]:
    parent = [spec.in_reply_to] if spec.in_reply_to else []
    chain = headersafe.clean_msg_ids([own_reference, *spec.references, *parent])
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1) :]
    return chain


def _auto_submitted(value: str) -> str:
    # The type says which two values are allowed; callers outside the type checker get told.
    if value not in _AUTO_SUBMITTED_VALUES:
        raise headersafe.UnsafeHeader("auto-submitted", f"must be one of {_AUTO_SUBMITTED_VALUES}")
    return value


def _extra_headers(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    checked: list[tuple[str, str]] = []
    for name, value in pairs:
        name = headersafe.field_name(name)
        if name.lower() in _RESERVED_HEADERS:
            raise headersafe.UnsafeHeader("header name", f"{name} is set by Postdesk itself")
        checked.append((name, headersafe.text(value, field=name)))
    return checked


def _text_body(spec: OutboundSpec, token: str | None) -> str:
    parts = []
    if spec.include_reply_delimiter:
        parts.append(reply_delimiter(spec.language))
    parts.append(spec.text.rstrip())
    if token:
        parts.append(f"[{token}]")
    return "\n\n".join(parts) + "\n"


def _html_body(spec: OutboundSpec, body_html: str, token: str | None) -> str:
    # The caller's HTML is a fragment rendered from a template; it goes between our two
    # markers so the delimiter really is the first text a reply quotes.
    top = (
        f'<div style="color:#b5b5b5">{html.escape(reply_delimiter(spec.language))}</div>\n'
        if spec.include_reply_delimiter
        else ""
    )
    bottom = (
        f'\n<div style="color:#aaaaaa;font-size:11px">[{html.escape(token)}]</div>' if token else ""
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        f"<body>\n{top}{body_html}{bottom}\n</body></html>\n"
    )


def _content_type(value: str) -> tuple[str, str]:
    match = _MIME_TYPE_RE.fullmatch(value.strip())
    if match is None:
        raise headersafe.UnsafeHeader("attachment", f"{value[:80]!r} is not a MIME type")
    return match.group(1).lower(), match.group(2).lower()


def _attachments(attachments: Sequence[Attachment], utf8: bool) -> list[mimebody.Entity]:
    parts = []
    for attachment in attachments:
        maintype, subtype = _content_type(attachment.content_type)
        filename = headersafe.filename(attachment.filename)
        parts.append(
            mimebody.attachment(attachment.content, maintype, subtype, filename, utf8=utf8)
        )
    return parts


def _envelope(spec: OutboundSpec, allow_utf8: bool) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for box in (*spec.to, *spec.cc, *spec.bcc):
        address = headersafe.addr_spec(box.address, field="recipient", allow_utf8=allow_utf8)
        seen.setdefault(address.lower(), address)
    return tuple(seen.values())


def compose_message(spec: OutboundSpec) -> ComposedMessage:
    """Build the message; raises :class:`headersafe.UnsafeHeader` for any unsafe input."""
    utf8 = spec.smtputf8
    if not spec.to:
        raise headersafe.UnsafeHeader("to", "needs at least one recipient")
    date = spec.date or datetime.now(UTC)
    if date.tzinfo is None:
        raise ValueError("the date must be timezone-aware")

    message_id = headersafe.msg_id(
        spec.message_id
        or tokens.make_message_id(
            spec.secret_key, spec.desk_domain, spec.ticket_id, spec.outbound_id
        )
    )
    own_reference = tokens.ticket_reference(spec.secret_key, spec.desk_domain, spec.ticket_id)
    subject = headersafe.subject(spec.subject)
    if spec.ticket_marker:
        subject = headersafe.subject(subject_with_marker(subject, spec.ticket_id))
    local, _, domain = headersafe.addr_spec(
        spec.from_address, field="from", allow_utf8=utf8
    ).rpartition("@")
    # Built directly: the name is two checked halves, and may be longer than one of them.
    sender = Address(
        display_name=sender_display_name(spec.agent_name, spec.address_name),
        username=local,
        domain=domain,
    )

    to = _mailboxes(spec.to, "to", utf8)
    cc = _mailboxes(spec.cc, "cc", utf8)
    reply_to = _mailboxes(spec.reply_to, "reply-to", utf8)
    in_reply_to = (
        headersafe.msg_id(spec.in_reply_to, field="in-reply-to") if spec.in_reply_to else None
    )
    references = _references(spec, own_reference)
    instance_id = headersafe.text(spec.instance_id, field="instance id", max_length=200)
    # (name, atoms to write, what a parser must read back)
    headers: list[tuple[str, list[str], HeaderValue]] = [
        ("From", _address_atoms([sender]), [sender]),
        ("To", _address_atoms(to), to),
        ("Cc", _address_atoms(cc), cc),
        ("Reply-To", _address_atoms(reply_to), reply_to),
        ("Subject", _text_atoms(subject), subject),
        ("Date", format_datetime(date).split(" "), format_datetime(date)),
        ("Message-ID", [message_id], message_id),
        ("In-Reply-To", [in_reply_to] if in_reply_to else [], in_reply_to or ""),
        ("References", references, " ".join(references)),
    ]
    if spec.auto_submitted:
        auto = _auto_submitted(spec.auto_submitted)
        headers.append(("Auto-Submitted", [auto], auto))
    headers.append(("X-Auto-Response-Suppress", ["All"], "All"))
    headers.append((LOOP_HEADER, _text_atoms(instance_id), instance_id))
    headers += [(n, _text_atoms(v), v) for n, v in _extra_headers(spec.extra_headers)]
    headers = [header for header in headers if header[1]]

    token = (
        tokens.make_ticket_token(spec.secret_key, spec.ticket_id)
        if spec.include_ticket_token
        else None
    )
    entity = mimebody.text(_text_body(spec, token), "plain")
    if spec.html is not None:
        html_part = mimebody.text(_html_body(spec, spec.html, token), "html")
        entity = mimebody.multipart("alternative", [entity, html_part])
    if spec.attachments:
        entity = mimebody.multipart("mixed", [entity, *_attachments(spec.attachments, utf8)])

    recipients = _envelope(spec, utf8)
    return_paths = (
        {
            rcpt: tokens.verp_address(spec.secret_key, spec.bounce_domain, spec.outbound_id, rcpt)
            for rcpt in recipients
        }
        if spec.bounce_domain
        else {}
    )
    header_block = "".join(f"{name}: {_folded(name, atoms)}\r\n" for name, atoms, _ in headers)
    try:
        # Without SMTPUTF8 every header is ASCII (encoded words, A-labels); a stray character
        # that is not must stop the mail, not reach a relay that can't take it.
        encoded_headers = header_block.encode("utf-8" if utf8 else "ascii")
    except UnicodeEncodeError as error:
        raise headersafe.UnsafeHeader("headers", "are not ASCII") from error
    _check_round_trip(header_block, [(name, expected) for name, _, expected in headers])
    raw = encoded_headers + b"MIME-Version: 1.0\r\n" + entity.as_bytes()
    return ComposedMessage(
        raw=raw,
        message_id=message_id,
        recipients=recipients,
        return_paths=return_paths,
    )


def compose(spec: OutboundSpec) -> bytes:
    """The exact bytes to send (CRLF line ends), ready for DKIM signing."""
    return compose_message(spec).raw
