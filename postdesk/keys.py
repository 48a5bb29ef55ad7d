"""Keys derived from the one secret (``POSTDESK_SECRET_KEY``), one per purpose, so that a
token signed for one use can never be replayed as another."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def derived_key(purpose: str) -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), purpose.encode(), hashlib.sha256).digest()


def token_key() -> bytes:
    """Signs ticket tokens, Message-IDs and VERP addresses."""
    return derived_key("postdesk.tokens")


def inbound_hmac_key() -> bytes:
    """Signs raw mail posted to ``/inbound/mime`` by local tools such as ``postdesk deliver``."""
    return derived_key("postdesk.inbound-http")
