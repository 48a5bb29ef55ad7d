"""DKIM for outbound mail: per-domain keys, the DNS records to publish, and fast signing.

Implements the signer side of RFC 6376 (DomainKeys Identified Mail) with relaxed/relaxed
canonicalisation (section 3.4.2 and 3.4.4), ``rsa-sha256`` (RFC 8301: SHA-1 never, RSA keys of
at least 1024 bits, 2048 generated) and ``ed25519-sha256`` (RFC 8463) as an optional second
signature. Canonicalisation is done here on bytes with a handful of regular expressions and the
signature itself by the ``cryptography`` package (OpenSSL): dkimpy, which the tests use as the
independent verifier, does RSA in pure Python and signs an order of magnitude slower.

What lives here:

- :func:`generate_key` / :func:`key_from_pem`: a key as :class:`DkimKey`, whose
  :meth:`DkimKey.txt_record` is the exact ``v=DKIM1; k=rsa; p=…`` value to publish and
  :meth:`DkimKey.txt_strings` the same split into DNS character-strings of at most 255 octets.
- :func:`selector_name` / :func:`other_slot`: two selector slots per algorithm, so a new key can
  be published under the idle selector before signing switches to it (rotation without a gap).
- :func:`sign`: the ``DKIM-Signature`` header field for a message, to be *prepended* to exactly
  the bytes that are sent; :func:`sign_message` prepends one signature per key and returns the
  signed message.

Keys are PEM: RSA keys in the traditional PKCS#1 form (``BEGIN RSA PRIVATE KEY``) that dkimpy
and OpenDKIM read as well; Ed25519 keys in PKCS#8, the only PEM form defined for them.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final, Literal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

__all__ = [
    "OVERSIGNED_HEADERS",
    "SELECTOR_SLOTS",
    "SIGNED_HEADERS",
    "Algorithm",
    "DkimError",
    "DkimKey",
    "SigningKey",
    "canonicalize_body",
    "canonicalize_header",
    "generate_key",
    "key_from_pem",
    "other_slot",
    "record_name",
    "selector_name",
    "sign",
    "sign_message",
    "split_txt",
]

Algorithm = Literal["rsa-sha256", "ed25519-sha256"]
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

SELECTOR_SLOTS: Final = (1, 2)

# Signed when present: what a reader sees and what threading and loop control depend on.
SIGNED_HEADERS: Final = (
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "auto-submitted",
    "x-auto-response-suppress",
    "x-postdesk-loop",
)
# Signed once more than they occur (RFC 6376 8.15), so nobody on the way can add a second
# From, a Reply-To or a Cc without breaking the signature. From is the one that matters most:
# DMARC shows the top From while a verifier might pick another.
OVERSIGNED_HEADERS: Final = (
    "from",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
)

_MIN_RSA_BITS: Final = 1024  # RFC 8301 3.2: verifiers must reject smaller keys
_TXT_STRING_LIMIT: Final = 255  # RFC 1035 3.3: one character-string
_FOLD_WIDTH: Final = 76
_NAME_RE: Final = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*")
_HEADER_NAME_RE: Final = re.compile(r"[!-9;-~]+")
_BARE_LF: Final = re.compile(rb"(?<!\r)\n")
_WSP_RUN: Final = re.compile(rb"[ \t]+")
_TRAILING_CRLFS: Final = re.compile(rb"(?:\r\n)+\Z")


class DkimError(ValueError):
    """A message, key or parameter that can't be signed as asked."""


# --------------------------------------------------------------------------- keys and DNS


def selector_name(slot: int, algorithm: Algorithm = "rsa-sha256") -> str:
    """The selector for a rotation slot: ``postdesk1``/``postdesk2`` (RSA) or ``…-ed25519``.

    RFC 8463 asks for separate selectors per key type, so the optional Ed25519 key has its own
    pair of slots.
    """
    if slot not in SELECTOR_SLOTS:
        raise DkimError(f"selector slot must be one of {SELECTOR_SLOTS}")
    return f"postdesk{slot}" if algorithm == "rsa-sha256" else f"postdesk{slot}-ed25519"


def other_slot(slot: int) -> int:
    """The idle slot, where the next key is published while the current one still signs."""
    if slot not in SELECTOR_SLOTS:
        raise DkimError(f"selector slot must be one of {SELECTOR_SLOTS}")
    return SELECTOR_SLOTS[0] if slot == SELECTOR_SLOTS[1] else SELECTOR_SLOTS[1]


def record_name(selector: str, domain: str) -> str:
    """The DNS name of a selector's key record (RFC 6376 3.6.2.1)."""
    return f"{_check_name(selector, 'selector')}._domainkey.{_check_name(domain, 'domain')}"


def split_txt(value: str, limit: int = _TXT_STRING_LIMIT) -> tuple[str, ...]:
    """A TXT value as DNS character-strings of at most ``limit`` octets.

    A 2048-bit RSA record is about 410 octets, more than one string holds; resolvers hand the
    strings back concatenated without separators (RFC 6376 3.6.2.2).
    """
    data = value.encode("ascii")
    return tuple(data[i : i + limit].decode("ascii") for i in range(0, len(data), limit)) or ("",)


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A DKIM private key and its public half as published in DNS."""

    algorithm: Algorithm
    private_key_pem: str = field(repr=False)
    public_key: str  # base64, the p= tag

    @property
    def key_type(self) -> str:
        return "rsa" if self.algorithm == "rsa-sha256" else "ed25519"

    def txt_record(self) -> str:
        """The exact TXT value to publish at ``record_name(selector, domain)``."""
        return f"v=DKIM1; k={self.key_type}; p={self.public_key}"

    def txt_strings(self) -> tuple[str, ...]:
        """:meth:`txt_record` split for DNS (each string at most 255 octets)."""
        return split_txt(self.txt_record())

    def zone_entry(self, selector: str, domain: str) -> str:
        """A zone-file line an admin can paste, strings quoted and joined as BIND expects."""
        strings = " ".join(f'"{part}"' for part in self.txt_strings())
        return f"{record_name(selector, domain)}. IN TXT ( {strings} )"


def _public_key_b64(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        # RFC 8463 4.2: the bare 32-octet key, not wrapped in SubjectPublicKeyInfo.
        der = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    return base64.b64encode(der).decode("ascii")


def _private_pem(key: PrivateKey) -> str:
    key_format = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if isinstance(key, rsa.RSAPrivateKey)
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(
        serialization.Encoding.PEM, key_format, serialization.NoEncryption()
    ).decode("ascii")


def generate_key(algorithm: Algorithm = "rsa-sha256", *, rsa_bits: int = 2048) -> DkimKey:
    """A new key for one domain (RSA-2048 by default, or Ed25519)."""
    key: PrivateKey
    if algorithm == "rsa-sha256":
        if rsa_bits < _MIN_RSA_BITS:
            raise DkimError(f"RSA keys need at least {_MIN_RSA_BITS} bits")
        key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    elif algorithm == "ed25519-sha256":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise DkimError(f"unknown algorithm {algorithm!r}")
    return DkimKey(
        algorithm=algorithm, private_key_pem=_private_pem(key), public_key=_public_key_b64(key)
    )


def key_from_pem(private_key_pem: str | bytes) -> DkimKey:
    """The :class:`DkimKey` (and so the DNS record) of a stored private key."""
    key = _load_key(_pem_bytes(private_key_pem))
    algorithm: Algorithm = "rsa-sha256" if isinstance(key, rsa.RSAPrivateKey) else "ed25519-sha256"
    pem = private_key_pem if isinstance(private_key_pem, str) else private_key_pem.decode("ascii")
    return DkimKey(algorithm=algorithm, private_key_pem=pem, public_key=_public_key_b64(key))


def _pem_bytes(pem: str | bytes) -> bytes:
    return pem.encode("ascii") if isinstance(pem, str) else pem


@lru_cache(maxsize=64)
def _load_key(pem: bytes) -> PrivateKey:
    # Parsing and checking an RSA key costs about as much as a signature; a worker signs
    # thousands of mails with the same few keys, so each is parsed once.
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise DkimError(f"not a usable PEM private key: {error}") from error
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < _MIN_RSA_BITS:
            raise DkimError(f"RSA keys need at least {_MIN_RSA_BITS} bits")
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise DkimError("DKIM keys are RSA or Ed25519")


def _check_name(value: str, what: str) -> str:
    # Domain and selector come from the database and end up inside a header: same rules as
    # any other header input, plus DNS syntax.
    if not _NAME_RE.fullmatch(value) or len(value) > 253:
        raise DkimError(f"{what} {value!r} is not a valid DNS name")
    return value.lower()


# --------------------------------------------------------------------------- canonicalisation


def canonicalize_body(body: bytes) -> bytes:
    """The relaxed body canonicalisation of RFC 6376 3.4.4 (CRLF line ends expected).

    Runs of spaces and tabs become one space, whitespace at line ends goes, empty lines at the
    end go, and a non-empty body ends in exactly one CRLF. An empty body stays empty.
    """
    body = _WSP_RUN.sub(b" ", body)
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    body = body.replace(b" \r\n", b"\r\n")
    body = _TRAILING_CRLFS.sub(b"", body)
    return body + b"\r\n" if body else b""


def canonicalize_header(field_bytes: bytes) -> bytes:
    """The relaxed canonical form of one header field (RFC 6376 3.4.2), without the CRLF."""
    name, _, value = field_bytes.partition(b":")
    value = _WSP_RUN.sub(b" ", value.replace(b"\r\n", b"")).strip(b" ")
    return name.rstrip(b" \t").lower() + b":" + value


def _normalise_line_ends(message: bytes) -> bytes:
    # What goes on the wire has CRLF line ends (RFC 5321 2.3.8); MTAs turn bare LFs into
    # CRLF when sending, so that is the form the signature must cover.
    if message.count(b"\n") != message.count(b"\r\n"):
        message = _BARE_LF.sub(b"\r\n", message)
    return message


def _split(message: bytes) -> tuple[list[tuple[str, bytes]], bytes]:
    """Header fields as (lower-case name, raw field without final CRLF) and the body."""
    end = message.find(b"\r\n\r\n")
    if end == -1:
        header_block, body = message.removesuffix(b"\r\n"), b""
    else:
        header_block, body = message[:end], message[end + 4 :]
    fields: list[tuple[str, bytes]] = []
    for line in header_block.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + b"\r\n" + line)
            continue
        name_bytes, colon, _ = line.partition(b":")
        if not colon or not name_bytes.strip():
            raise DkimError("the message has a malformed header line")
        fields.append((name_bytes.strip().decode("ascii", "replace").lower(), line))
    return fields, body


def _header_list(
    fields: Sequence[tuple[str, bytes]], headers: Iterable[str], oversign: Iterable[str]
) -> list[str]:
    """The ``h=`` list: each signed name once per occurrence, oversigned names once more."""
    present = Counter(name for name, _ in fields)
    extra = {name.lower() for name in oversign}
    names: list[str] = []
    for name in dict.fromkeys([*(h.lower() for h in headers), *extra]):
        if not _HEADER_NAME_RE.fullmatch(name):
            raise DkimError(f"{name!r} is not a header field name")
        names.extend([name] * (present[name] + (1 if name in extra else 0)))
    if "from" not in present or "from" not in names:
        raise DkimError("a DKIM signature must cover the From header (RFC 6376 5.4)")
    return names


def _selected(fields: Sequence[tuple[str, bytes]], names: Sequence[str]) -> list[bytes]:
    """The fields ``h=`` names, each repeated name taking the next instance from the bottom.

    RFC 6376 5.4.2; a name with no instance left (oversigning) contributes nothing.
    """
    stacks: dict[str, list[bytes]] = {}
    for name, raw in fields:
        stacks.setdefault(name, []).append(raw)
    chosen: list[bytes] = []
    for name in names:
        stack = stacks.get(name)
        if stack:
            chosen.append(stack.pop())
    return chosen


# --------------------------------------------------------------------------- signing


def _fold(atoms: Sequence[tuple[str, str]]) -> list[str]:
    """Lay out ``(separator, atom)`` pairs after ``DKIM-Signature:`` in lines of ~76 columns.

    Folds only where RFC 6376 allows FWS: between tags and around the colons of ``h=``.
    """
    lines: list[str] = []
    line = "DKIM-Signature:"
    for separator, atom in atoms:
        if len(line) + len(separator) + len(atom) > _FOLD_WIDTH:
            lines.append(line)
            line = "\t" + atom
        else:
            line += separator + atom
    lines.append(line)
    return lines


def _signature_atoms(
    tags: Sequence[tuple[str, str]], header_names: Sequence[str]
) -> list[tuple[str, str]]:
    atoms: list[tuple[str, str]] = [(" ", f"{tag}={value};") for tag, value in tags]
    last = len(header_names) - 1
    for index, name in enumerate(header_names):
        text = ("h=" if index == 0 else "") + name + (";" if index == last else ":")
        atoms.append((" " if index == 0 else "", text))
    return atoms


def _append_b_value(lines: list[str], signature_b64: str) -> str:
    # Whitespace inside b= is removed by the verifier together with the value (RFC 6376
    # 3.5), so the signature can be folded anywhere.
    room = max(_FOLD_WIDTH - len(lines[-1]), 0)
    first, rest = signature_b64[:room], signature_b64[room:]
    lines[-1] += first
    width = _FOLD_WIDTH - 1
    lines.extend("\t" + rest[i : i + width] for i in range(0, len(rest), width))
    return "\r\n".join(lines) + "\r\n"


def _raw_signature(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    # RFC 8463 3: Ed25519 (pure) over the SHA-256 hash of the canonicalised data.
    return key.sign(hashlib.sha256(data).digest())


def sign(
    message: bytes,
    *,
    domain: str,
    selector: str,
    private_key_pem: str | bytes,
    algorithm: Algorithm = "rsa-sha256",
    headers: Iterable[str] = SIGNED_HEADERS,
    oversign: Iterable[str] = OVERSIGNED_HEADERS,
    timestamp: int | None = None,
) -> bytes:
    """The ``DKIM-Signature`` header field for ``message``, folded and CRLF-terminated.

    Prepend it to the message and send exactly those bytes. ``message`` should have CRLF line
    ends (as :func:`postdesk.mail.compose.compose` makes); bare LFs are signed as the CRLFs
    they become on the wire. ``headers`` are signed as often as they occur, ``oversign`` once
    more (see :data:`OVERSIGNED_HEADERS`); ``From`` must be among them.
    """
    key = _load_key(_pem_bytes(private_key_pem))
    expected_type = rsa.RSAPrivateKey if algorithm == "rsa-sha256" else ed25519.Ed25519PrivateKey
    if algorithm not in ("rsa-sha256", "ed25519-sha256") or not isinstance(key, expected_type):
        raise DkimError(f"the key does not fit the algorithm {algorithm!r}")

    fields, body = _split(_normalise_line_ends(message))
    header_names = _header_list(fields, headers, oversign)
    body_hash = base64.b64encode(hashlib.sha256(canonicalize_body(body)).digest()).decode("ascii")
    tags = (
        ("v", "1"),
        ("a", algorithm),
        ("c", "relaxed/relaxed"),
        ("d", _check_name(domain, "domain")),
        ("s", _check_name(selector, "selector")),
        ("t", str(int(time.time()) if timestamp is None else timestamp)),
    )
    atoms = _signature_atoms(tags, header_names)
    atoms += [(" ", f"bh={body_hash};"), (" ", "b=")]
    lines = _fold(atoms)

    signed_data = b"".join(
        canonicalize_header(raw) + b"\r\n" for raw in _selected(fields, header_names)
    )
    # The signature header itself is hashed last, with an empty b= and no trailing CRLF.
    signed_data += canonicalize_header("\r\n".join(lines).encode("ascii"))
    signature_b64 = base64.b64encode(_raw_signature(key, signed_data)).decode("ascii")
    return _append_b_value(lines, signature_b64).encode("ascii")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key a domain signs with, as the outbound worker loads it."""

    domain: str
    selector: str
    private_key_pem: str = field(repr=False)
    algorithm: Algorithm = "rsa-sha256"


def sign_message(
    message: bytes, keys: Sequence[SigningKey], *, timestamp: int | None = None
) -> bytes:
    """``message`` (CRLF line ends) with one ``DKIM-Signature`` per key prepended.

    The first key's signature ends up on top. Each signature covers the message as composed
    and not the other signatures, so their order doesn't matter to verifiers.
    """
    message = _normalise_line_ends(message)
    signatures = [
        sign(
            message,
            domain=key.domain,
            selector=key.selector,
            private_key_pem=key.private_key_pem,
            algorithm=key.algorithm,
            timestamp=timestamp,
        )
        for key in keys
    ]
    return b"".join(signatures) + message
