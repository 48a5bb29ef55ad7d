"""The parts of a raw mail the authentication check reads, split once.

The header fields are kept as dkimpy keeps them (``[name, value]`` as bytes, the value with
its folding and final CRLF), so the same list is handed to dkimpy for DKIM and ARC without
dkimpy parsing the message again. Unlike dkimpy's own parser this one skips a line that is
not a header field (and a continuation line before the first field) instead of giving up on
the whole mail: a signature over other fields can still be checked. The body is only
rebuilt (line ends made CRLF, as dkimpy expects) when a signature needs it.

:func:`from_domain` finds the RFC 5322.From domain DMARC is about (RFC 7489 6.6.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from postdesk.mail.addresses import parse_address_list

from .domains import normalize_domain

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")
# Same field-name rule as dkimpy's parser: printable ASCII up to the first colon.
_FIELD = re.compile(rb"([\x21-\x7e]+?):")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


@dataclass
class RawMail:
    headers: list[list[bytes]]
    _body_part: bytes

    def values(self, name: str) -> list[str]:
        """The values of the header fields called ``name``, top first, unfolded, as text.

        Bytes that are not UTF-8 stay as surrogate escapes (``charsets.decode_8bit_header``
        understands them)."""
        wanted = name.lower().encode("ascii")
        return [
            _FOLD.sub("", value.decode("utf-8", "surrogateescape")).strip()
            for field_name, value in self.headers
            if field_name.lower() == wanted
        ]

    @cached_property
    def body(self) -> bytes:
        """The body with CRLF line ends, as dkimpy's own parser would have made it."""
        return _LINE_END.sub(b"\r\n", self._body_part)


def split(raw: bytes) -> RawMail:
    """The header fields and body of ``raw``; no fields at all when it has no header."""
    match = _BLANK_LINE.search(raw)
    if raw.startswith((b"\n", b"\r\n")):
        head, body = b"", raw[1:] if raw.startswith(b"\n") else raw[2:]
    elif match is None:
        head, body = raw, b""
    else:
        head, body = raw[: match.start()], raw[match.end() :]
    # Each field's lines are collected and joined once: appending every continuation line to
    # the value as it comes would copy the value again per line, quadratic in a field folded
    # over hundreds of thousands of lines.
    fields: list[tuple[bytes, list[bytes]]] = []
    for line in _LINE_END.split(head) if head else []:
        if line[:1] in (b" ", b"\t"):
            if fields:  # else a continuation line before any field: skipped
                fields[-1][1].append(line)
            continue
        found = _FIELD.match(line)
        if found is not None:  # else no field (a stray line, an mbox "From " line): skipped
            fields.append((found.group(1), [line[found.end() :]]))
    headers = [[name, b"\r\n".join(lines) + b"\r\n"] for name, lines in fields]
    return RawMail(headers, body)


@dataclass(frozen=True)
class FromDomain:
    domain: str  # "" when ``problem`` says why there is none
    problem: str = ""


def from_domain(mail: RawMail) -> FromDomain:
    """The domain of the one address in the one From field, or why DMARC can't use it.

    No From, two From fields, several addresses or one without a usable domain can't be
    authenticated (RFC 7489 6.6.1), so each is a problem, not a guess."""
    values = mail.values("From")
    if not values:
        return FromDomain("", "the message has no From header")
    if len(values) > 1:
        return FromDomain("", "the message has more than one From header")
    addresses = parse_address_list(values[0])
    if not addresses:
        return FromDomain("", "the From header has no address that can be read")
    if len(addresses) > 1:
        return FromDomain("", "the From header has more than one address")
    _, at, domain = addresses[0].email.rpartition("@")
    usable = normalize_domain(domain) if at else ""
    if not usable:
        return FromDomain("", "the From address has no usable domain")
    return FromDomain(usable)
