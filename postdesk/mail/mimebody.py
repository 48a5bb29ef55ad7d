"""The MIME body of outbound mail, written out directly: text parts, multiparts, attachments.

Every outbound mail has the same small shape: a UTF-8 text part, usually an HTML alternative
beside it, sometimes attachments around both. Building that through ``EmailMessage`` and its
generator cost several milliseconds a mail (a header object, and a new header class, for
every MIME header set or read), most of the time it takes to queue an acknowledgement. Here
the text parts and the multipart structure are written as bytes, with CRLF line ends and
7-bit transfer encodings (RFC 2045, 2046):

- a text part is ``7bit`` when it is ASCII with lines of at most 78 octets (the ``email``
  package's rule), otherwise quoted-printable or base64, whichever is shorter: mostly-ASCII
  text stays readable, Korean text is not tripled by ``=XX`` escapes;
- a boundary is random and checked against the parts it separates;
- attachments are still the ``email`` package's parts (their names need RFC 2231 parameters),
  one part each, serialised and placed into the structure as they are.

The bodies are 7-bit whatever the header mode, so relays without 8BITMIME never re-encode
them and break their DKIM signature.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from email import policy
from email.message import MIMEPart
from typing import Final

__all__ = ["CRLF", "Entity", "attachment", "multipart", "text"]

CRLF: Final = b"\r\n"
# The longest line a 7bit text part may keep (the email package's policy.max_line_length).
_MAX_7BIT_LINE: Final = 78
_PART_POLICY: Final = policy.SMTP.clone(cte_type="7bit")
_PART_POLICY_UTF8: Final = policy.SMTPUTF8.clone(cte_type="7bit")


@dataclass(frozen=True, slots=True)
class Entity:
    """A MIME entity: its header lines (each ending in CRLF) and its body (ending in CRLF)."""

    head: bytes
    body: bytes

    def as_bytes(self) -> bytes:
        return self.head + CRLF + self.body


def _encoded(data: bytes, lines: list[bytes]) -> tuple[str, bytes]:
    if data.isascii() and max((len(line) for line in lines), default=0) <= _MAX_7BIT_LINE:
        return "7bit", data
    # Both encoders are C code; trying both costs microseconds. The input has CRLF line ends,
    # so b2a_qp writes its soft line breaks as CRLF too.
    quoted = binascii.b2a_qp(data, istext=True)
    encoded = base64.encodebytes(data).replace(b"\n", CRLF)
    if len(quoted) <= len(encoded):
        return "quoted-printable", quoted
    return "base64", encoded


def text(content: str, subtype: str) -> Entity:
    """A ``text/<subtype>; charset="utf-8"`` part; any line ends become CRLF."""
    lines = content.encode("utf-8").splitlines()
    data = CRLF.join(lines) + CRLF
    cte, body = _encoded(data, lines)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'
    return Entity(head.encode("ascii"), body)


def _boundary(parts: list[bytes]) -> str:
    while True:
        # "=_" never occurs in quoted-printable or base64 text; the check covers 7bit parts.
        boundary = "=_" + secrets.token_hex(16)
        marker = ("--" + boundary).encode("ascii")
        if not any(marker in part for part in parts):
            return boundary


def multipart(subtype: str, entities: list[Entity]) -> Entity:
    """A ``multipart/<subtype>`` of ``entities``, in order, without preamble or epilogue."""
    parts = [entity.as_bytes() for entity in entities]
    boundary = _boundary(parts)
    delimiter = b"--" + boundary.encode("ascii")
    # Each part's body ends with CRLF; the CRLF before a delimiter belongs to the delimiter
    # (RFC 2046 5.1.1), so a part's last line end survives parsing.
    body = b"".join(delimiter + CRLF + part + CRLF for part in parts) + delimiter + b"--" + CRLF
    head = f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n'
    return Entity(head.encode("ascii"), body)


def attachment(
    content: bytes, maintype: str, subtype: str, filename: str, *, utf8: bool = False
) -> Entity:
    """An attachment part, base64, with its (checked) filename as the ``email`` package
    writes it: RFC 2231 for non-ASCII names, or UTF-8 as it is when ``utf8`` (SMTPUTF8)."""
    part = MIMEPart(policy=_PART_POLICY_UTF8 if utf8 else _PART_POLICY)
    part.set_content(
        content, maintype=maintype, subtype=subtype, disposition="attachment", filename=filename
    )
    head, separator, body = part.as_bytes().partition(CRLF + CRLF)
    if not separator:
        raise ValueError("an attachment part without a body")
    return Entity(head + CRLF, body)
