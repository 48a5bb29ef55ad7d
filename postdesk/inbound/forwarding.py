"""How many forwarding hops a mail went through, from the traces forwarders leave (SPEC F8).

A customer's mail normally reaches the desk through one forwarding hop: their mail server
forwards ``help@company.example`` to the hosted address. When it went through several (a
personal mailbox forwarding to the company address, which forwards to us), the requester
Postdesk sees may not be the person who wrote: the ticket is flagged so an admin can see why.

Each kind of trace is counted on its own and the largest count is the estimate, because
forwarders leave different traces and the same hop often leaves several:

* ``Received`` fields (RFC 5321 section 4.4) name the envelope recipient in their ``for``
  clause; each change of recipient along the path is a forwarding (or alias) hop;
* ``X-Forwarded-To`` (Gmail, Fastmail and others) is added once per forwarding;
* ``ARC-Seal`` (RFC 8617): every intermediary that forwards with ARC adds a set with the
  next instance number ``i=``;
* ``Resent-From`` (RFC 5322 section 3.6.6): one block per re-sending by a user agent.

Pure functions over ``Headers``: no database, no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from postdesk.mail.addresses import normalize_email
from postdesk.mail.headers import Headers

# Two or more hops is a chain: one hop is the desk's own forwarding setup.
CHAINED_HOPS = 2

_RECEIVED_FOR = re.compile(r"\bfor\s+<?([^\s<>;@]+@[^\s<>;]+?)>?\s*(?:;|\(|$)", re.I)
_ARC_INSTANCE = re.compile(r"(?:^|;)\s*i\s*=\s*(\d{1,3})\b")


@dataclass(frozen=True)
class ForwardingTrace:
    """The estimated number of forwarding hops and what each kind of trace said."""

    hops: int
    evidence: dict[str, int] = field(default_factory=dict)

    @property
    def chained(self) -> bool:
        return self.hops >= CHAINED_HOPS


def received_for_hops(headers: Headers) -> int:
    """Changes of envelope recipient along the ``Received`` path (oldest hop first)."""
    recipients: list[str] = []
    for value in reversed(headers.get_all("Received")):
        match = _RECEIVED_FOR.search(value)
        if match is None:
            continue
        recipient = normalize_email(match.group(1))
        if not recipients or recipients[-1] != recipient:
            recipients.append(recipient)
    return len(set(recipients)) - 1 if recipients else 0


def forwarded_to_hops(headers: Headers) -> int:
    """Distinct ``X-Forwarded-To`` targets: one per forwarding mailbox."""
    return len({normalize_email(value) for value in headers.get_all("X-Forwarded-To") if value})


def arc_hops(headers: Headers) -> int:
    """The highest ARC instance number: one per ARC-sealing intermediary."""
    instances = [
        int(match.group(1))
        for value in headers.get_all("ARC-Seal")
        if (match := _ARC_INSTANCE.search(value)) is not None
    ]
    return min(max(instances, default=0), 50)  # RFC 8617 section 4.2.1 caps i at 50


def resent_hops(headers: Headers) -> int:
    return len(headers.get_all("Resent-From"))


def forwarding_trace(headers: Headers) -> ForwardingTrace:
    evidence = {
        "received_for": received_for_hops(headers),
        "x_forwarded_to": forwarded_to_hops(headers),
        "arc": arc_hops(headers),
        "resent": resent_hops(headers),
    }
    return ForwardingTrace(hops=max(evidence.values()), evidence=evidence)
