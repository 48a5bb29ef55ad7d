"""Every mail of the shared corpora (Zammad, bounces) parses without an unhandled error."""

from __future__ import annotations

from pathlib import Path

import pytest

from postdesk.mail.parse import ParsedMail, parse

from .conftest import SHARED_CORPUS

ZAMMAD = sorted((SHARED_CORPUS / "zammad").glob("*.box"))
BOUNCES = sorted(path for path in (SHARED_CORPUS / "bounces").glob("*.txt"))


def check_result(mail: ParsedMail) -> None:
    assert mail.message_id
    assert "\x00" not in mail.text
    assert "<script" not in mail.html.lower()
    assert all(isinstance(defect, str) for defect in mail.defects)


@pytest.mark.skipif(not ZAMMAD, reason=f"no Zammad corpus at {SHARED_CORPUS / 'zammad'}")
@pytest.mark.parametrize("path", ZAMMAD, ids=lambda path: path.name)
def test_zammad_mail_parses(path: Path) -> None:
    check_result(parse(path.read_bytes()))


@pytest.mark.skipif(not BOUNCES, reason=f"no bounce corpus at {SHARED_CORPUS / 'bounces'}")
@pytest.mark.parametrize("path", BOUNCES, ids=lambda path: path.name)
def test_bounce_parses(path: Path) -> None:
    check_result(parse(path.read_bytes()))
