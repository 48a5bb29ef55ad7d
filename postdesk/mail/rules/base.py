"""What every inbound-mail rule shares: the facts it reads, what it returns, its settings.

A rule (one per module in this package, in the manner of GNU Mailman's rules) is a small object
with a ``name``, a ``description`` for admins, and ``check(facts, context)`` returning a
`RuleHit` or ``None``. Rules only observe: which action a hit leads to is decided by the policy
table in `postdesk.mail.verdict`.

`MailFacts` is filled by the integrator from a parsed mail and from what the desk knows about
itself, so rules need no parser, database or network. `RuleSettings` holds every default of
SPEC F10 and can be built from configuration. Suspension causes use Zendesk's
``suspended_tickets`` vocabulary where it fits (``cause`` / ``cause_id``).
"""

from __future__ import annotations

import email.message
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from postdesk.mail.ratelimit import MailRateLimiter

__all__ = [
    "ZENDESK_CAUSE_IDS",
    "AuthProfile",
    "Cause",
    "Headers",
    "MailFacts",
    "MessageHeaders",
    "Rule",
    "RuleContext",
    "RuleHit",
    "RuleSettings",
    "address_domain",
    "any_entry_matches",
    "headers_from_message",
    "list_entry_matches",
    "subject_pattern",
]


class Cause(StrEnum):
    """Why a mail was suspended, dropped or handled without notifications."""

    SPAM = "spam"
    AUTO_MAILER = "auto_mailer"
    LOOP = "loop"
    AUTO_DELIVERY_FAILURE = "auto_delivery_failure"
    AUTO_VACATION = "auto_vacation"
    SYSTEM_USER = "system_user"
    BLOCKLISTED = "blocklisted"
    FROM_SUPPORT_ADDRESS = "from_support_address"
    FAILED_AUTHENTICATION = "failed_authentication"
    TOO_MANY_CCS = "too_many_ccs"
    MALFORMED = "malformed"
    TOO_LARGE = "too_large"


# Zendesk's cause_id for each cause it has (developer.zendesk.com, "Cause of suspension
# reference"). Zendesk calls failed_authentication "failed_email_authentication" (26).
# too_many_ccs, malformed and too_large have no Zendesk id and are reported without one.
ZENDESK_CAUSE_IDS: dict[Cause, int] = {
    Cause.SPAM: 0,
    Cause.AUTO_MAILER: 3,
    Cause.LOOP: 4,
    Cause.AUTO_DELIVERY_FAILURE: 7,
    Cause.AUTO_VACATION: 8,
    Cause.SYSTEM_USER: 9,
    Cause.BLOCKLISTED: 13,
    Cause.FROM_SUPPORT_ADDRESS: 22,
    Cause.FAILED_AUTHENTICATION: 26,
}


class AuthProfile(StrEnum):
    """Inbound authentication profiles of SPEC F11 (as Zendesk's)."""

    OFF = "off"
    DEFAULT = "default"
    STRICT = "strict"


@runtime_checkable
class Headers(Protocol):
    """Read-only header access; names are case-insensitive, values are unfolded text."""

    def get(self, name: str, default: str = "") -> str: ...

    def get_all(self, name: str) -> list[str]: ...

    def __contains__(self, name: object) -> bool: ...


class MessageHeaders:
    """`Headers` over a stdlib `email.message.Message` (any policy)."""

    def __init__(self, message: email.message.Message) -> None:
        self._message = message

    def get(self, name: str, default: str = "") -> str:
        value = self._message.get(name)
        return default if value is None else _unfold(value)

    def get_all(self, name: str) -> list[str]:
        return [_unfold(value) for value in self._message.get_all(name, [])]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._message


def _unfold(value: object) -> str:
    return " ".join(str(value).split())


def headers_from_message(message: email.message.Message) -> Headers:
    """Adapt a parsed message for `MailFacts.headers`."""
    return MessageHeaders(message)


@dataclass(frozen=True)
class MailFacts:
    """Everything the rules may look at, for one inbound mail.

    Address lists hold lowercased addresses. ``mail_from`` is the envelope sender, "" for the
    null sender (RFC 5321 §4.5.5). The desk's own identity comes last.
    """

    headers: Headers
    mail_from: str = ""
    from_email: str = ""
    from_name: str = ""
    reply_to: Sequence[str] = ()
    to: Sequence[str] = ()
    cc: Sequence[str] = ()
    subject: str = ""
    content_type: str = "text/plain"
    size: int = 0
    message_id: str = ""
    in_reply_to: str = ""
    references: Sequence[str] = ()
    # Set by the integrator from `postdesk.mail.bounces.is_bounce`, which reads the body;
    # None when unknown (the bounce rule then looks at headers only).
    is_bounce: bool | None = None
    # The aligned inbound authentication result of SPEC F11: "pass", "fail" or "none";
    # "" when it was not evaluated.
    authentication: str = ""
    own_addresses: frozenset[str] = frozenset()
    own_domains: frozenset[str] = frozenset()
    loop_header_name: str = "X-Postdesk-Loop"
    instance_id: str = ""
    own_message_id_domain: str = ""
    agent_emails: frozenset[str] = frozenset()

    @property
    def sender(self) -> str:
        """The address that speaks for the mail: From, else the envelope sender."""
        return self.from_email or self.mail_from

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc]


@dataclass(frozen=True)
class RuleHit:
    """A rule's finding: which rule, the cause it implies, and a reason an admin can read."""

    rule: str
    cause: str
    reason: str


@dataclass(frozen=True)
class RuleSettings:
    """Every tunable default of the rules (SPEC F10/F11), with the spec's values."""

    # Local parts of senders that are mail systems, not people (Zendesk: system_user).
    system_local_parts: frozenset[str] = frozenset(
        {
            "mailer-daemon",
            "mailer_daemon",
            "maildaemon",
            "postmaster",
            "no-reply",
            "noreply",
            "no_reply",
            "donotreply",
            "do-not-reply",
            "do_not_reply",
            "bounce",
            "bounces",
        }
    )
    # Above this many To+Cc addresses (not counting our own) a mail is suspended. SPEC F8's
    # cap of 48 CCs on a ticket is applied when the ticket is built, not here.
    too_many_ccs_threshold: int = 100
    # Larger mails are suspended (SMTP already refuses over 50 MB; other transports don't).
    max_message_size: int = 50 * 1024 * 1024
    # Zendesk-style entries: an address, a domain or "@domain"; "reject:" drops instead of
    # suspending. The allowlist wins over both.
    allowlist: tuple[str, ...] = ()
    blocklist: tuple[str, ...] = ()
    auth_profile: AuthProfile = AuthProfile.DEFAULT
    # Extra out-of-office subject patterns (regular expressions, case-insensitive).
    out_of_office_subjects: tuple[str, ...] = ()
    # Per-rule action overrides, by rule name (see `postdesk.mail.verdict.POLICY`).
    actions: tuple[tuple[str, str], ...] = ()

    def action_overrides(self) -> dict[str, str]:
        return dict(self.actions)


@dataclass(frozen=True)
class RuleContext:
    """What a rule may consult besides the mail: settings and, optionally, rate limits."""

    settings: RuleSettings = field(default_factory=RuleSettings)
    limiter: MailRateLimiter | None = None


class Rule(Protocol):
    """One check of the inbound policy."""

    name: str
    description: str

    def check(self, facts: MailFacts, context: RuleContext) -> RuleHit | None: ...


def address_domain(address: str) -> str:
    return address.rpartition("@")[2].lower() if "@" in address else ""


def list_entry_matches(entry: str, address: str) -> bool:
    """Whether an allow/blocklist entry (address, ``domain`` or ``@domain``) covers an address.

    A domain entry also covers its subdomains, as Zendesk's lists do.
    """
    entry = entry.strip().lower()
    address = address.strip().lower()
    if not entry or not address:
        return False
    if "@" in entry and not entry.startswith("@"):
        return entry == address
    domain = entry.lstrip("@")
    actual = address_domain(address)
    return actual == domain or actual.endswith("." + domain)


def any_entry_matches(entries: Iterable[str], addresses: Iterable[str]) -> str | None:
    """The first entry that covers one of the addresses, or None."""
    candidates = [address for address in addresses if address]
    for entry in entries:
        for address in candidates:
            if list_entry_matches(entry, address):
                return entry
    return None


_SUBJECT_PREFIX = r"^\W*(?:(?:re|aw|fw|fwd|sv|vs|antw|wg|tr|rif|r)\s*:\s*)*[\[(]?\s*"


def subject_pattern(alternatives: Iterable[str]) -> re.Pattern[str]:
    """A case-insensitive pattern matching any alternative at the start of a subject, after
    reply/forward prefixes and an opening bracket."""
    return re.compile(_SUBJECT_PREFIX + "(?:" + "|".join(alternatives) + ")", re.IGNORECASE)
