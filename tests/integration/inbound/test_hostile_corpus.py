"""SPEC §5 reliability: every mail of a hostile corpus, and every mail of the shared corpora,
goes through the real spool and worker and ends as a ticket, a comment, or a recorded,
visible failure. Never an unhandled error, never a retry loop, never a lost mail, never a
NUL byte in the database (PostgreSQL refuses them) and never a script in stored HTML."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django_tasks_db.models import DBTaskResult

from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.tickets.models import Attachment, Comment, Ticket, User, UserIdentity

from .conftest import spool_mail
from .hostile import hostile_mails

pytestmark = pytest.mark.django_db

CORPORA = Path(__file__).resolve().parents[4] / "shared" / "corpus"
# Anything that can run script or load something in the agent's browser.
ACTIVE_HTML = re.compile(
    r"<\s*(script|iframe|object|embed|form|svg|math|style|link|meta|base)\b|\bon[a-z]+\s*=|"
    r"javascript:|vbscript:|https?://tracker",
    re.I,
)
# A mail that is no mail at all is a recorded failure; every other one must be applied.
NOT_A_MAIL = {"no-header-section", "binary-garbage", "only-nul"}


def assert_ended_well(message: InboundMessage, name: str) -> None:
    assert not message.last_error, (name, message.last_error)  # no exception behind it
    assert message.attempts == 1, name  # no retry loop
    verdict = message.diagnostics.get("verdict")
    if message.status == InboundStatus.FAILED:
        assert name in NOT_A_MAIL or name.startswith("corpus:"), name
        assert message.diagnostics.get("parse_error"), name
    elif message.status == InboundStatus.SUSPENDED:
        assert verdict == "suspend" and message.diagnostics.get("cause"), name
    elif message.status == InboundStatus.DROPPED:
        # A duplicate, mail for the desk itself, or protection's recorded drop.
        assert verdict, name
    else:
        assert message.status == InboundStatus.PROCESSED, name
        assert message.ticket_id is not None, name
        assert Comment.objects.filter(inbound=message).exists(), name


def assert_nothing_stored_holds_nul() -> None:
    texts: list[str] = []
    for ticket in Ticket.objects.all():
        texts += [ticket.subject, ticket.recipient, json.dumps(ticket.flags)]
    for comment in Comment.objects.all():
        texts += [comment.body, comment.html_body, comment.quoted_text, comment.message_id]
    for attachment in Attachment.objects.all():
        texts += [attachment.filename, attachment.content_type, attachment.content_id]
    for user in User.objects.all():
        texts += [user.email, user.name]
    texts += list(UserIdentity.objects.values_list("email", flat=True))
    for message in InboundMessage.objects.all():
        texts.append(json.dumps(message.diagnostics, ensure_ascii=False))
    offending = [text[:80] for text in texts if "\x00" in text or "\\u0000" in text]
    assert not offending, offending


def assert_no_active_html() -> None:
    for comment in Comment.objects.exclude(html_body=""):
        found = ACTIVE_HTML.search(comment.html_body)
        assert found is None, (comment.pk, found and found.group(0))


def test_every_hostile_mail_ends_as_a_ticket_a_comment_or_a_recorded_failure(run_tasks):
    mails = hostile_mails()
    spooled = {spool_mail(raw): name for name, raw in mails}
    assert len(spooled) == len(mails)  # all distinct, all acknowledged
    run_tasks()
    assert not DBTaskResult.objects.exclude(status="SUCCESSFUL").exists()
    for message in InboundMessage.objects.filter(pk__in=spooled):
        assert_ended_well(message, spooled[message.pk])
    assert_nothing_stored_holds_nul()
    assert_no_active_html()


def test_the_hostile_corpus_gives_what_an_agent_needs(run_tasks):
    mails = dict(hostile_mails())
    by_name = {name: spool_mail(raw) for name, raw in mails.items()}
    run_tasks()

    def message(name: str) -> InboundMessage:
        return InboundMessage.objects.get(pk=by_name[name])

    too_many = message("400-ccs")
    if too_many.status == InboundStatus.SUSPENDED:  # held for review, with its cause
        assert too_many.diagnostics["cause"] == "too_many_ccs"
    else:
        assert too_many.ticket.ccs.count() == 48
        assert "too_many_ccs" in too_many.ticket.flags
    assert "x" * 1000 in message("200kb-line").comment.body
    traversal = message("path-traversal-filename").comment.attachments.get(inline=False)
    assert traversal.filename == "passwd"
    assert message("long-from-address").ticket.requester.email == "ada@example.com"
    assert message("nul-in-subject-and-from").ticket.subject.startswith("sub ject")
    assert "Käse" in message("8bit-headers").comment.body
    assert message("8bit-subject-and-from").ticket.requester.name == "Jürgen Müller"
    assert "no parts at all" in message("boundary-never-appears").comment.body


def corpus_files() -> list[Path]:
    patterns = ("zammad/*.box", "reply-trimmer/**/*.eml", "bounces/**/*")
    found = [path for pattern in patterns for path in sorted(CORPORA.glob(pattern))]
    return [path for path in found if path.is_file() and path.suffix not in {".yml", ".md"}]


@pytest.mark.skipif(not CORPORA.is_dir(), reason=f"shared corpora not found at {CORPORA}")
def test_every_mail_of_the_shared_corpora_goes_through_the_pipeline(run_tasks):
    files = corpus_files()
    assert files
    spooled = {spool_mail(path.read_bytes()): f"corpus:{path.name}" for path in files}
    run_tasks(max_tasks=len(spooled) + 10)
    assert not DBTaskResult.objects.exclude(status="SUCCESSFUL").exists()
    for message in InboundMessage.objects.filter(pk__in=spooled):
        assert_ended_well(message, spooled[message.pk])
    assert_nothing_stored_holds_nul()
    assert_no_active_html()
