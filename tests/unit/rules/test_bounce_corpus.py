"""The shared bounce corpus (real DSNs and non-standard notices from many MTAs).

Reads ``../shared/corpus/bounces/*.txt`` as bytes and ``expected.jsonl`` (semantics in the
README there). Every bounce must be recognised; failed addresses must come out exactly for at
least 90% of the expectation lines; temporary and permanent failures must be told apart.
Each line we don't meet is a named divergence below, with its reason.
"""

from __future__ import annotations

import email
import email.message
import json
from pathlib import Path
from typing import Any

import pytest

from postdesk.mail.bounces import is_bounce, parse_bounce

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "bounces"

# Files of the corpus that are not bounces: the upstream tests use them to check that a
# detector reports nothing.
NOT_BOUNCES = {
    "qmail_08.txt": "an auto-reply (Precedence: auto_reply), not a delivery notice",
    "groupwise_03.txt": "a person's reply (RE: ...) from Outlook, not a delivery notice",
}

# (file, detector) lines whose exact expectation we knowingly don't meet.
KNOWN_DIVERGENCES = {
    ("groupwise_02.txt", "groupwise"): (
        "upstream's GroupWise detector must find nothing in this Exchange-format notice; we "
        "read the whole message and report userx@example.com, which the same file's "
        "'exchange' line expects"
    ),
    ("yale_01.txt", "yale"): (
        "the notice names a bare local part ('userx'); upstream invents userx@yale.edu and "
        "userx@cs.yale.edu from Yale's site conventions. We don't invent addresses, and the "
        "help text's example addresses are read as candidates"
    ),
    ("llnl_01.txt", "llnl"): (
        "besides the failed user1@example.gov, the notice mentions the LLNL address form "
        "(lastnameNumber@llnl.gov) and a directory entry (user4@example.gov) in sentences a "
        "generic reader can't tell from failure reports"
    ),
}

EXTRACTION_TARGET = 0.90


def _load() -> list[dict[str, Any]]:
    expected = CORPUS / "expected.jsonl"
    if not expected.is_file():
        pytest.skip(f"bounce corpus not found at {CORPUS} (expected.jsonl missing)")
    return [json.loads(line) for line in expected.read_text().splitlines() if line.strip()]


def _message(name: str) -> email.message.Message:
    return email.message_from_bytes((CORPUS / name).read_bytes())


def _lower(addresses: list[str]) -> set[str]:
    # Compared case-insensitively: the corpus keeps the case each MTA wrote.
    return {address.lower() for address in addresses}


def test_every_bounce_is_recognised() -> None:
    _load()
    files = sorted(path.name for path in CORPUS.glob("*.txt"))
    missed = [name for name in files if name not in NOT_BOUNCES and not is_bounce(_message(name))]
    wrongly = [name for name in NOT_BOUNCES if is_bounce(_message(name))]
    recognised = len(files) - len(NOT_BOUNCES) - len(missed)
    print(f"\nbounces recognised: {recognised}/{len(files) - len(NOT_BOUNCES)}")
    assert missed == []
    assert wrongly == []
    assert all(parse_bounce(_message(name)) is None for name in NOT_BOUNCES)


def test_failed_addresses_and_their_kind() -> None:
    lines = _load()
    matched = 0
    misses: list[str] = []
    kind_checked = kind_right = 0
    for line in lines:
        report = parse_bounce(_message(line["file"]))
        failed = report.failed if report else []
        got = _lower([f.address for f in failed if f.temporary == line["temporary"]])
        if got == _lower(line["failed"]):
            matched += 1
        else:
            misses.append(
                f"{line['file']} ({line['detector']}): expected {line['failed']}, got {sorted(got)}"
            )
            assert (line["file"], line["detector"]) in KNOWN_DIVERGENCES, misses[-1]
        kinds = {f.temporary for f in failed if f.address.lower() in _lower(line["failed"])}
        if kinds:
            # Only where the address was found at all: a miss is counted above already.
            kind_checked += 1
            kind_right += kinds == {line["temporary"]}
    rate = matched / len(lines)
    print(f"\nfailed addresses exact: {matched}/{len(lines)} = {rate:.1%}")
    print(f"hard/soft right: {kind_right}/{kind_checked}")
    for miss in misses:
        print(f"  known divergence: {miss}")
    assert rate >= EXTRACTION_TARGET
    assert kind_right == kind_checked


@pytest.mark.parametrize(
    ("name", "permanent", "temporary"),
    [
        # Whole-message expectations from the corpus README.
        ("llnl_01.txt", None, set()),
        ("simple_01.txt", {"bbbsss@example.com"}, set()),
        ("simple_03.txt", set(), {"userx@example.za"}),
        ("dumbass_01.txt", set(), set()),
    ],
)
def test_whole_message_expectations(
    name: str, permanent: set[str] | None, temporary: set[str]
) -> None:
    _load()
    report = parse_bounce(_message(name))
    assert report is not None
    if permanent is not None:
        assert _lower(report.permanent_addresses) == permanent
    else:
        assert "user1@example.gov" in _lower(report.permanent_addresses)
    assert _lower(report.temporary_addresses) == temporary


def test_returned_message_id_is_found_in_dsns() -> None:
    _load()
    report = parse_bounce(_message("dsn_17.txt"))
    assert report is not None
    assert report.original_message_id == (
        "<mailman.150418.1209869464.31038.pray4-team@strategicnetwork.org>"
    )
    assert report.failed[0].status == "4.3.0"


def test_reading_the_raw_bytes_agrees_with_the_full_parse_on_every_corpus_mail():
    """``is_bounce_bytes`` skips the body whenever it can't change the answer; on every file,
    with a null, an ordinary and a daemon envelope sender, it answers as ``is_bounce`` of the
    fully parsed mail."""
    from postdesk.mail.bounces import is_bounce_bytes

    _load()
    files = sorted(CORPUS.glob("*.txt"))
    assert files
    for path in files:
        raw = path.read_bytes()
        for mail_from in ("", "someone@example.org", "MAILER-DAEMON@mx.example.org"):
            full = is_bounce(email.message_from_bytes(raw), mail_from)
            assert is_bounce_bytes(raw, mail_from) == full, (path.name, mail_from)
