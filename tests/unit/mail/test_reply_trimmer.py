"""Quote separation against the discourse/email_reply_trimmer corpus (``../shared/corpus``).

For each ``emails/<name>`` our new part must equal ``trimmed/<name>`` (compared as upstream
does: leading and trailing whitespace ignored; we also ignore trailing blanks on each line and
line-ending style). At least 90% must agree; the rate is printed. And whatever happens, the
split never loses text: new + quoted is the input, byte for byte.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from postdesk.mail.parse import parse
from postdesk.mail.quotes import split_reply

REPO_ROOT = Path(__file__).resolve().parents[3]
CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "reply-trimmer"
THRESHOLD = 0.90

pytestmark = pytest.mark.skipif(
    not (CORPUS / "emails").is_dir(),
    reason=f"reply-trimmer corpus not found at {CORPUS} (it lives beside the repository, in ../shared)",
)


def normalise(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in lines)).strip()


def emails() -> list[Path]:
    return sorted((CORPUS / "emails").glob("*.txt"))


def test_new_part_matches_trimmed() -> None:
    mismatches = []
    for path in emails():
        text = path.read_bytes().decode("utf-8")
        new, _ = split_reply(text)
        wanted = (CORPUS / "trimmed" / path.name).read_bytes().decode("utf-8")
        if normalise(new) != normalise(wanted):
            mismatches.append(path.name)
    total = len(emails())
    rate = (total - len(mismatches)) / total
    print(f"\nreply-trimmer: {total - len(mismatches)}/{total} = {rate:.1%} new parts match")
    print("differing: " + ", ".join(mismatches))
    assert rate >= THRESHOLD


@pytest.mark.parametrize("path", emails(), ids=lambda path: path.name)
def test_split_never_loses_text(path: Path) -> None:
    text = path.read_bytes().decode("utf-8")
    new, quoted = split_reply(text)
    assert new + quoted == text


@pytest.mark.parametrize("path", emails(), ids=lambda path: path.name)
def test_body_parses_as_a_mail(path: Path) -> None:
    # The corpus holds bodies only; wrapped in a minimal header they must parse cleanly.
    raw = b"From: a@example.com\r\nSubject: t\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    mail = parse(raw + path.read_bytes())
    assert normalise(mail.text) == normalise(path.read_bytes().decode("utf-8"))
