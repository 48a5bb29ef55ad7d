"""Fixtures for the pure mail-library tests: the shared corpora and a raw-mail factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_CORPUS = REPO_ROOT.parent / "shared" / "corpus"

RawMailFactory = Callable[..., bytes]


def build_raw_mail(
    body: bytes | str = "Hello",
    *,
    subject: str = "Test",
    sender: str = "Customer <customer@example.com>",
    to: str = "support@postdesk.example",
    content_type: str = "text/plain; charset=utf-8",
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """A small RFC 5322 message as bytes; header values are written exactly as given."""
    headers = [
        ("From", sender),
        ("To", to),
        ("Subject", subject),
        ("Date", "Mon, 02 Mar 2026 10:00:00 +0900"),
        ("Message-ID", "<factory@example.com>"),
        ("MIME-Version", "1.0"),
        ("Content-Type", content_type),
        *extra_headers,
    ]
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("utf-8")
    payload = body.encode("utf-8") if isinstance(body, str) else body
    return head + b"\r\n" + payload


@pytest.fixture
def raw_mail() -> RawMailFactory:
    return build_raw_mail


@pytest.fixture
def shared_corpus() -> Path:
    return SHARED_CORPUS
