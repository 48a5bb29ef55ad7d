"""Mail addresses: parsing address-list headers and normalising addresses for comparison.

What lives here: ``Address`` (a display name and an addr-spec), ``parse_address_list`` for the
``From``/``To``/``Cc``/``Reply-To`` family (RFC 5322 section 3.4, tolerant of what real clients
send: unquoted commas, missing brackets, groups, comments), ``normalize_email`` and
``extract_message_ids`` (RFC 5322 section 3.6.4). The decisions built on addresses (received-at,
requester) belong in their own modules and use these helpers.

Security rule (RFC 2047 section 5): encoded words are decoded in display names only, never
inside an addr-spec, so ``=?utf-8?Q?agent?=@example.com`` stays that literal, harmless
address and can't pose as ``agent@example.com``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from postdesk.mail.charsets import decode_8bit_header, decode_header_value
from postdesk.mail.headers import clean_decoded

# Encoded words can hold commas, quotes and brackets once decoded, but also *before*: a
# ``Q`` word may spell a literal comma. They are swapped for inert placeholders before the
# address grammar sees the header, and swapped back afterwards.
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[QqBb]\?[^?]*?\?=")
_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_BARE_MESSAGE_ID = re.compile(r"[^<>\s,;]+@[^<>\s,;]+")


@dataclass(frozen=True)
class Address:
    """One mailbox: the decoded display name and the addr-spec as sent."""

    name: str
    email: str

    @property
    def normalized(self) -> str:
        """The address for comparisons: trimmed and lowercased."""
        return self.email.strip().lower()

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


def normalize_email(value: str) -> str:
    """The comparable form of an address: no brackets or blanks around it, lowercased.

    Local parts are case-sensitive in theory (RFC 5321 section 2.4) but never in practice,
    and every help desk compares them case-insensitively.
    """
    return value.strip().strip("<>").strip().lower()


def _protect_encoded_words(raw: str) -> tuple[str, list[str]]:
    words: list[str] = []

    def keep(match: re.Match[str]) -> str:
        words.append(match.group(0))
        return f"\ue000{len(words) - 1}\ue001"

    return _ENCODED_WORD.sub(keep, raw), words


def _restore(value: str, words: list[str]) -> str:
    return _PLACEHOLDER.sub(lambda match: words[int(match.group(1))], value)


_UNQUOTED_SPACE = re.compile(r'^[^"]*\s')
_COMMENT = re.compile(r"\(([^()]*)\)")


def _split_list(value: str) -> list[str]:
    """Split an address list at the commas that are outside quotes, brackets and comments."""
    pieces: list[str] = []
    current: list[str] = []
    in_quotes = escaped = False
    angle_depth = paren_depth = 0
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and (in_quotes or paren_depth):
            escaped = True
        elif char == '"' and not paren_depth:
            in_quotes = not in_quotes
        elif not in_quotes:
            if char == "(":
                paren_depth += 1
            elif char == ")" and paren_depth:
                paren_depth -= 1
            elif char == "<" and not paren_depth:
                angle_depth += 1
            elif char == ">" and angle_depth and not paren_depth:
                angle_depth -= 1
            elif char in ",;" and not (angle_depth or paren_depth):
                pieces.append("".join(current))
                current = []
                continue
        current.append(char)
    pieces.append("".join(current))
    return [piece.strip() for piece in pieces if piece.strip()]


_GROUP_PREFIX = re.compile(r'^[^"<>@(),]*:(?!//)\s*')
_ANGLE_ADDR = re.compile(r"^(?P<name>.*?)<(?P<email>[^<>]*)>\s*(?P<rest>.*)$", re.S)
_COMMENT_TEXT = re.compile(r"\(([^()]*)\)")


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return re.sub(r"\\(.)", r"\1", name[1:-1])
    return re.sub(r'"((?:[^"\\]|\\.)*)"', lambda match: match.group(1), name)


def _split_mailbox(piece: str) -> tuple[str, str]:
    """(display name, addr-spec) of one list element, as written (still encoded)."""
    angle = _ANGLE_ADDR.match(piece)
    if angle:
        written = angle.group("name")
        if '"' not in written:
            # "MAILER-DAEMON (Mail Delivery System) <a@b>": a comment is not part of the name.
            written = _COMMENT_TEXT.sub(" ", written).strip() or written
        name = _unquote(written)
        if not name:
            comment = _COMMENT_TEXT.search(angle.group("rest"))
            name = comment.group(1) if comment else ""
        return name, angle.group("email").strip()
    comments = _COMMENT_TEXT.findall(piece)
    bare = _COMMENT_TEXT.sub(" ", piece).strip()
    if "@" not in bare:
        # "Name (user@example.com)": the address was put in the comment.
        for comment in comments:
            if "@" in comment:
                return bare, comment.strip()
    return (comments[0].strip() if comments else ""), bare


def _display_name(value: str, words: list[str], fallback_charset: str | None) -> str:
    decoded = decode_header_value(_restore(value, words), fallback_charset)
    return clean_decoded(decoded).strip()


def _addr_spec(value: str, words: list[str], fallback_charset: str | None) -> str:
    # Encoded words stay encoded here: see the module docstring.
    return clean_decoded(decode_8bit_header(_restore(value, words), fallback_charset)).strip()


def parse_address_list(raw: str, fallback_charset: str | None = None) -> list[Address]:
    """Every mailbox in an unfolded, undecoded address-list header, in order.

    Tolerant of what real clients send: names with specials left unquoted, missing or extra
    brackets, groups (RFC 5322 section 3.4) and comments. Elements without an ``@``
    (``undisclosed-recipients:;``) are dropped. ``fallback_charset`` decodes raw 8-bit bytes
    that are not UTF-8 (see ``charsets.guess_header_charset``).
    """
    protected, words = _protect_encoded_words(raw)
    addresses: list[Address] = []
    for piece in _split_list(protected):
        name, email = _split_mailbox(_GROUP_PREFIX.sub("", piece, count=1))
        if "@" not in email:
            continue
        if not name and _UNQUOTED_SPACE.search(email):
            # Not an addr-spec ("Test test@example.com"): show the agent what was sent.
            name = email
        addresses.append(
            Address(
                name=_display_name(name, words, fallback_charset),
                email=_addr_spec(email, words, fallback_charset),
            )
        )
    return addresses


def parse_first_address(
    raw_values: list[str], fallback_charset: str | None = None
) -> Address | None:
    """The first mailbox of the first of ``raw_values`` that has one."""
    for raw in raw_values:
        found = parse_address_list(raw, fallback_charset)
        if found:
            return found[0]
    return None


def extract_message_ids(raw: str) -> tuple[str, ...]:
    """Message ids named in ``In-Reply-To``/``References``, without brackets, in order.

    Bracketed ids are taken first (RFC 5322 section 3.6.4); headers from clients that forgot
    the brackets fall back to bare ``local@domain`` tokens. Duplicates are dropped.
    """
    found = _MESSAGE_ID.findall(raw) or _BARE_MESSAGE_ID.findall(raw)
    seen: dict[str, None] = {}
    for message_id in found:
        cleaned = decode_8bit_header(message_id).strip()
        if cleaned and len(cleaned) <= 998:
            seen.setdefault(cleaned, None)
    return tuple(seen)
