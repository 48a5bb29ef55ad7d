"""A safe, read-only view of a message's header section.

``Headers`` holds the header fields exactly as they arrived (RFC 5322 section 2.2) and decodes
them on demand: unfolding (RFC 5322 section 2.2.3), RFC 2047 encoded words (with words split
mid-character joined first) and raw 8-bit bytes (RFC 6532, or a repaired legacy charset).
Names are matched case-insensitively. No getter raises, whatever the sender put there: junk
comes back as the best text that can be made of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from postdesk.mail.charsets import decode_header_value, guess_header_charset

# RFC 5322 section 2.2.3: unfolding removes each CRLF that is followed by whitespace.
_FOLD = re.compile(r"\r?\n(?=[ \t])")
# Control characters never belong in a decoded header; a decoded CR/LF would let a value
# smuggle a new header line into anything that writes it back out.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def unfold(value: str) -> str:
    """Join a folded header value into one line (RFC 5322 section 2.2.3)."""
    return _FOLD.sub("", value).rstrip("\r\n")


def clean_decoded(value: str) -> str:
    """Replace control characters (CR, LF, NUL, ...) in a decoded value by spaces.

    Line breaks that an encoded word put at either end are dropped instead: they were never
    meant as visible spaces.
    """
    return _CONTROL.sub(" ", value.strip("\r\n"))


class Headers:
    """The header fields of one message, in order, decoded lazily and never raising."""

    __slots__ = ("_decoded", "_fields", "fallback_charset")

    def __init__(self, fields: Iterable[tuple[str, str]]) -> None:
        # Values are kept as the parser produced them: str, with non-ASCII bytes carried as
        # surrogate escapes so that they can be turned back into the exact original bytes.
        self._fields: tuple[tuple[str, str], ...] = tuple(
            (str(name).strip(), str(value)) for name, value in fields
        )
        self._decoded: dict[int, str] = {}
        # The charset of raw 8-bit header bytes, guessed once over all of them (or None).
        self.fallback_charset = guess_header_charset([value for _, value in self._fields])

    def _decode_at(self, index: int) -> str:
        cached = self._decoded.get(index)
        if cached is None:
            raw = unfold(self._fields[index][1]).lstrip(" \t")
            cached = clean_decoded(decode_header_value(raw, self.fallback_charset))
            self._decoded[index] = cached
        return cached

    def _indexes(self, name: str) -> Iterator[int]:
        wanted = name.lower()
        for index, (field_name, _) in enumerate(self._fields):
            if field_name.lower() == wanted:
                yield index

    def get(self, name: str, default: str = "") -> str:
        """The decoded, unfolded value of the first ``name`` field, or ``default``."""
        for index in self._indexes(name):
            return self._decode_at(index)
        return default

    def get_all(self, name: str) -> list[str]:
        """Every ``name`` field, decoded, in the order they appear."""
        return [self._decode_at(index) for index in self._indexes(name)]

    def raw(self, name: str) -> list[str]:
        """Every ``name`` field as received: folded, undecoded (8-bit bytes as surrogates)."""
        return [self._fields[index][1] for index in self._indexes(name)]

    def raw_unfolded(self, name: str) -> list[str]:
        """Every ``name`` field unfolded but not decoded: what address parsing starts from."""
        return [unfold(value) for value in self.raw(name)]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return next(self._indexes(name), None) is not None

    def items(self) -> list[tuple[str, str]]:
        """All fields as (name, decoded value), in order."""
        return [(self._fields[index][0], self._decode_at(index)) for index in range(len(self))]

    def names(self) -> list[str]:
        """The field names, in order, as they were spelled."""
        return [name for name, _ in self._fields]

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"<Headers: {len(self)} fields>"
