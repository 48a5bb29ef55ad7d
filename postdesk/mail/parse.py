"""Raw RFC 5322 bytes in, a typed ``ParsedMail`` out: the one entry point is ``parse``.

The message is parsed from bytes with the stdlib ``email`` feed parser under the ``compat32``
policy, which never raises on malformed input and keeps 8-bit header bytes recoverable
(as surrogate escapes); every value is then read through our own tolerant getters
(``Headers``, ``charsets``, ``addresses``). Implemented: RFC 5322 (header fields, dates,
message ids), RFC 2045/2046 (MIME structure, transfer encodings, multipart/alternative,
related, mixed, report), RFC 2047 and RFC 2231 (encoded words and parameters, filenames),
RFC 2183 (Content-Disposition), RFC 2392 (``cid:`` references), RFC 6532 (UTF-8 headers).

The body is offered twice: ``text`` (the text/plain part, else text rendered from the HTML)
and ``html`` (the HTML part run through ``html.sanitize``; text parts of the same body are
escaped into it). ``cid:`` image sources are left as ``cid:`` for the caller to map onto the
stored inline parts (``Part.content_id``), e.g. with ``html.rewrite_cid_urls``.

The sender's original HTML is kept as an inert attachment: ``Part(filename="original.html",
content_type="text/plain; charset=utf-8", original_html=True)`` holding the decoded HTML as
UTF-8. Declared as text/plain, it shows as source code wherever it is opened from the UI, and
never renders as a page in our origin.

Everything wrong with the input (missing boundary, bad base64, unknown charsets, NUL bytes,
nesting or part-count limits, oversize attachments) is reported in ``ParsedMail.defects``.
``ParseError`` is raised only for input that can't be a mail at all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import Compat32
from email.utils import collapse_rfc2231_value, parsedate_to_datetime
from io import BytesIO

from postdesk.mail import html as html_module
from postdesk.mail.addresses import (
    Address,
    extract_message_ids,
    parse_address_list,
    parse_first_address,
)
from postdesk.mail.charsets import (
    declared_header_charset,
    decode_8bit_header,
    decode_bytes,
    decode_header_value,
)
from postdesk.mail.headers import Headers, clean_decoded, unfold
from postdesk.mail.rawparts import RawTree

__all__ = ["Address", "ParseError", "ParsedMail", "Part", "parse"]

ORIGINAL_HTML_FILENAME = "original.html"
ORIGINAL_HTML_CONTENT_TYPE = "text/plain; charset=utf-8"
GENERATED_ID_DOMAIN = "postdesk.invalid"
_BODY_TYPES = frozenset({"text/plain", "text/html"})
_MAX_FILENAME_LENGTH = 255


class _RawHeaderPolicy(Compat32):
    """compat32, except that header values come back exactly as parsed.

    compat32 would turn raw 8-bit header bytes into U+FFFD on the way out; kept as surrogate
    escapes instead, they reach ``charsets`` intact and are decoded there.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_POLICY = _RawHeaderPolicy()


class ParseError(Exception):
    """The input can't be a mail message at all (not bytes, empty, no header section).

    ``internal`` is True when the parser itself failed on the input (a bug to report, not a
    fault of the sender); the caller treats both alike: the mail is kept as malformed.
    """

    def __init__(self, message: str, *, internal: bool = False) -> None:
        super().__init__(message)
        self.internal = internal


@dataclass(frozen=True)
class Part:
    """One attachment or inline part, decoded from its transfer encoding."""

    filename: str
    content_type: str
    data: bytes
    content_id: str = ""
    inline: bool = False
    original_html: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class ParsedMail:
    """What the rest of Postdesk needs to know about one mail; see the module docstring."""

    message_id: str
    message_id_generated: bool
    subject: str
    from_address: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    headers: Headers
    content_type: str
    text: str
    html: str
    attachments: tuple[Part, ...]
    defects: tuple[str, ...]

    @property
    def original_html(self) -> tuple[Part, ...]:
        """The inert copies of the sender's HTML (normally one)."""
        return tuple(part for part in self.attachments if part.original_html)

    @property
    def files(self) -> tuple[Part, ...]:
        """The attachments and inline parts the sender sent, without our HTML copies."""
        return tuple(part for part in self.attachments if not part.original_html)


@dataclass(frozen=True)
class _Piece:
    """One body part's text and which rendering(s) of the body it belongs to."""

    kind: str  # "plain" or "html"
    content: str
    for_text: bool = True
    for_html: bool = True


@dataclass
class _Body:
    """The body pieces found below one MIME node, in reading order."""

    pieces: list[_Piece] = field(default_factory=list)

    @property
    def has_html(self) -> bool:
        return any(piece.kind == "html" and piece.for_html for piece in self.pieces)

    @property
    def has_plain(self) -> bool:
        return any(piece.kind == "plain" and piece.for_text for piece in self.pieces)


@dataclass
class _Walk:
    """State carried through one walk of the MIME tree."""

    max_parts: int
    max_depth: int
    max_attachment_size: int
    parts_seen: int = 0
    # Set when the MIME tree could not be built: the whole body is then read as text.
    body_as_text: bool = False
    # The charset the mail's own headers use: how undeclared body text is read first.
    charset_hint: str | None = None
    # The bytes the tree was parsed from beside the tree, to find attached messages as sent.
    raw_tree: RawTree | None = None
    attachments: list[Part] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)

    def defect(self, message: str) -> None:
        if message not in self.defects:
            self.defects.append(message)


# --- entry point --------------------------------------------------------------------------


def parse(
    raw: bytes,
    *,
    max_parts: int = 500,
    max_depth: int = 20,
    max_attachment_size: int = 50 * 1024 * 1024,
) -> ParsedMail:
    """Parse one raw message. Returns a ``ParsedMail``; raises only ``ParseError``."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise ParseError(f"a mail is bytes, not {type(raw).__name__}")
    try:
        return _parse(bytes(raw), max_parts, max_depth, max_attachment_size)
    except ParseError:
        raise
    except Exception as error:  # the contract: one typed error, never a crash of the caller
        raise ParseError(
            f"parser failure: {type(error).__name__}: {error}", internal=True
        ) from error


def _parse(raw: bytes, max_parts: int, max_depth: int, max_attachment_size: int) -> ParsedMail:
    if not raw.strip():
        raise ParseError("empty input")
    walk = _Walk(max_parts=max_parts, max_depth=max_depth, max_attachment_size=max_attachment_size)
    repaired = _repair_header_section(raw, walk)
    message = _parse_structure(repaired, walk)
    if not message.keys():
        raise ParseError("no header section: this is not a mail message")
    headers = Headers(message.raw_items())
    walk.charset_hint = declared_header_charset([value for _, value in message.raw_items()])
    walk.raw_tree = RawTree(repaired, message)
    body = _walk_node(message, walk, path=())
    text, html = _render_body(body, walk)
    # The generated Message-ID hashes the bytes as received, before any repair.
    return _assemble(raw, message, headers, text, html, walk)


_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_CONTINUATION = re.compile(rb"[ \t]")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
# Header sections longer than this are left to the parser as they are.
_HEADER_REPAIR_LIMIT = 256 * 1024


def read_headers(raw: bytes) -> Headers:
    """Only the header section of ``raw``, for listings that show a mail's Subject and From
    without parsing its body. Never raises: what can't be read is left out."""
    separator = _BLANK_LINE.search(raw)
    section = raw[: separator.end()] if separator else raw
    try:
        message = BytesHeaderParser(policy=_POLICY).parsebytes(section)
    except Exception:  # the stdlib parser is lenient; this is the last resort
        return Headers(())
    return Headers(message.raw_items())


def _repair_header_section(raw: bytes, walk: _Walk) -> bytes:
    """Fix two header-section faults of mail copied by hand or by broken gateways.

    Lines before the first header ("---- Original email message ----") are dropped, and
    unindented continuation lines *followed by more header fields* are indented, so the
    parser doesn't end the header section early and read the rest as body. A leading mbox
    "From " line is the parser's business and stays.
    """
    separator = _BLANK_LINE.search(raw, 0, _HEADER_REPAIR_LIMIT)
    end = separator.start() if separator else min(len(raw), _HEADER_REPAIR_LIMIT)
    lines = raw[:end].split(b"\n")
    start = 0
    while start < min(len(lines), 20) and not _is_header_start(lines[start]):
        start += 1
    if start == min(len(lines), 20):
        return raw
    if start:
        walk.defect(f"{start} line(s) before the header section skipped")
    repaired = lines[start:]
    last_header = max((i for i, line in enumerate(repaired) if _HEADER_LINE.match(line)), default=0)
    fixed = 0
    for index in range(1, last_header):
        line = repaired[index]
        if line.strip() and not _HEADER_LINE.match(line) and not _CONTINUATION.match(line):
            repaired[index] = b" " + line
            fixed += 1
    if fixed:
        walk.defect(f"{fixed} unindented continuation line(s) in the header section repaired")
    if not start and not fixed:
        return raw
    return b"\n".join(repaired) + raw[end:]


def _is_header_start(line: bytes) -> bool:
    return bool(_HEADER_LINE.match(line)) or line.startswith(b"From ")


def _parse_structure(raw: bytes, walk: _Walk) -> Message:
    """The MIME tree, or just the header section when the tree itself can't be built."""
    try:
        return BytesParser(policy=_POLICY).parsebytes(raw)
    except RecursionError:
        walk.defect("MIME structure nested too deeply to parse; body kept as text")
    except Exception as error:  # the stdlib parser is lenient; this is the last resort
        walk.defect(
            f"MIME structure could not be parsed ({type(error).__name__}); body kept as text"
        )
    return _headers_only(raw, walk)


def _headers_only(raw: bytes, walk: _Walk) -> Message:
    """The header section, with everything after it kept as one undivided body."""
    message = BytesHeaderParser(policy=_POLICY).parsebytes(raw)
    separator = _BLANK_LINE.search(raw)
    body = raw[separator.end() :] if separator else b""
    message.set_payload(body.decode("ascii", errors="surrogateescape"))
    walk.body_as_text = True
    return message


def _assemble(
    raw: bytes, message: Message, headers: Headers, text: str, html: str, walk: _Walk
) -> ParsedMail:
    message_id, generated = _message_id(raw, headers)
    for defect in message.defects:
        walk.defect(_describe_defect(defect))
    from_address = _sender(headers, walk)
    return ParsedMail(
        message_id=message_id,
        message_id_generated=generated,
        subject=headers.get("Subject"),
        from_address=from_address,
        reply_to=_addresses(headers, "Reply-To"),
        to=_addresses(headers, "To"),
        cc=_addresses(headers, "Cc"),
        date=_date(headers, walk),
        in_reply_to=_message_ids(headers, "In-Reply-To"),
        references=_message_ids(headers, "References"),
        headers=headers,
        content_type=_content_type(message),
        text=text,
        html=html,
        attachments=tuple(walk.attachments),
        defects=tuple(walk.defects),
    )


# --- header fields ---------------------------------------------------------------------------


# Where the author's address is looked for when From has none (in this order).
_SENDER_FALLBACKS = ("Sender", "Reply-To", "Return-Path")


def _sender(headers: Headers, walk: _Walk) -> Address | None:
    """The From address; when From has no usable address, the first fallback that has one."""
    found = parse_first_address(headers.raw_unfolded("From"), headers.fallback_charset)
    if found is not None:
        return found
    for name in _SENDER_FALLBACKS:
        found = parse_first_address(headers.raw_unfolded(name), headers.fallback_charset)
        if found is not None:
            walk.defect(f"no usable From address; the sender was taken from {name}")
            return found
    walk.defect("no usable From address")
    return None


def _addresses(headers: Headers, name: str) -> tuple[Address, ...]:
    found: list[Address] = []
    for raw in headers.raw_unfolded(name):
        found.extend(parse_address_list(raw, headers.fallback_charset))
    return tuple(found)


def _message_ids(headers: Headers, name: str) -> tuple[str, ...]:
    return extract_message_ids(" ".join(headers.raw_unfolded(name)))


def _message_id(raw: bytes, headers: Headers) -> tuple[str, bool]:
    """The Message-ID without brackets, or a deterministic one made from the raw bytes.

    The generated id depends only on the bytes, so the same mail delivered twice gets the same
    id and deduplicates (SPEC F5).
    """
    for value in headers.raw_unfolded("Message-ID"):
        ids = extract_message_ids(value)
        if ids:
            return ids[0], False
    return f"{hashlib.sha256(raw).hexdigest()}@{GENERATED_ID_DOMAIN}", True


def _date(headers: Headers, walk: _Walk) -> datetime | None:
    value = headers.get("Date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        walk.defect(f"unparseable Date {value[:60]!r}")
        return None
    if parsed.tzinfo is None:
        # RFC 5322 section 3.3: "-0000" means the zone is unknown; UTC is the honest reading.
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        walk.defect(f"Date out of range {value[:60]!r}")
        return None


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:  # a header the stdlib can't read at all: RFC 2045 section 5.2 default
        return "text/plain"


def _describe_defect(defect: object) -> str:
    """A stdlib defect object as words: NoBoundaryInMultipartDefect -> no boundary in multipart."""
    name = type(defect).__name__.removesuffix("Defect")
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()
    return f"{words} ({defect})" if str(defect) else words


# --- the MIME tree ---------------------------------------------------------------------------


def _walk_node(part: Message, walk: _Walk, path: tuple[int, ...]) -> _Body:
    """Collect body pieces below ``part`` and file its attachments into ``walk``.

    ``path`` is the part's position below the root (child indexes); its length is the depth.
    """
    depth = len(path)
    walk.parts_seen += 1
    if walk.parts_seen > walk.max_parts:
        walk.defect(f"more than {walk.max_parts} MIME parts; the rest were ignored")
        return _Body()
    if depth > walk.max_depth:
        walk.defect(f"MIME parts nested deeper than {walk.max_depth}; the rest were ignored")
        return _Body()
    if depth:
        for defect in part.defects:
            walk.defect(_describe_defect(defect))
    if walk.body_as_text:
        return _body_leaf(part, "text/plain", walk)
    content_type = _content_type(part)
    if content_type.startswith("message/") or content_type == "text/rfc822-headers":
        _keep_attachment(part, content_type, walk, path)
        return _Body()
    payload = _stored_payload(part)
    if isinstance(payload, list):
        children = [
            ((*path, index), child)
            for index, child in enumerate(payload)
            if isinstance(child, Message)
        ]
        if content_type == "multipart/alternative":
            return _choose_alternative(children, walk)
        return _concatenate(children, walk)
    if content_type.startswith("multipart/"):
        walk.defect(f"{content_type} without usable parts (missing boundary?); read as text")
        content_type = "text/plain"
    if content_type in _BODY_TYPES and not _is_attachment(part):
        return _body_leaf(part, content_type, walk)
    _keep_attachment(part, content_type, walk, path)
    return _Body()


_Children = list[tuple[tuple[int, ...], Message]]


def _concatenate(children: _Children, walk: _Walk) -> _Body:
    # multipart/mixed, related, signed, report...: every body piece belongs to the body, in
    # order; Apple Mail and others split one body around inline attachments this way.
    body = _Body()
    for path, child in children:
        body.pieces.extend(_walk_node(child, walk, path).pieces)
    return body


def _choose_alternative(children: _Children, walk: _Walk) -> _Body:
    """RFC 2046 section 5.1.4: the last alternative we can show wins, per rendering.

    The last alternative with HTML feeds ``html``; the last with plain text feeds ``text``.
    """
    bodies = [_walk_node(child, walk, path) for path, child in children]
    richest = next((body for body in reversed(bodies) if body.has_html), None)
    plainest = next((body for body in reversed(bodies) if body.has_plain), None)
    if richest is None or plainest is None or richest is plainest:
        return richest or plainest or next((body for body in bodies if body.pieces), _Body())
    pieces = [replace(piece, for_html=False) for piece in plainest.pieces]
    pieces += [replace(piece, for_text=False) for piece in richest.pieces]
    return _Body(pieces=pieces)


def _is_attachment(part: Message) -> bool:
    disposition = _disposition(part)
    return disposition == "attachment" or bool(_filename(part))


def _disposition(part: Message) -> str:
    try:
        return (part.get_content_disposition() or "").lower()
    except Exception:  # unreadable Content-Disposition: treat as absent
        return ""


_LINE_BREAK = re.compile(r"\r\n?")


def _body_leaf(part: Message, content_type: str, walk: _Walk) -> _Body:
    data = _payload_bytes(part, walk)
    text, defect = decode_bytes(data, _param(part, "charset"), walk.charset_hint)
    if defect:
        walk.defect(f"{content_type} body: {defect}")
    if "\x00" in text:
        walk.defect("NUL bytes removed from the body")
        text = text.replace("\x00", "")
    # One line ending for everyone downstream (quotes, rendering, search).
    text = _LINE_BREAK.sub("\n", text)
    kind = "html" if content_type == "text/html" else "plain"
    return _Body(pieces=[_Piece(kind=kind, content=text)])


def _param(part: Message, name: str) -> str | None:
    try:
        value = part.get_param(name)
    except Exception:  # malformed parameter list
        return None
    if value is None:
        return None
    if isinstance(value, tuple):
        value = collapse_rfc2231_value(value)
    return str(value)


# --- transfer encodings ----------------------------------------------------------------------

_WHITESPACE = re.compile(rb"\s+")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
# Some senders concatenate separately encoded chunks, each with its own padding.
_AFTER_PADDING = re.compile(rb"(?<==)(?=[^=])")


def _stored_payload(part: Message) -> object:
    """What the parser stored for ``part``: a str (surrogate-escaped bytes) or a list of parts.

    Not ``get_payload()``: for 8-bit text that re-decodes the bytes with the declared charset
    (replacing what doesn't fit, and raising on some junk labels), and we need the bytes.
    """
    return getattr(part, "_payload", None)


def _payload_bytes(part: Message, walk: _Walk) -> bytes:
    """The part's content with its Content-Transfer-Encoding undone (RFC 2045 section 6)."""
    payload = _stored_payload(part)
    if not isinstance(payload, str):
        return b""
    # The parser carried non-ASCII bytes as surrogate escapes; this restores them exactly.
    return _undo_transfer_encoding(part, payload.encode("utf-8", errors="surrogateescape"), walk)


def _undo_transfer_encoding(part: Message, raw: bytes, walk: _Walk) -> bytes:
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding == "base64":
        return _decode_base64(raw, walk)
    if encoding == "quoted-printable":
        return binascii.a2b_qp(raw)
    if encoding in {"x-uuencode", "uuencode", "x-uue", "uue"}:
        return _decode_uu(raw, walk)
    if encoding not in {"", "7bit", "8bit", "binary"}:
        walk.defect(f"unknown Content-Transfer-Encoding {encoding[:40]!r}; data kept as is")
    return raw


_BASE64_TEXT = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n\t "


def _decode_base64(raw: bytes, walk: _Walk) -> bytes:
    """Lenient base64 (RFC 2045 section 6.8): junk characters skipped, padding repaired."""
    clean = not raw.translate(None, _BASE64_TEXT) and b"=" not in raw.rstrip(b"=\r\n\t ")
    if clean:
        try:
            return binascii.a2b_base64(raw)
        except binascii.Error:
            pass  # bad padding: the careful path below repairs it
    decoded = bytearray()
    for segment in _AFTER_PADDING.split(_WHITESPACE.sub(b"", raw)):
        core = segment.rstrip(b"=")
        cleaned = _NOT_BASE64.sub(b"", core)
        if cleaned != core:
            walk.defect("invalid characters in base64 data were skipped")
        if len(cleaned) % 4 == 1:
            walk.defect("truncated base64 data")
            cleaned = cleaned[:-1]
        decoded += base64.b64decode(cleaned + b"=" * (-len(cleaned) % 4))
    return bytes(decoded)


def _decode_uu(raw: bytes, walk: _Walk) -> bytes:
    """uuencoded data, with or without the "begin MODE NAME" line some encoders leave out."""
    lines = raw.splitlines()
    begin = next((index for index, line in enumerate(lines) if line.startswith(b"begin ")), -1)
    decoded = bytearray()
    for line in lines[begin + 1 :]:
        if line.strip() == b"end":
            break
        if not line.strip():
            continue
        decoded += _decode_uu_line(line, walk)
    return bytes(decoded)


def _decode_uu_line(line: bytes, walk: _Walk) -> bytes:
    try:
        return binascii.a2b_uu(line)
    except binascii.Error:
        # Some encoders pad lines differently; decode what the length byte promises.
        length = ((line[0] - 32) & 63) * 4 // 3 + 1
        try:
            return binascii.a2b_uu(line[: length + 1])
        except binascii.Error:
            walk.defect("bad uuencoded line skipped")
            return b""


# --- attachments -----------------------------------------------------------------------------


def _filename(part: Message) -> str:
    """The part's filename: RFC 2231 and RFC 2047 decoded, path-free, never empty-junk."""
    try:
        raw = part.get_filename() or _param(part, "name") or ""
    except Exception:  # unreadable parameters: no name
        raw = ""
    name = decode_header_value(decode_8bit_header(unfold(str(raw))))
    name = clean_decoded(name).strip().strip("\"'")
    # A name is only a name: drop any directory part a sender (or attacker) put in front.
    name = re.split(r"[\\/]", name)[-1].strip()
    if name in {".", ".."}:
        return ""
    return name[:_MAX_FILENAME_LENGTH]


def _content_id(part: Message) -> str:
    value = clean_decoded(decode_8bit_header(unfold(str(part.get("Content-ID", "")))))
    return value.strip().strip("<>").strip()


def _default_filename(part: Message, content_type: str) -> str:
    description = clean_decoded(
        decode_header_value(unfold(str(part.get("Content-Description", ""))))
    )
    if content_type == "message/rfc822":
        subject = _inner_subject(part)
        base = subject or description.strip() or "message"
        return re.sub(r"[\\/]", "_", base)[: _MAX_FILENAME_LENGTH - 4] + ".eml"
    if content_type == "message/delivery-status":
        return description.strip() + ".txt" if description.strip() else "delivery-status.txt"
    if content_type == "text/rfc822-headers":
        return "headers.txt"
    return "file"


def _inner_subject(part: Message) -> str:
    payload = _stored_payload(part)
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        value = payload[0].get("Subject", "")
        return clean_decoded(decode_header_value(unfold(str(value)))).strip()
    return ""


def _attachment_data(part: Message, content_type: str, walk: _Walk, path: tuple[int, ...]) -> bytes:
    payload = _stored_payload(part)
    if not isinstance(payload, list):
        return _payload_bytes(part, walk)
    # message/* parts were parsed into messages; keep the bytes that were sent, so that an
    # attached mail stays the same mail (hash, DKIM signature, folding).
    as_sent = _raw_attached(part, walk, path)
    if as_sent is not None:
        return as_sent
    # The raw bytes don't match the tree (broken boundaries): write the parsed parts out.
    children = [child for child in payload if isinstance(child, Message)]
    if content_type == "message/delivery-status":
        return _status_fields_bytes(children)
    return b"\n".join(_message_bytes(child, walk) for child in children)


def _raw_attached(part: Message, walk: _Walk, path: tuple[int, ...]) -> bytes | None:
    """The content of a parsed message/* part as it stands in the raw mail, or None.

    Accepted only when the bytes found there begin with the header section the parser read
    for the attached message, so a mismatch can't put another part's bytes in its place.
    """
    if walk.raw_tree is None:
        return None
    body = walk.raw_tree.body(path)
    if body is None:
        return None
    inner = _stored_payload(part)
    if not isinstance(inner, list) or not inner or not isinstance(inner[0], Message):
        return None
    found = BytesHeaderParser(policy=_POLICY).parsebytes(body)
    if list(found.raw_items()) != list(inner[0].raw_items()):
        return None
    # RFC 2046 section 5.2.1 allows only 7bit, 8bit and binary here, but some senders
    # base64-encode attached mails anyway; the content is the decoded mail.
    return _undo_transfer_encoding(part, body, walk)


def _status_fields_bytes(blocks: list[Message]) -> bytes:
    """A delivery-status body (RFC 3464 section 2.1) as written: field blocks, blank-separated.

    The parser read each block as a header-only message; the fields still hold their original
    folding, so writing them back name by name restores the text.
    """
    written = []
    for block in blocks:
        fields = "".join(f"{name}: {value}\n" for name, value in block.raw_items())
        written.append(fields.encode("utf-8", errors="surrogateescape"))
    return b"\n".join(written)


def _message_bytes(message: Message, walk: _Walk) -> bytes:
    if not message.keys() and not _stored_payload(message):
        return b""
    buffer = BytesIO()
    try:
        BytesGenerator(buffer, mangle_from_=False, policy=_POLICY).flatten(message)
    except Exception as error:  # a tree the generator can't write; keep what it wrote
        walk.defect(f"attached message could not be fully written out ({type(error).__name__})")
    return buffer.getvalue()


def _keep_attachment(part: Message, content_type: str, walk: _Walk, path: tuple[int, ...]) -> None:
    filename = _filename(part) or _default_filename(part, content_type)
    data = _attachment_data(part, content_type, walk, path)
    if len(data) > walk.max_attachment_size:
        walk.defect(
            f"attachment {filename!r} is {len(data)} bytes, over the "
            f"{walk.max_attachment_size}-byte limit; dropped"
        )
        return
    content_id = _content_id(part)
    disposition = _disposition(part)
    inline = disposition == "inline" or (bool(content_id) and disposition != "attachment")
    walk.attachments.append(
        Part(
            filename=filename,
            content_type=content_type,
            data=data,
            content_id=content_id,
            inline=inline,
        )
    )


# --- the body --------------------------------------------------------------------------------


def _render_body(body: _Body, walk: _Walk) -> tuple[str, str]:
    """(text, html) from the collected pieces; html is "" when the sender sent none."""
    text_pieces = [
        piece.content if piece.kind == "plain" else html_module.html_to_text(piece.content)
        for piece in body.pieces
        if piece.for_text
    ]
    text = "\n".join(piece.strip("\n") for piece in text_pieces if piece.strip())
    if not body.has_html:
        return text, ""
    html_pieces = [
        html_module.sanitize(piece.content)
        if piece.kind == "html"
        else html_module.text_to_html(piece.content)
        for piece in body.pieces
        if piece.for_html
    ]
    walk.attachments.append(_original_html_part(body))
    html = "\n".join(html_pieces)
    if not text.strip() and not html_module.has_visible_content(html):
        # Nothing left to show (e.g. only a blocked remote image): no body, as for an empty
        # mail; the original stays available as the inert attachment.
        walk.defect("the HTML body has no visible content once sanitized")
        return "", ""
    return text, html


def _original_html_part(body: _Body) -> Part:
    """The body as the sender wrote it, pieces joined unchanged, as an inert attachment."""
    original = "".join(piece.content for piece in body.pieces if piece.for_html)
    return Part(
        filename=ORIGINAL_HTML_FILENAME,
        content_type=ORIGINAL_HTML_CONTENT_TYPE,
        data=original.encode("utf-8", errors="replace"),
        original_html=True,
    )
