"""Keys, signing and a DNS table for the inbound authentication tests (no network)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from functools import cache

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from postdesk.mail.authentication import Connection, Trust
from tests.dkim_keys import rsa_key
from tests.unit.dns.table import TableLookup
from tests.unit.mail.conftest import build_raw_mail

DIRECT = Connection(client_ip="192.0.2.10", helo="mx.example.com", mail_from="bob@example.com")
NO_SPF = Trust(check_spf=False)


@cache
def ed25519_key() -> tuple[bytes, str]:
    """(base64 seed as dkimpy signs with, DKIM TXT record) of an Ed25519 key."""
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(seed), f"v=DKIM1; k=ed25519; p={base64.b64encode(public).decode()}"


def mail(sender: str = "Bob <bob@example.com>", body: str = "Hello\r\n", **kwargs: object) -> bytes:
    return build_raw_mail(body, sender=sender, **kwargs)  # type: ignore[arg-type]


def sign(
    raw: bytes,
    domain: str,
    selector: str = "sel",
    key: bytes | None = None,
    algorithm: bytes = b"rsa-sha256",
) -> bytes:
    """``raw`` with a DKIM-Signature of ``domain`` prepended."""
    key = key if key is not None else rsa_key()[0]
    header = dkim.sign(
        raw,
        selector.encode(),
        domain.encode(),
        key,
        signature_algorithm=algorithm,
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )
    return bytes(header) + raw


def arc_seal(
    raw: bytes,
    sealer: str,
    srv_id: str,
    results: str,
    selector: str = "arc",
    key: bytes | None = None,
) -> bytes:
    """``raw`` as forwarded by ``sealer``: its Authentication-Results (``results``) and an ARC
    set over them prepended, as a mailing list or forwarder does."""
    key = key if key is not None else rsa_key("arc")[0]
    with_ar = f"Authentication-Results: {srv_id}; {results}\r\n".encode() + raw
    arc_set = dkim.arc_sign(
        with_ar,
        selector.encode(),
        sealer.encode(),
        key,
        srv_id.encode(),
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )
    assert arc_set, "dkimpy found no Authentication-Results to seal"
    return b"".join(arc_set) + with_ar


def dns(
    records: Mapping[str, Mapping[str, Sequence[str]]] | None = None, failing: Iterable[str] = ()
) -> TableLookup:
    return TableLookup(records or {}, failing)


def key_record(
    domain: str, selector: str = "sel", record: str | None = None
) -> dict[str, dict[str, list[str]]]:
    return {f"{selector}._domainkey.{domain}": {"TXT": [record or rsa_key()[1]]}}


def arc_key_record(domain: str, selector: str = "arc") -> dict[str, dict[str, list[str]]]:
    return {f"{selector}._domainkey.{domain}": {"TXT": [rsa_key("arc")[1]]}}
