"""Verifying a mail's DKIM signatures with dkimpy (RFC 6376), keys through the lookup seam.

At most :data:`MAX_SIGNATURES` signatures are checked, top first, so a mail can't make the
worker do more than that many key lookups and RSA verifications. Each answers one of
``pass``, ``fail`` (the signature or body hash doesn't verify), ``temperror`` (the key lookup
failed) or ``permerror`` (a malformed signature, a missing or unusable key), with its ``d=``
and ``s=`` as far as they could be read and the problem in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import dkim
from dkim.util import parse_tag_value

from postdesk.dns.resolver import LookupFailed

from .keys import QUIET_LOGGER, DnsFunc, KeyProblem
from .message import RawMail

MAX_SIGNATURES: Final = 5


@dataclass(frozen=True)
class DkimCheck:
    domain: str
    selector: str
    result: str  # pass | fail | temperror | permerror
    problem: str = ""


def _tags(value: bytes) -> tuple[str, str]:
    """``d=`` and ``s=`` of a signature, lowercased; "" for what can't be read."""
    try:
        tags = parse_tag_value(value)
    except Exception:
        return "", ""

    def text(tag: bytes) -> str:
        return str(tags.get(tag, b"").decode("ascii", "replace")).strip().lower()

    return text(b"d"), text(b"s")


def verify_signatures(mail: RawMail, keys: DnsFunc) -> list[DkimCheck]:
    """The checks of the top :data:`MAX_SIGNATURES` signatures; keys through ``keys``, a
    :func:`~.keys.key_dnsfunc` shared with the ARC check."""
    values = [value for name, value in mail.headers if name.lower() == b"dkim-signature"]
    if not values:
        return []
    verifier = dkim.DKIM(logger=QUIET_LOGGER)
    verifier.headers, verifier.body = mail.headers, mail.body
    checks = []
    for index, value in enumerate(values[:MAX_SIGNATURES]):
        domain, selector = _tags(value)
        checks.append(DkimCheck(domain, selector, *_verify(verifier, index, keys)))
    return checks


def _short(error: Exception) -> str:
    # dkimpy puts whole tag values (a b= of 350 characters) into its messages.
    text = str(error)
    return text if len(text) <= 160 else text[:157] + "..."


def _verify(verifier: dkim.DKIM, index: int, keys: DnsFunc) -> tuple[str, str]:
    try:
        if verifier.verify(idx=index, dnsfunc=keys):
            return "pass", ""
        return "fail", "the signature does not verify"
    except LookupFailed as failed:
        return "temperror", f"could not look up the key {failed.name}: {failed.reason}"
    except KeyProblem as problem:
        return "permerror", str(problem)
    except dkim.ValidationError as error:
        if str(error).startswith("body hash mismatch"):
            return "fail", "the body was changed after signing (body hash mismatch)"
        return "permerror", f"invalid signature: {_short(error)}"
    except dkim.DKIMException as error:
        return "permerror", f"invalid signature: {_short(error)}"
    except Exception as error:  # dkimpy isn't hardened against every malformed tag
        return "permerror", f"invalid signature ({type(error).__name__})"
