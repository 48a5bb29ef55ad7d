"""Validation of every outbound header value that can come from UI or API input.

Header injection (a CR/LF in a value that starts a new ``Bcc:`` header) is the classic hole in
mail-sending web apps; SPEC §5 asks that it be impossible. The stdlib refuses CR and LF since
Python 3.13, but that is not enough: other line breaks (U+0085, U+2028, U+2029) are honoured by
some clients and gateways, NUL truncates values in C mail software, bidi controls spoof display
names, and the ``email`` package *decodes* RFC 2047 encoded words found in a plain string
header value, so ``=?utf-8?b?...?=`` typed into a name field turns into arbitrary text,
``@``-signs and all, once it reaches the wire. Everything here therefore rejects rather than
repairs, with a typed :class:`UnsafeHeader` naming the field and the reason, so the UI and API
can show a form error (HTTP 422) instead of sending something else than the user typed.

Addresses are parsed and re-rendered as :class:`email.headerregistry.Address` objects so that
display names are quoted or encoded by the ``email`` package, never by string concatenation.

RFCs: 5322 (header syntax, addr-spec, msg-id, the 998-octet line limit), 5321 (64-octet local
part, 254-octet path), 2047 (encoded words), 6532 (UTF-8 local parts, only when allowed), 3490
(IDNA: non-ASCII domains are sent as A-labels).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from email.headerregistry import Address
from email.utils import getaddresses

__all__ = [
    "MAX_ADDRESSES",
    "MAX_DISPLAY_NAME_LENGTH",
    "MAX_SUBJECT_LENGTH",
    "MAX_TEXT_LENGTH",
    "UnsafeHeader",
    "addr_spec",
    "clean_msg_ids",
    "display_name",
    "field_name",
    "filename",
    "mailbox",
    "msg_id",
    "parse_mailbox",
    "parse_mailbox_list",
    "replace_forbidden",
    "subject",
    "text",
]

MAX_TEXT_LENGTH = 998  # RFC 5322 2.1.1: the hard line limit, before folding
MAX_SUBJECT_LENGTH = 500
MAX_DISPLAY_NAME_LENGTH = 128
MAX_FILENAME_LENGTH = 255
MAX_ADDRESSES = 100
_MAX_LOCAL_PART = 64  # RFC 5321 4.5.3.1.1
_MAX_DOMAIN = 253  # RFC 1035, without the trailing dot
_MAX_ADDRESS = 254  # RFC 5321 4.5.3.1.3 path, without the angle brackets
_MAX_MSG_ID = 250

# Format characters that reorder text: U+202E turns "gpj.exe" into "exe.jpg" in a display name.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Cc covers C0 (NUL, CR, LF, TAB…), DEL and C1 (incl. U+0085 NEL); Zl/Zp are U+2028/U+2029;
# Cs are lone surrogates, which can't be encoded at all.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
# Lenient decoders accept far sloppier encoded words than RFC 2047 defines, so any "=?" that
# is later closed by "?=" is refused.
_ENCODED_WORD_RE = re.compile(r"=\?.*\?=", re.DOTALL)
_FIELD_NAME_RE = re.compile(r"[!-9;-~]{1,76}")  # RFC 5322 ftext: printable ASCII but ":"
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_ATEXT_UTF8 = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_DOT_ATOM_RE = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_DOT_ATOM_UTF8_RE = re.compile(rf"{_ATEXT_UTF8}+(?:\.{_ATEXT_UTF8}+)*")
_LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# RFC 5322 msg-id restricted to what real generators emit: dot-atom-text on both sides
# (or a domain literal on the right), no CFWS, no obsolete forms.
_MSG_ID_RE = re.compile(rf"<{_ATEXT}+(?:\.{_ATEXT}+)*@(?:{_ATEXT}+(?:\.{_ATEXT}+)*|\[[!-Z^-~]*\])>")


class UnsafeHeader(ValueError):
    """A header value that must not be sent as given; ``field`` says which input, ``reason`` why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _describe(char: str) -> str:
    name = unicodedata.name(char, "control character")
    return f"U+{ord(char):04X} {name}"


def _forbidden(char: str) -> bool:
    return unicodedata.category(char) in _FORBIDDEN_CATEGORIES or char in _BIDI_CONTROLS


def _check_characters(value: str, field: str) -> None:
    # Fast path: printable ASCII is the overwhelmingly common case and has nothing to check.
    if value.isascii() and value.isprintable():
        return
    for char in value:
        if _forbidden(char):
            raise UnsafeHeader(field, f"contains a forbidden character ({_describe(char)})")


def replace_forbidden(value: str, replacement: str = " ") -> str:
    """``value`` with each character that :func:`text` refuses replaced: for text that came
    in with customers' mail, which is cleaned rather than refused."""
    if value.isascii() and value.isprintable():
        return value
    return "".join(replacement if _forbidden(char) else char for char in value)


def _check_encoded_words(value: str, field: str) -> None:
    if _ENCODED_WORD_RE.search(value):
        raise UnsafeHeader(field, "contains RFC 2047 encoded-word syntax (=?…?=)")


def text(value: str, *, field: str, max_length: int = MAX_TEXT_LENGTH) -> str:
    """An unstructured header value (RFC 5322 3.2.5), stripped of surrounding spaces."""
    if not isinstance(value, str):
        raise UnsafeHeader(field, "must be text")
    _check_characters(value, field)
    _check_encoded_words(value, field)
    value = value.strip(" ")
    if len(value) > max_length:
        raise UnsafeHeader(field, f"is longer than {max_length} characters")
    return value


def subject(value: str, *, field: str = "subject") -> str:
    """A subject line: :func:`text` with runs of spaces collapsed and a length limit.

    Folding into lines of at most 78 octets is left to the ``email`` package on output, which
    encodes non-ASCII text as RFC 2047 words that never split a character.
    """
    value = text(value, field=field, max_length=MAX_SUBJECT_LENGTH)
    return re.sub(" {2,}", " ", value)


def display_name(value: str, *, field: str = "display name") -> str:
    """A display name for a mailbox: :func:`text` with a shorter limit."""
    return text(value, field=field, max_length=MAX_DISPLAY_NAME_LENGTH)


def field_name(name: str) -> str:
    """A header field name (RFC 5322 ftext), for the few headers callers may add."""
    if not isinstance(name, str) or not _FIELD_NAME_RE.fullmatch(name):
        raise UnsafeHeader("header name", f"{name!r} is not a valid header field name")
    return name


def _domain(value: str, field: str) -> str:
    try:
        # IDNA 2003 via the stdlib codec: enough to turn a U-label into the A-label that
        # every MTA accepts; a domain it can't convert is refused.
        ascii_domain = value.encode("idna").decode("ascii").lower()
    except UnicodeError as error:
        raise UnsafeHeader(field, f"the domain {value!r} is not a valid host name") from error
    labels = ascii_domain.split(".")
    if len(ascii_domain) > _MAX_DOMAIN or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise UnsafeHeader(field, f"the domain {value!r} is not a valid host name")
    return ascii_domain


def addr_spec(value: str, *, field: str = "address", allow_utf8: bool = False) -> str:
    """A bare address ``local@domain``, checked and normalised (domain lower case, A-labels).

    Quoted local parts and domain literals are refused: legitimate customers don't have them
    and they are a favourite of filter-evasion tricks. UTF-8 local parts (RFC 6532) pass only
    with ``allow_utf8``, because they need SMTPUTF8 all along the relay path.
    """
    if not isinstance(value, str):
        raise UnsafeHeader(field, "must be text")
    _check_characters(value, field)
    value = value.strip()
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise UnsafeHeader(field, f"{value!r} is not an email address")
    atom = _DOT_ATOM_UTF8_RE if allow_utf8 else _DOT_ATOM_RE
    if not atom.fullmatch(local):
        reason = "needs SMTPUTF8" if not local.isascii() else "has an invalid local part"
        raise UnsafeHeader(field, f"{value!r} {reason}")
    if len(local.encode("utf-8")) > _MAX_LOCAL_PART:
        raise UnsafeHeader(field, f"the local part of {value!r} is longer than 64 octets")
    address = f"{local}@{_domain(domain, field)}"
    if len(address.encode("utf-8")) > _MAX_ADDRESS:
        raise UnsafeHeader(field, f"{value!r} is longer than 254 octets")
    return address


def mailbox(
    address: str, name: str = "", *, field: str = "address", allow_utf8: bool = False
) -> Address:
    """A checked mailbox from an address and a display name typed into separate fields."""
    spec = addr_spec(address, field=field, allow_utf8=allow_utf8)
    local, _, domain = spec.rpartition("@")
    return Address(
        display_name=display_name(name, field=f"{field} name"), username=local, domain=domain
    )


def parse_mailbox_list(
    value: str,
    *,
    field: str = "addresses",
    allow_utf8: bool = False,
    max_count: int = MAX_ADDRESSES,
) -> list[Address]:
    """Mailboxes from one typed line such as ``Jane <jane@example.com>, bob@example.com``."""
    if not isinstance(value, str):
        raise UnsafeHeader(field, "must be text")
    _check_characters(value, field)
    _check_encoded_words(value, field)
    # A trailing comma is what a form field looks like after removing the last address.
    value = value.strip().rstrip(",").strip()
    if not value:
        return []
    # strict=True (the default since 3.13) returns ("", "") for anything it can't parse
    # unambiguously instead of guessing: exactly what we want to refuse.
    pairs = getaddresses([value], strict=True)
    if any(not address for _, address in pairs):
        raise UnsafeHeader(field, "is not a list of email addresses")
    if len(pairs) > max_count:
        raise UnsafeHeader(field, f"has more than {max_count} addresses")
    return [mailbox(address, name, field=field, allow_utf8=allow_utf8) for name, address in pairs]


def parse_mailbox(value: str, *, field: str = "address", allow_utf8: bool = False) -> Address:
    """Exactly one mailbox from a typed ``Name <local@domain>`` or bare address."""
    found = parse_mailbox_list(value, field=field, allow_utf8=allow_utf8)
    if len(found) != 1:
        raise UnsafeHeader(field, "must be exactly one email address")
    return found[0]


def msg_id(value: str, *, field: str = "message-id") -> str:
    """A Message-ID with its angle brackets, in the strict form of RFC 5322 3.6.4.

    Inbound Message-IDs are attacker-controlled and end up in our ``In-Reply-To`` and
    ``References``, so they are held to the same rules as UI input.
    """
    if not isinstance(value, str):
        raise UnsafeHeader(field, "must be text")
    _check_characters(value, field)
    value = value.strip()
    if len(value) > _MAX_MSG_ID or not _MSG_ID_RE.fullmatch(value):
        raise UnsafeHeader(field, f"{value[:80]!r} is not a valid Message-ID")
    return value


def clean_msg_ids(values: Iterable[str]) -> list[str]:
    """The valid Message-IDs among ``values``, first occurrences only, in order.

    For ``References`` built from inbound mail: one junk ID from a broken client must not stop
    an agent's reply, so invalid ones are dropped here instead of raised.
    """
    seen: set[str] = set()
    kept: list[str] = []
    for value in values:
        try:
            valid = msg_id(value)
        except UnsafeHeader:
            continue
        if valid not in seen:
            seen.add(valid)
            kept.append(valid)
    return kept


def filename(value: str, *, field: str = "filename") -> str:
    """An attachment file name: no directories, no control characters, at most 255 characters.

    Non-ASCII names are fine; the ``email`` package writes them as RFC 2231 parameters.
    """
    value = text(value, field=field, max_length=MAX_FILENAME_LENGTH)
    # Mail clients strip directories anyway; we strip them first so the name shown in the
    # agent UI is the one the customer sees.
    value = value.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if value in {"", ".", ".."}:
        raise UnsafeHeader(field, "is empty")
    return value
