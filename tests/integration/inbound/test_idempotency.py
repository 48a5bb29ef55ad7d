"""SPEC F5: the same mail delivered twice yields one comment; a mail without Message-ID gets
a deterministic one."""

from __future__ import annotations

import pytest

from postdesk.spool import tasks
from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.tickets.models import Comment, Ticket

from .conftest import spool_mail

pytestmark = pytest.mark.django_db

NO_ID = b"From: ada@example.com\r\nTo: support@desk.test\r\nSubject: no id\r\n\r\nhello\r\n"


def test_the_same_message_id_and_text_through_another_hop_is_one_comment(mail, deliver):
    raw = mail(message_id="<twice@example.com>")
    first = deliver(raw)
    second = deliver(b"Received: from relay.example by mx.desk.test; Thu, 26 Nov 2026\r\n" + raw)
    assert Comment.objects.count() == 1
    assert second.status == InboundStatus.DROPPED
    assert second.diagnostics["verdict"] == "duplicate"
    assert second.diagnostics["duplicate_of_comment"] == Comment.objects.get().pk
    assert second.ticket == first.ticket


def test_the_same_message_id_with_other_text_is_another_comment(mail, deliver):
    deliver(mail(message_id="<reused@example.com>", body="first text\r\n"))
    deliver(mail(message_id="<reused@example.com>", body="other text\r\n"))
    assert Comment.objects.count() == 2


def test_the_same_bytes_twice_are_one_spool_row_and_one_comment(deliver):
    first = deliver(NO_ID)
    again = deliver(NO_ID)
    assert first.pk == again.pk
    assert Comment.objects.count() == 1


def test_a_missing_message_id_is_made_from_the_raw_bytes(deliver):
    message = deliver(NO_ID)
    comment = Comment.objects.get()
    assert message.diagnostics["message_id_generated"] is True
    assert comment.message_id.endswith("@postdesk.invalid")
    assert comment.message_id == message.diagnostics["message_id"]
    # Deterministic: the same bytes always give the same id.
    from postdesk.mail.parse import parse

    assert parse(NO_ID).message_id == comment.message_id


def test_processing_a_finished_mail_again_changes_nothing(mail, run_tasks):
    message_id = spool_mail(mail())
    run_tasks()
    tasks.process_inbound.enqueue(message_id)
    run_tasks()
    assert (Ticket.objects.count(), Comment.objects.count()) == (1, 1)
    assert InboundMessage.objects.get(pk=message_id).attempts == 1
