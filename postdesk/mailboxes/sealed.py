"""A mailbox's password or OAuth2 token at rest: AES-256-GCM, as DKIM private keys are.

The key is derived from ``POSTDESK_SECRET_KEY`` for this purpose alone
(``postdesk.keys.derived_key("postdesk.mailbox-secret-at-rest")``), so a database dump or
backup alone does not reveal the secret. The host, username and kind of secret are the
associated data: a sealed secret copied onto another mailbox row doesn't open.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from postdesk import keys

_NONCE_BYTES = 12
_PURPOSE = "postdesk.mailbox-secret-at-rest"


def _cipher() -> AESGCM:
    return AESGCM(keys.derived_key(_PURPOSE))


def _aad(host: str, username: str, kind: str) -> bytes:
    return f"{kind}\n{username}\n{host.lower()}".encode()


def seal(secret: str, *, host: str, username: str, kind: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + _cipher().encrypt(nonce, secret.encode(), _aad(host, username, kind))


def unseal(blob: bytes | memoryview, *, host: str, username: str, kind: str) -> str:
    """The secret; raises ``cryptography.exceptions.InvalidTag`` if the blob was altered,
    belongs to another mailbox, or ``POSTDESK_SECRET_KEY`` changed."""
    data = bytes(blob)
    nonce, sealed = data[:_NONCE_BYTES], data[_NONCE_BYTES:]
    return _cipher().decrypt(nonce, sealed, _aad(host, username, kind)).decode()
