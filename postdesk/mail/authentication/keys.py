"""DKIM and ARC public keys fetched through the :class:`~postdesk.dns.resolver.Lookup` seam.

dkimpy asks for a key with ``dnsfunc(name, timeout=…)`` (``name`` as bytes with the final
dot) and wants the TXT record back as bytes. It turns every key problem into a bare ``False``
and swallows its own DNS timeout error, which would make a missing key, a broken key and a
resolver outage look like a bad signature. So :func:`key_dnsfunc` checks the record itself
and raises :class:`KeyProblem` for a permanent problem; a
:class:`~postdesk.dns.resolver.LookupFailed` passes through dkimpy untouched (it isn't one
of dkimpy's exceptions), which is how the caller tells a temporary error apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

import dkim

from postdesk.dns.dkim import parse_tags
from postdesk.dns.resolver import Lookup

# A 4096-bit RSA key record is about 750 characters. A longer record is refused before
# dkimpy does RSA in pure Python with whatever modulus and exponent it holds.
MAX_KEY_RECORD: Final = 2048

# dkimpy logs every failed signature at ERROR; for inbound mail that's normal, not an error.
QUIET_LOGGER: Final = logging.getLogger("postdesk.mail.authentication.dkimpy")
QUIET_LOGGER.addHandler(logging.NullHandler())
QUIET_LOGGER.propagate = False

DnsFunc = Callable[..., bytes]


class KeyProblem(dkim.DKIMException):  # type: ignore[misc]
    """The key a signature names can't be used: missing, too long or not a key.

    One of dkimpy's exceptions so that its ARC verifier counts an older set's missing key
    as that signature not verifying (RFC 8617 only needs the newest ARC-Message-Signature);
    its DKIM verifier lets it through to the caller, which reports it as a ``permerror``."""


def key_dnsfunc(lookup: Lookup) -> DnsFunc:
    """A dnsfunc for dkimpy answering from ``lookup``; each key is asked and checked once per
    dnsfunc, so one mail's DKIM and ARC checks share one (an ARC set's seal and message
    signature usually share a key, and a forwarder often signs and seals with the same)."""
    answers: dict[bytes, bytes | KeyProblem] = {}

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes:
        if name not in answers:
            try:
                answers[name] = _fetch(lookup, name)
            except KeyProblem as problem:
                answers[name] = problem
        answer = answers[name]
        if isinstance(answer, KeyProblem):
            raise answer
        return answer

    return dnsfunc


def _fetch(lookup: Lookup, name: bytes) -> bytes:
    try:
        text = name.decode("ascii").rstrip(".")
    except UnicodeDecodeError:
        raise KeyProblem("the key name is not ASCII") from None
    records = lookup(text, "TXT")
    if not records:
        raise KeyProblem(f"no key published at {text}")
    # Several TXT records at a key name: take the one that is a key record (has a p= tag).
    record = next((txt for txt in records if "p" in (parse_tags(txt) or {})), records[0])
    if len(record) > MAX_KEY_RECORD:
        raise KeyProblem(f"the key record at {text} is too long")
    data = record.encode("utf-8")
    try:
        dkim.evaluate_pk(name, data)
    except Exception as error:  # dkimpy raises KeyFormatError, binascii and nacl errors
        # dkimpy's message can hold the whole p= value; the start says what's wrong.
        raise KeyProblem(f"the key at {text} is not usable: {str(error)[:100]}") from None
    return data
