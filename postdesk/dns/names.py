"""A domain as a person types it, checked and turned into the ASCII name DNS is asked about.

Accepts internationalised names (IDNA 2008 through the ``idna`` package when it is installed,
Python's IDNA 2003 codec otherwise) and a trailing dot; refuses anything that isn't a host
name of at least two labels (RFC 1035 2.3.4 lengths, RFC 952/1123 letters, digits, hyphens).
"""

from __future__ import annotations

import re
from typing import Final

_LABEL: Final = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
_MAX_NAME: Final = 253


class InvalidDomain(ValueError):
    """Not a domain name that DNS could be asked about."""


def to_ascii(text: str) -> str:
    """``text`` in A-labels, as DNS is asked about it; :class:`UnicodeError` (or the
    ``idna`` package's ``ValueError``) when it can't be encoded. The inbound authentication
    check encodes a From domain with it too, so both sides agree on what ``faß.de`` is."""
    try:
        import idna

        return str(idna.encode(text, uts46=True).decode("ascii"))
    except ImportError:
        return text.encode("idna").decode("ascii")


def normalise_domain(text: str) -> str:
    """The lower-case ASCII form of ``text``, or :class:`InvalidDomain` saying why not."""
    name = text.strip().rstrip(".")
    if not name:
        raise InvalidDomain("the domain is empty")
    if "@" in name:
        raise InvalidDomain("give the domain only, not an email address")
    try:
        ascii_name = to_ascii(name).lower()
    except (UnicodeError, ValueError) as error:
        raise InvalidDomain(f"not a valid domain name ({error})") from None
    labels = ascii_name.split(".")
    if len(ascii_name) > _MAX_NAME or len(labels) < 2:
        raise InvalidDomain("not a valid domain name")
    if not all(_LABEL.match(label) for label in labels):
        raise InvalidDomain("not a valid domain name")
    return ascii_name
