"""Per-domain DKIM keys (SPEC F13): generation, the DNS records to publish, and signing state.

Each sending domain gets an RSA-2048 key in selector slot ``postdesk1`` (and, on request, an
Ed25519 key as a second signature, RFC 8463). Rotation publishes a new key in the idle slot
(``postdesk2``) while the old one keeps signing; once the new record checks out,
:func:`mark_dkim_verified` makes it the signing key, and the old record can be removed.

Mail for a domain is signed only once its record checks out: a key signs when it is
``active`` and ``verified`` *and* a support address of that domain has ``dkim_status`` ==
``verified``. The live DNS check belongs to the DNS code, which reports through
:func:`mark_dkim_verified` / :func:`mark_dkim_failed`.

Private keys at rest: encrypted with AES-256-GCM under a key derived from
``POSTDESK_SECRET_KEY`` (``postdesk.keys.derived_key("postdesk.dkim-at-rest")``), with the
domain and selector as associated data, so a row copied to another selector doesn't decrypt.
The secret itself lives in the environment or in ``<data dir>/secret_key`` (mode 0600), so a
database dump or backup alone does not reveal a signing key; the service account that can read
the secret can sign, which it must.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import cast

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import transaction
from django.utils import timezone

from postdesk import keys
from postdesk.channels.models import SupportAddress, VerificationStatus
from postdesk.mail import dkim
from postdesk.outbound.models import DkimKey

_NONCE_BYTES = 12


def _cipher() -> AESGCM:
    return AESGCM(keys.derived_key("postdesk.dkim-at-rest"))


def _aad(domain: str, selector: str) -> bytes:
    return f"{domain}/{selector}".encode("ascii")


def encrypt_private_key(pem: str, domain: str, selector: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + _cipher().encrypt(nonce, pem.encode("ascii"), _aad(domain, selector))


def decrypt_private_key(blob: bytes | memoryview, domain: str, selector: str) -> str:
    data = bytes(blob)
    nonce, sealed = data[:_NONCE_BYTES], data[_NONCE_BYTES:]
    return _cipher().decrypt(nonce, sealed, _aad(domain, selector)).decode("ascii")


@dataclass(frozen=True)
class DnsRecord:
    """A record the admin publishes for a domain's DKIM key."""

    selector: str
    algorithm: str
    name: str  # the full DNS name, without the final dot
    type: str
    value: str  # the exact TXT value
    strings: tuple[str, ...]  # the value as DNS character-strings of at most 255 octets
    zone_entry: str  # a BIND zone-file line
    status: str
    active: bool


def _normalise_domain(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def _store_key(domain: str, slot: int, algorithm: dkim.Algorithm) -> DkimKey:
    selector = dkim.selector_name(slot, algorithm)
    generated = dkim.generate_key(algorithm)
    return DkimKey.objects.create(
        domain=domain,
        selector=selector,
        algorithm=algorithm,
        private_key_encrypted=encrypt_private_key(generated.private_key_pem, domain, selector),
        public_key=generated.public_key,
    )


def ensure_keys(domain: str, *, ed25519: bool = False) -> list[DkimKey]:
    """The domain's keys, generating the first RSA key (and Ed25519 if asked) when missing."""
    domain = _normalise_domain(domain)
    dkim.record_name("x", domain)  # validates the domain as a DNS name
    wanted: list[dkim.Algorithm] = ["rsa-sha256"]
    if ed25519:
        wanted.append("ed25519-sha256")
    with transaction.atomic():
        existing = {k.algorithm for k in DkimKey.objects.select_for_update().filter(domain=domain)}
        for algorithm in wanted:
            if algorithm not in existing:
                _store_key(domain, dkim.SELECTOR_SLOTS[0], algorithm)
    return list(DkimKey.objects.filter(domain=domain))


def rotate_key(domain: str, algorithm: dkim.Algorithm = "rsa-sha256") -> DkimKey:
    """A new key in the idle selector slot, to publish before it takes over signing.

    The slot's previous key (two rotations ago) is replaced; the active key is left alone.
    """
    domain = _normalise_domain(domain)
    with transaction.atomic():
        current = (
            DkimKey.objects.select_for_update()
            .filter(domain=domain, algorithm=algorithm)
            .order_by("-active", "-created_at")
            .first()
        )
        if current is None:
            return _store_key(domain, dkim.SELECTOR_SLOTS[0], algorithm)
        slot = dkim.other_slot(int(current.selector.removeprefix("postdesk").split("-")[0]))
        DkimKey.objects.filter(domain=domain, selector=dkim.selector_name(slot, algorithm)).delete()
        return _store_key(domain, slot, algorithm)


def dns_records(domain: str) -> list[DnsRecord]:
    """The exact TXT records to publish for the domain's keys."""
    domain = _normalise_domain(domain)
    records = []
    for key in DkimKey.objects.filter(domain=domain):
        published = dkim.DkimKey(
            algorithm=cast(dkim.Algorithm, key.algorithm),
            private_key_pem="",
            public_key=key.public_key,
        )
        records.append(
            DnsRecord(
                selector=key.selector,
                algorithm=key.algorithm,
                name=dkim.record_name(key.selector, domain),
                type="TXT",
                value=published.txt_record(),
                strings=published.txt_strings(),
                zone_entry=published.zone_entry(key.selector, domain),
                status=key.status,
                active=key.active,
            )
        )
    return records


def _addresses_of(domain: str) -> list[SupportAddress]:
    return list(SupportAddress.objects.filter(email__iendswith=f"@{domain}"))


def mark_dkim_verified(domain: str, selector: str) -> DkimKey:
    """The published record of ``selector`` matches: the key signs from now on.

    It becomes the active key of its algorithm (so verifying a rotated key switches signing to
    it), and the support addresses of the domain get ``dkim_status = verified``.
    """
    domain = _normalise_domain(domain)
    now = timezone.now()
    with transaction.atomic():
        key = DkimKey.objects.select_for_update().get(domain=domain, selector=selector)
        DkimKey.objects.filter(domain=domain, algorithm=key.algorithm).exclude(pk=key.pk).update(
            active=False
        )
        key.status = VerificationStatus.VERIFIED
        key.active = True
        key.verified_at = now
        key.failure_reason = ""
        key.save()
        SupportAddress.objects.filter(pk__in=[a.pk for a in _addresses_of(domain)]).update(
            dkim_status=VerificationStatus.VERIFIED, updated_at=now
        )
    return key


def mark_dkim_failed(domain: str, selector: str, reason: str) -> DkimKey:
    """The record of ``selector`` is missing or wrong. If no verified active key is left for
    the domain, its addresses get ``dkim_status = failed`` and its mail goes out unsigned."""
    domain = _normalise_domain(domain)
    with transaction.atomic():
        key = DkimKey.objects.select_for_update().get(domain=domain, selector=selector)
        key.status = VerificationStatus.FAILED
        key.failure_reason = reason[:255]
        key.save()
        still_signing = DkimKey.objects.filter(
            domain=domain, active=True, status=VerificationStatus.VERIFIED
        ).exists()
        if not still_signing:
            SupportAddress.objects.filter(pk__in=[a.pk for a in _addresses_of(domain)]).update(
                dkim_status=VerificationStatus.FAILED, updated_at=timezone.now()
            )
    return key


def signing_keys(domain: str) -> list[dkim.SigningKey]:
    """The keys mail From ``domain`` is signed with now; empty means unsigned (SPEC F13)."""
    domain = _normalise_domain(domain)
    verified_address = SupportAddress.objects.filter(
        email__iendswith=f"@{domain}", dkim_status=VerificationStatus.VERIFIED
    ).exists()
    if not verified_address:
        return []
    active = DkimKey.objects.filter(
        domain=domain, active=True, status=VerificationStatus.VERIFIED
    ).order_by("-algorithm")  # RSA on top: the one every verifier knows
    return [
        dkim.SigningKey(
            domain=domain,
            selector=key.selector,
            private_key_pem=decrypt_private_key(key.private_key_encrypted, domain, key.selector),
            algorithm=cast(dkim.Algorithm, key.algorithm),
        )
        for key in active
    ]
