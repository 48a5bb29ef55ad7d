"""What the inbound authentication check is given and what it answers (SPEC F11).

:class:`Connection` is what the transport saw, :class:`Trust` what the admin configured, and
:class:`AuthResult` the verdict with every part it rests on, stored with the mail as JSON
(:meth:`AuthResult.as_json` / :meth:`AuthResult.from_json`) and shown to agents and admins.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Connection:
    """What the transport saw of the sending host; every part may be unknown (empty)."""

    client_ip: str = ""  # SMTP peer address
    helo: str = ""
    mail_from: str = ""  # envelope sender, "" = null sender


@dataclass(frozen=True)
class Trust:
    """Whose claims about a mail's authentication are believed."""

    # ARC-Seal d= domains whose seals (and so whose ARC-Authentication-Results) are believed.
    arc_sealers: frozenset[str] = frozenset()
    # Authentication-Results authserv-ids added by our own or a trusted forwarder's servers.
    authserv_ids: frozenset[str] = frozenset()
    # False when the SMTP peer is our own MTA or loopback: its address says nothing about
    # the sender, so SPF is not evaluated against it.
    check_spf: bool = True

    def trusts_sealer(self, domain: str) -> bool:
        return _listed(domain, self.arc_sealers)

    def trusts_authserv_id(self, authserv_id: str) -> bool:
        return _listed(authserv_id, self.authserv_ids)


def _listed(name: str, entries: frozenset[str]) -> bool:
    """``name`` is an entry or under one: an admin trusting "google.com" means the seals of
    google.com and the results of mx.google.com alike."""
    name = name.strip().rstrip(".").lower()
    return bool(name) and any(name == entry or name.endswith("." + entry) for entry in entries)


def _spf_default() -> dict[str, Any]:
    return {"result": "not_checked", "domain": "", "aligned": False}


def _dmarc_default() -> dict[str, Any]:
    return {"result": "none", "policy": "", "record_domain": ""}


def _arc_default() -> dict[str, Any]:
    return {"result": "none", "sealer": "", "trusted": False, "dmarc": ""}


@dataclass(frozen=True)
class AuthResult:
    """The verdict on one mail and its parts.

    ``verdict`` is ``pass`` (an aligned pass from our own DKIM/SPF check, a trusted ARC
    sealer or a trusted Authentication-Results header), ``temperror`` (a DNS failure left
    something that could have passed undecided), ``fail`` (no aligned pass; also a From
    header DMARC can't work with) or ``none`` (the message could not be read at all).
    ``reason`` is one plain sentence naming what the verdict rests on.
    """

    verdict: str
    reason: str
    from_domain: str = ""
    spf: dict[str, Any] = field(default_factory=_spf_default)
    dkim: list[dict[str, Any]] = field(default_factory=list)
    dmarc: dict[str, Any] = field(default_factory=_dmarc_default)
    arc: dict[str, Any] = field(default_factory=_arc_default)
    upstream: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """A plain dict (str, bool, list, dict only) of every field, for a JSON column."""
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "from_domain": self.from_domain,
            "spf": copy.deepcopy(self.spf),
            "dkim": copy.deepcopy(self.dkim),
            "dmarc": copy.deepcopy(self.dmarc),
            "arc": copy.deepcopy(self.arc),
            "upstream": copy.deepcopy(self.upstream),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuthResult:
        """The result :meth:`as_json` stored; parts missing from older rows get defaults."""

        def part(name: str, default: dict[str, Any]) -> dict[str, Any]:
            value = data.get(name)
            return {**default, **value} if isinstance(value, dict) else default

        dkim = data.get("dkim")
        return cls(
            verdict=str(data.get("verdict", "none")),
            reason=str(data.get("reason", "")),
            from_domain=str(data.get("from_domain", "")),
            spf=part("spf", _spf_default()),
            dkim=[dict(item) for item in dkim if isinstance(item, dict)]
            if isinstance(dkim, list)
            else [],
            dmarc=part("dmarc", _dmarc_default()),
            arc=part("arc", _arc_default()),
            upstream=part("upstream", {}),
        )
