"""Signed identifiers Postdesk puts into outbound mail and later recognises in inbound mail.

Everything here is a pure function of a secret key passed in as bytes (the instance's
``POSTDESK_SECRET_KEY``); there is no global state, so every function can be tested with a
throw-away key. Each kind of token is signed with HMAC-SHA256 under its own purpose label, so a
MAC minted for one kind can never be replayed as another, and every comparison of a MAC is
constant-time (``hmac.compare_digest``).

What lives here:

- **Message-IDs** (RFC 5322 section 3.6.4): ``<pd.{ticket}.{outbound}.{random}.{mac}@{domain}>``
  for each outbound mail and a constant per-ticket reference ``<pd.{ticket}.t.{mac}@{domain}>``
  that every outbound mail of a ticket carries in ``References``. Replies name them in
  ``In-Reply-To``/``References`` and map back to the ticket without a database look-up
  (SPEC F9). The domain is deliberately *not* covered by the MAC: the key is the trust anchor,
  so IDs minted before the desk domain was renamed are still recognised.
- **Ticket tokens** shown in bodies as ``[XXXX-XXXXXX]`` and used in plus addresses
  ``support+xxxx-xxxxxx@desk`` (SPEC F9). See :func:`make_ticket_token` for the length choice.
- **Verification tokens** for forwarding verification (SPEC F3): random, stored hashed by the
  caller, found again in the ``X-Postdesk-Verification`` header, the subject or the body.
- **VERP return paths** (SPEC F12 bounces): ``bounces+{outbound}-{rtag}{mac}@bounce-domain``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "TICKET_TOKEN_ALPHABET",
    "VERIFICATION_HEADER",
    "OwnMessageId",
    "PlusAddress",
    "VerpInfo",
    "find_ticket_token",
    "find_verification_token",
    "hash_token",
    "make_message_id",
    "make_ticket_token",
    "new_verification_token",
    "own_message_ids",
    "plus_address",
    "read_message_id",
    "read_plus_address",
    "read_ticket_token",
    "read_verp",
    "ticket_reference",
    "verp_address",
    "verp_matches",
    "verp_recipient",
]

# Database ids are 64-bit signed integers; anything larger is not one of ours.
_MAX_ID = 2**63 - 1

# RFC 1035 host names: what may stand right of the "@" in the IDs and addresses we mint.
_DOMAIN_RE = re.compile(
    r"(?=.{1,253}\Z)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))*"
)


def _mac(key: bytes, purpose: str, *fields: str) -> bytes:
    """HMAC-SHA256 over a purpose label and fields, separated by NUL so fields can't run together."""
    if not isinstance(key, bytes) or not key:
        raise ValueError("the signing key must be non-empty bytes")
    message = "\x00".join((purpose, *fields)).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).digest()


def _b32(data: bytes, length: int) -> str:
    """Lower-case base32 (RFC 4648 alphabet): survives MTAs and clients that fold case."""
    return base64.b32encode(data).decode("ascii").lower()[:length]


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii", "replace"))


def _check_id(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_ID:
        raise ValueError(f"{what} must be an integer between 0 and {_MAX_ID}")
    return value


def _check_domain(domain: str) -> str:
    domain = domain.strip().lower()
    if not _DOMAIN_RE.fullmatch(domain):
        raise ValueError(f"not a valid mail domain: {domain!r}")
    return domain


def _parse_id(digits: str) -> int | None:
    # Leading zeros would give one id several spellings; we never mint them.
    if not digits.isdigit() or (len(digits) > 1 and digits[0] == "0"):
        return None
    value = int(digits)
    return value if value <= _MAX_ID else None


# --------------------------------------------------------------------------- Message-IDs

_MSGID_MAC_LEN = 16  # 80 bits: forging one needs 2**80 tries; IDs are never rate-limited
_MSGID_RANDOM_LEN = 8  # keeps IDs unique even if outbound ids repeat after a database reset
_TICKET_REF_MARK = "t"
_MSGID_RE = re.compile(
    rf"<?pd\.(\d{{1,19}})\.(?:(\d{{1,19}})\.([a-z2-7]{{{_MSGID_RANDOM_LEN}}})|{_TICKET_REF_MARK})"
    rf"\.([a-z2-7]{{{_MSGID_MAC_LEN}}})@([^<>@\s]+)>?",
    re.IGNORECASE,
)
_ANGLE_ID_RE = re.compile(r"<[^<>\s]{1,998}>")


@dataclass(frozen=True, slots=True)
class OwnMessageId:
    """What a recognised Postdesk Message-ID says.

    ``outbound_id`` is ``None`` for the constant per-ticket reference, which names the ticket
    but no single outbound mail.
    """

    ticket_id: int
    outbound_id: int | None


def make_message_id(key: bytes, domain: str, ticket_id: int, outbound_id: int) -> str:
    """A new signed Message-ID, angle brackets included, for one outbound mail of a ticket."""
    ticket = str(_check_id(ticket_id, "ticket_id"))
    outbound = str(_check_id(outbound_id, "outbound_id"))
    random_part = _b32(secrets.token_bytes(5), _MSGID_RANDOM_LEN)
    mac = _b32(_mac(key, "message-id", ticket, outbound, random_part), _MSGID_MAC_LEN)
    return f"<pd.{ticket}.{outbound}.{random_part}.{mac}@{_check_domain(domain)}>"


def ticket_reference(key: bytes, domain: str, ticket_id: int) -> str:
    """The Message-ID-shaped reference every outbound mail of one ticket carries.

    It is constant for the ticket, so a reply that keeps only the first entry of
    ``References`` (as many clients do when trimming the list) still threads.
    """
    ticket = str(_check_id(ticket_id, "ticket_id"))
    mac = _b32(_mac(key, "ticket-reference", ticket), _MSGID_MAC_LEN)
    return f"<pd.{ticket}.{_TICKET_REF_MARK}.{mac}@{_check_domain(domain)}>"


def read_message_id(key: bytes, message_id: str) -> OwnMessageId | None:
    """Recognise a Message-ID minted by :func:`make_message_id` or :func:`ticket_reference`.

    Returns ``None`` for anything else, including IDs whose MAC doesn't verify (forged or
    minted under another key). Case is ignored because some gateways fold it.
    """
    match = _MSGID_RE.fullmatch(message_id.strip())
    if match is None:
        return None
    ticket_digits, outbound_digits, random_part, mac = match.group(1, 2, 3, 4)
    ticket_id = _parse_id(ticket_digits)
    if ticket_id is None:
        return None
    if outbound_digits is None:
        expected = _mac(key, "ticket-reference", ticket_digits)
        if _same(_b32(expected, _MSGID_MAC_LEN), mac.lower()):
            return OwnMessageId(ticket_id=ticket_id, outbound_id=None)
        return None
    outbound_id = _parse_id(outbound_digits)
    if outbound_id is None:
        return None
    expected = _mac(key, "message-id", ticket_digits, outbound_digits, random_part.lower())
    if _same(_b32(expected, _MSGID_MAC_LEN), mac.lower()):
        return OwnMessageId(ticket_id=ticket_id, outbound_id=outbound_id)
    return None


def own_message_ids(key: bytes, header_value: str) -> list[OwnMessageId]:
    """Every Postdesk Message-ID in an ``In-Reply-To`` or ``References`` value, in order."""
    found: list[OwnMessageId] = []
    for candidate in _ANGLE_ID_RE.findall(header_value):
        own = read_message_id(key, candidate)
        if own is not None:
            found.append(own)
    return found


# --------------------------------------------------------------------------- ticket tokens

# No 0/O, 1/I/L or U/V pair: customers retype these tokens from screenshots and print-outs.
TICKET_TOKEN_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_BASE = len(TICKET_TOKEN_ALPHABET)
_TOKEN_ID_MIN = 4
_TOKEN_ID_MAX = 7  # 30**7 ≈ 2.2e10 tickets
_TOKEN_MAC_LEN = 6  # 30**6 ≈ 7.3e8, about 29 bits
# A body may carry many token-shaped strings; only this many are checked, so one mail can't
# be used to try thousands of guesses at once.
_TOKEN_CANDIDATES = 5
_TOKEN_CLASS = "[" + TICKET_TOKEN_ALPHABET + TICKET_TOKEN_ALPHABET.lower() + "]"
_TOKEN_PATTERN = (
    f"({_TOKEN_CLASS}{{{_TOKEN_ID_MIN},{_TOKEN_ID_MAX}}})-({_TOKEN_CLASS}{{{_TOKEN_MAC_LEN}}})"
)
_BRACKETED_TOKEN_RE = re.compile(rf"\[{_TOKEN_PATTERN}\]")
_BARE_TOKEN_RE = re.compile(_TOKEN_PATTERN)


def _encode_base30(value: int, width: int) -> str:
    digits: list[str] = []
    while value:
        value, digit = divmod(value, _BASE)
        digits.append(TICKET_TOKEN_ALPHABET[digit])
    return "".join(reversed(digits)).rjust(width, TICKET_TOKEN_ALPHABET[0])


def _decode_base30(text: str) -> int:
    value = 0
    for char in text:
        value = value * _BASE + TICKET_TOKEN_ALPHABET.index(char)
    return value


def _token_mac(key: bytes, ticket_id: int) -> str:
    digest = int.from_bytes(_mac(key, "ticket-token", str(ticket_id)), "big")
    # 256 bits reduced modulo 30**6: the bias is far below anything measurable.
    return _encode_base30(digest % _BASE**_TOKEN_MAC_LEN, _TOKEN_MAC_LEN)


def make_ticket_token(key: bytes, ticket_id: int) -> str:
    """The ticket's token without brackets, e.g. ``2226-K9QX4T``.

    The token has to carry the ticket id (no database look-up when reading it) *and* enough
    signature to resist guessing. The 8 characters of ``XXXX-XXXX`` hold only ~39 bits, which
    would leave about 20 bits of signature once the id is in, so the signature group has six
    characters (~29 bits) and the id group four to seven. Together with the candidate cap in
    :func:`find_ticket_token` and per-sender rate limits that makes guessing a token for a
    chosen ticket impractical. The id group is the ticket number in base 30, which is no secret:
    it is in the subject marker ``[#id]`` anyway.
    """
    _check_id(ticket_id, "ticket_id")
    if ticket_id >= _BASE**_TOKEN_ID_MAX:
        raise ValueError("ticket_id is too large for a ticket token")
    return f"{_encode_base30(ticket_id, _TOKEN_ID_MIN)}-{_token_mac(key, ticket_id)}"


def _ticket_from_groups(key: bytes, id_group: str, mac_group: str) -> int | None:
    id_group, mac_group = id_group.upper(), mac_group.upper()
    # One spelling per ticket: a longer id group than needed is padding nobody minted.
    if len(id_group) > _TOKEN_ID_MIN and id_group[0] == TICKET_TOKEN_ALPHABET[0]:
        return None
    ticket_id = _decode_base30(id_group)
    if ticket_id > _MAX_ID:
        return None
    return ticket_id if _same(_token_mac(key, ticket_id), mac_group) else None


def read_ticket_token(key: bytes, token: str) -> int | None:
    """The ticket id of one token (``XXXX-XXXXXX``, brackets optional), or ``None``."""
    match = _BARE_TOKEN_RE.fullmatch(token.strip().strip("[]"))
    if match is None:
        return None
    return _ticket_from_groups(key, match.group(1), match.group(2))


def find_ticket_token(key: bytes, text: str) -> int | None:
    """The ticket id of the first valid ``[XXXX-XXXXXX]`` token anywhere in ``text``.

    Quoted history often carries tokens of *other* tickets (a customer forwarding an old
    thread), so the first valid one wins: it is the one nearest the top, in the new text.
    """
    for index, match in enumerate(_BRACKETED_TOKEN_RE.finditer(text)):
        if index >= _TOKEN_CANDIDATES:
            break
        ticket_id = _ticket_from_groups(key, match.group(1), match.group(2))
        if ticket_id is not None:
            return ticket_id
    return None


@dataclass(frozen=True, slots=True)
class PlusAddress:
    """A recognised ``local+token@domain`` address: the base address and the ticket."""

    address: str
    ticket_id: int


def plus_address(key: bytes, address: str, ticket_id: int) -> str:
    """``support@desk`` → ``support+2226-k9qx4t@desk`` for the ticket.

    Lower case because many MTAs fold the case of local parts on the way.
    """
    local, at, domain = address.rpartition("@")
    if not at or not local or "+" in local:
        raise ValueError(f"not a plain address to extend: {address!r}")
    return f"{local}+{make_ticket_token(key, ticket_id).lower()}@{domain}"


def read_plus_address(key: bytes, address: str) -> PlusAddress | None:
    """Recognise an address minted by :func:`plus_address`; ``None`` for anything else."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    base, plus, token = local.rpartition("+")
    if not at or not plus or not base or not domain:
        return None
    ticket_id = read_ticket_token(key, token)
    if ticket_id is None:
        return None
    return PlusAddress(address=f"{base}@{domain}", ticket_id=ticket_id)


# --------------------------------------------------------------------------- verification

VERIFICATION_HEADER = "X-Postdesk-Verification"
_VERIFICATION_PREFIX = "pdv-"
_VERIFICATION_RE = re.compile(r"(?<![A-Za-z0-9-])pdv-[a-z2-7]{32}(?![A-Za-z0-9])", re.IGNORECASE)


def new_verification_token() -> tuple[str, str]:
    """A fresh forwarding-verification token and the SHA-256 hex digest to store.

    160 random bits; the token itself is only ever in the test mail. The caller stores the
    digest together with the address id, the expiry and a used-at mark: that row is what binds
    the token to one address and one attempt, and what makes a replayed token worthless.
    The recognisable ``pdv-`` prefix lets :func:`find_verification_token` pick it out of a
    subject or body that forwarders have rewritten.
    """
    token = _VERIFICATION_PREFIX + _b32(secrets.token_bytes(20), 32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """SHA-256 hex of a token as stored at rest.

    Case is folded first: tokens are minted in lower case and some forwarders upper-case
    subjects. A fast hash is right here because the token has 160 random bits.
    """
    return hashlib.sha256(token.strip().lower().encode("utf-8")).hexdigest()


def find_verification_token(
    *, header: str | None = None, subject: str | None = None, body: str | None = None
) -> str | None:
    """The verification token of a returning test mail, looked for in header, subject, body.

    The header is tried first because it is exact; forwarders that drop unknown headers
    usually keep the subject; the body is the last resort (some forwarders wrap the original
    as an attachment whose text is all that is left).
    """
    for text in (header, subject, body):
        if text:
            match = _VERIFICATION_RE.search(text)
            if match is not None:
                return match.group(0).lower()
    return None


# --------------------------------------------------------------------------- VERP

_VERP_LOCAL = "bounces"
_VERP_TAG_LEN = 8  # tells the recipients of one mail apart; not a security boundary
_VERP_MAC_LEN = 16  # 80 bits: proves the return path is ours without a database
_VERP_RE = re.compile(
    rf"([^+@\s]+)\+(\d{{1,19}})-([a-z2-7]{{{_VERP_TAG_LEN}}})([a-z2-7]{{{_VERP_MAC_LEN}}})",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class VerpInfo:
    """A recognised VERP return path: which outbound mail, and a tag naming the recipient.

    The recipient itself is not in the address; :func:`verp_recipient` finds which of the
    mail's recipients the tag belongs to.
    """

    outbound_id: int
    recipient_tag: str


def _recipient_tag(key: bytes, outbound: str, recipient: str) -> str:
    return _b32(_mac(key, "verp-recipient", outbound, recipient.strip().lower()), _VERP_TAG_LEN)


def verp_address(key: bytes, bounce_domain: str, outbound_id: int, recipient: str) -> str:
    """The envelope sender (MAIL FROM) for one recipient of one outbound mail.

    ``bounces+{outbound}-{tag}{mac}@{bounce_domain}``. The recipient is bound by the tag, not
    spelled out: spelling it (``bounces+123-bob=example.com@…``) would overflow the 64-octet
    local-part limit of RFC 5321 for long addresses, break on addresses with quotes or UTF-8,
    and show the recipient to every system that logs the return path. The local part is at
    most 8 + 1 + 19 + 1 + 24 = 53 octets.
    """
    outbound = str(_check_id(outbound_id, "outbound_id"))
    tag = _recipient_tag(key, outbound, recipient)
    mac = _b32(_mac(key, "verp", outbound, tag), _VERP_MAC_LEN)
    return f"{_VERP_LOCAL}+{outbound}-{tag}{mac}@{_check_domain(bounce_domain)}"


def read_verp(key: bytes, address: str) -> VerpInfo | None:
    """Recognise a return path minted by :func:`verp_address` (the domain is the caller's check)."""
    local, at, _domain = address.strip().strip("<>").rpartition("@")
    match = _VERP_RE.fullmatch(local) if at else None
    if match is None or match.group(1).lower() != _VERP_LOCAL:
        return None
    outbound_id = _parse_id(match.group(2))
    if outbound_id is None:
        return None
    tag, mac = match.group(3).lower(), match.group(4).lower()
    expected = _b32(_mac(key, "verp", match.group(2), tag), _VERP_MAC_LEN)
    if not _same(expected, mac):
        return None
    return VerpInfo(outbound_id=outbound_id, recipient_tag=tag)


def verp_matches(key: bytes, info: VerpInfo, recipient: str) -> bool:
    """Whether ``recipient`` is the recipient the return path was minted for."""
    return _same(_recipient_tag(key, str(info.outbound_id), recipient), info.recipient_tag)


def verp_recipient(key: bytes, info: VerpInfo, recipients: Iterable[str]) -> str | None:
    """Which of the outbound mail's recipients bounced, or ``None`` if none matches."""
    for recipient in recipients:
        if verp_matches(key, info, recipient):
            return recipient
    return None
