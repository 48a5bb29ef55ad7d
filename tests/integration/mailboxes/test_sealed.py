"""A mailbox's secret at rest: sealed with AES-GCM, bound to its mailbox."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from postdesk.mailboxes import sealed

WHERE = {"host": "imap.example.com", "username": "help@example.com", "kind": "password"}


def test_round_trip_and_no_plain_text() -> None:
    blob = sealed.seal("s3cret pässword", **WHERE)
    assert b"s3cret" not in blob
    assert sealed.unseal(blob, **WHERE) == "s3cret pässword"
    assert sealed.unseal(memoryview(blob), **WHERE) == "s3cret pässword"


def test_each_seal_is_different() -> None:
    assert sealed.seal("same", **WHERE) != sealed.seal("same", **WHERE)


@pytest.mark.parametrize(
    "other",
    [
        {"host": "imap.evil.example"},
        {"username": "other@example.com"},
        {"kind": "oauth2"},
    ],
)
def test_a_secret_moved_to_another_mailbox_does_not_open(other: dict[str, str]) -> None:
    blob = sealed.seal("s3cret", **WHERE)
    with pytest.raises(InvalidTag):
        sealed.unseal(blob, **(WHERE | other))


def test_a_changed_blob_does_not_open() -> None:
    blob = bytearray(sealed.seal("s3cret", **WHERE))
    blob[-1] ^= 1
    with pytest.raises(InvalidTag):
        sealed.unseal(bytes(blob), **WHERE)


def test_another_secret_key_does_not_open(settings: pytest.FixtureRequest) -> None:
    blob = sealed.seal("s3cret", **WHERE)
    settings.SECRET_KEY = "another-" + "k" * 40  # type: ignore[attr-defined]
    with pytest.raises(InvalidTag):
        sealed.unseal(blob, **WHERE)
