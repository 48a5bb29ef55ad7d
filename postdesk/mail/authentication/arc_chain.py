"""Validating a mail's ARC chain (RFC 8617) with dkimpy, keys through the lookup seam.

``pass`` means dkimpy validated the whole chain: every ARC-Seal, the latest
ARC-Message-Signature and the ``cv=`` of each set. Then the latest set's
ARC-Authentication-Results are what its sealer (the ``d=`` of the latest ARC-Seal) saw
before it changed the mail, and the caller decides whether that sealer is believed.
A chain over :data:`MAX_INSTANCES` sets is refused unverified (RFC 8617 4.2.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import dkim
from dkim.util import parse_tag_value

from postdesk.dns.resolver import LookupFailed

from .keys import QUIET_LOGGER, DnsFunc, KeyProblem
from .message import RawMail

MAX_INSTANCES: Final = 50
_ARC_FIELDS: Final = frozenset(
    {b"arc-seal", b"arc-message-signature", b"arc-authentication-results"}
)


@dataclass(frozen=True)
class ArcCheck:
    result: str  # pass | fail | none
    sealer: str = ""  # d= of the latest ARC-Seal
    aar: str = ""  # the latest set's ARC-Authentication-Results, when the chain passed
    lookup_failed: bool = False
    problem: str = ""


def _latest_seal(mail: RawMail) -> tuple[int, str]:
    """The highest ``i=`` among the ARC-Seals and that seal's ``d=`` (0, "" when none)."""
    latest, sealer = 0, ""
    for name, value in mail.headers:
        if name.lower() != b"arc-seal":
            continue
        try:
            tags = parse_tag_value(value)
            instance = int(tags.get(b"i", b"0"))
        except Exception:  # an unreadable seal; dkimpy's verification reports it
            instance = 0
        if instance > latest:
            latest = instance
            sealer = tags.get(b"d", b"").decode("ascii", "replace").strip().lower()
    return latest, sealer


def verify_chain(mail: RawMail, keys: DnsFunc) -> ArcCheck:
    """The chain of ``mail`` checked; keys through ``keys`` (see :func:`~.keys.key_dnsfunc`)."""
    if not any(name.lower() in _ARC_FIELDS for name, _ in mail.headers):
        return ArcCheck("none")
    latest, sealer = _latest_seal(mail)
    if latest == 0:
        return ArcCheck("fail", problem="ARC headers without a readable ARC-Seal")
    if latest > MAX_INSTANCES:
        return ArcCheck("fail", sealer, problem=f"more than {MAX_INSTANCES} ARC sets")
    verifier = dkim.ARC(logger=QUIET_LOGGER)
    verifier.headers, verifier.body = mail.headers, mail.body
    try:
        cv, sets, reason = verifier.verify(dnsfunc=keys)
    except LookupFailed as failed:
        return ArcCheck(
            "fail",
            sealer,
            lookup_failed=True,
            problem=f"could not look up the key {failed.name}: {failed.reason}",
        )
    except KeyProblem as problem:
        return ArcCheck("fail", sealer, problem=str(problem))
    except Exception as error:  # dkimpy raises more than DKIMException on malformed sets
        return ArcCheck("fail", sealer, problem=f"invalid ARC set ({type(error).__name__})")
    if cv != dkim.CV_Pass or not sets:
        return ArcCheck("fail", sealer, problem=str(reason)[:160])
    newest = sets[0]  # dkimpy lists the sets newest first
    sealer = newest.get("as-domain", b"").decode("ascii", "replace").lower() or sealer
    aar = newest.get("aar-value", b"").decode("utf-8", "replace")
    return ArcCheck("pass", sealer, aar=aar)
