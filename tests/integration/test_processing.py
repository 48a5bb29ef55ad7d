"""From spooled mail to tickets: the first pipeline, its retries and its idempotency."""

from __future__ import annotations

import pytest
from django_tasks_db.models import DBTaskResult

from postdesk.channels.models import AddressKind, SupportAddress
from postdesk.mail.envelope import Envelope
from postdesk.spool import tasks
from postdesk.spool.accept import accept
from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.tickets import blobs
from postdesk.tickets.models import Attachment, Comment, Group, Ticket, UserIdentity

pytestmark = pytest.mark.django_db


def spool(raw: bytes, rcpt: str = "support@desk.test", mail_from: str = "ada@example.com") -> int:
    return accept(raw, Envelope(transport="smtp", rcpt_tos=(rcpt,), mail_from=mail_from)).message_id


def test_a_mail_becomes_a_ticket_with_its_requester(mail, run_tasks):
    message_id = spool(mail(subject="Printer on fire"))
    assert run_tasks() >= 1  # the mail's task, and whatever it queued (its acknowledgement)
    message = InboundMessage.objects.get(pk=message_id)
    assert message.status == InboundStatus.PROCESSED
    assert message.finished_at is not None
    ticket = Ticket.objects.get()
    assert message.ticket == ticket
    assert ticket.subject == "Printer on fire"
    assert ticket.requester.email == "ada@example.com"
    assert ticket.requester.name == "Ada Lovelace"
    assert ticket.received_at.email == "support@desk.test"
    assert message.diagnostics["matched_via"] == "To"
    assert message.diagnostics["requester_rule"] == "from"
    comment = ticket.comments.get()
    assert "my printer is on fire" in comment.body
    assert comment.inbound == message


def test_reply_to_names_the_requester_and_the_mismatch_is_flagged(mail, run_tasks):
    spool(mail(extra_headers="Reply-To: Grace <grace@example.org>\r\n"))
    run_tasks()
    ticket = Ticket.objects.get()
    assert ticket.requester.email == "grace@example.org"
    assert "reply_to_differs_from_from" in ticket.flags


def test_a_reply_referencing_the_first_mail_becomes_a_comment(mail, run_tasks):
    spool(mail(message_id="<first@example.com>"))
    run_tasks()
    spool(
        mail(
            subject="Re: Printer on fire",
            message_id="<second@example.com>",
            extra_headers="In-Reply-To: <first@example.com>\r\nReferences: <first@example.com>\r\n",
            body="It is still burning.\r\n",
        )
    )
    run_tasks()
    ticket = Ticket.objects.get()
    assert [c.message_id for c in ticket.comments.all()] == [
        "first@example.com",
        "second@example.com",
    ]
    assert InboundMessage.objects.filter(diagnostics__threading="references").count() == 1


def test_the_same_mail_through_two_paths_makes_one_comment(mail, run_tasks):
    raw = mail(message_id="<same@example.com>")
    spool(raw)
    # The same mail forwarded through another hop: different bytes, same Message-ID and text.
    spool(
        b"Received: from relay.example by mx.desk.test; Thu, 26 Nov 2026 09:00:01 +0000\r\n" + raw
    )
    run_tasks()
    assert Comment.objects.count() == 1
    statuses = sorted(InboundMessage.objects.values_list("status", flat=True))
    assert statuses == [InboundStatus.DROPPED, InboundStatus.PROCESSED]


def test_new_end_users_get_an_identity_and_ccs_are_kept(mail, run_tasks):
    spool(
        mail(
            to="support@desk.test, Bob <bob@example.com>", extra_headers="Cc: carol@example.com\r\n"
        )
    )
    run_tasks()
    ticket = Ticket.objects.get()
    assert sorted(u.email for u in ticket.ccs.all()) == ["bob@example.com", "carol@example.com"]
    assert UserIdentity.objects.filter(email="ada@example.com", user=ticket.requester).exists()


def test_a_mail_with_ccs_keeps_the_snapshots_the_next_mail_reads(mail, run_tasks):
    from postdesk.inbound import pipeline, protection

    spool(mail(message_id="<first@example.com>"))
    run_tasks()
    assert pipeline._SUPPORT_ADDRESSES._value is not None  # loaded by the first mail
    spool(mail(message_id="<second@example.com>", extra_headers="Cc: carol@example.com\r\n"))
    run_tasks()
    ticket = Ticket.objects.get(comments__message_id="second@example.com")
    assert [u.email for u in ticket.ccs.all()] == ["carol@example.com"]
    # Linking a CC (and creating her as an end user) changed no address, agent or setting.
    assert pipeline._SUPPORT_ADDRESSES._value is not None
    assert protection._AGENT_EMAILS._value is not None


def test_routing_follows_the_support_address_group(mail, run_tasks):
    billing = Group.objects.create(name="Billing")
    SupportAddress.objects.create(email="billing@desk.test", kind=AddressKind.HOSTED, group=billing)
    spool(mail(to="billing@desk.test"), rcpt="billing@desk.test")
    run_tasks()
    ticket = Ticket.objects.get()
    assert (ticket.group, ticket.received_at.email) == (billing, "billing@desk.test")
    assert SupportAddress.objects.get(email="billing@desk.test").last_mail_at is not None


def test_attachments_are_stored_by_content_hash(mail, run_tasks):
    raw = (
        b"From: ada@example.com\r\nTo: support@desk.test\r\nSubject: logs\r\n"
        b"Message-ID: <att@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b'--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="log.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--b--\r\n"
    )
    spool(raw)
    run_tasks()
    attachment = Attachment.objects.get(filename="log.bin")
    assert attachment.size == 5
    assert blobs.read(attachment.sha256) == b"\x00\x01\x02\x03\x04"


def test_a_failing_mail_is_kept_retried_then_failed_and_can_be_reprocessed(
    mail, run_tasks, monkeypatch
):
    from postdesk.jobs.retry import RetryPolicy

    monkeypatch.setattr(tasks, "INBOUND", RetryPolicy(max_attempts=3, base_delay=0, jitter=0))
    original = tasks.run_pipeline

    def broken(message_id: int) -> str:
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(tasks, "run_pipeline", broken)
    message_id = spool(mail())
    run_tasks()
    message = InboundMessage.objects.get(pk=message_id)
    assert message.status == InboundStatus.FAILED
    assert message.attempts == 3
    assert "database hiccup" in message.last_error
    assert Ticket.objects.count() == 0

    monkeypatch.setattr(tasks, "run_pipeline", original)
    assert tasks.reprocess(message_id)
    run_tasks()
    message.refresh_from_db()
    assert message.status == InboundStatus.PROCESSED
    assert Ticket.objects.count() == 1
    assert not tasks.reprocess(message_id)  # finished mail is not processed again


def test_processing_is_idempotent_when_a_task_runs_twice(mail, run_tasks):
    message_id = spool(mail())
    run_tasks()
    tasks.process_inbound.enqueue(message_id)  # as after a reaped task that had committed
    run_tasks()
    assert Ticket.objects.count() == 1
    assert Comment.objects.count() == 1


def test_a_mail_that_kills_workers_is_failed_instead_of_crashing_them_forever(mail, run_tasks):
    message_id = spool(mail())
    task = DBTaskResult.objects.get()
    # Three workers claimed it and died (the reaper put it back each time).
    task.worker_ids = ["w1", "w2", "w3"]
    task.save(update_fields=["worker_ids"])
    run_tasks()
    message = InboundMessage.objects.get(pk=message_id)
    assert message.status == InboundStatus.FAILED
    assert "stopped the worker 3 times" in message.last_error


def batch(mails: list[bytes]) -> list[int]:
    from postdesk.spool.accept import accept_many

    envelope = Envelope(transport="smtp", rcpt_tos=("support@desk.test",), mail_from="a@b.example")
    return [r.message_id for r in accept_many([(raw, envelope) for raw in mails])]


def test_a_batch_task_processes_every_mail_of_a_group_commit(mail, run_tasks):
    ids = batch([mail(subject=f"batch {n}") for n in range(5)])
    run_tasks()
    assert DBTaskResult.objects.filter(queue_name="inbound").count() == 1  # one task, five mails
    assert set(InboundMessage.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        InboundStatus.PROCESSED
    }
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == [
        f"batch {n}" for n in range(5)
    ]


def test_one_failing_mail_of_a_batch_leaves_the_others_processed(mail, run_tasks, monkeypatch):
    from postdesk.jobs.retry import RetryPolicy

    monkeypatch.setattr(tasks, "INBOUND", RetryPolicy(max_attempts=1))
    original = tasks.run_pipeline
    ids = batch([mail(subject=f"batch {n}") for n in range(3)])

    def fails_for_the_second(message_id: int) -> str:
        if message_id == ids[1]:
            raise RuntimeError("this one mail breaks our code")
        return original(message_id)

    monkeypatch.setattr(tasks, "run_pipeline", fails_for_the_second)
    run_tasks()
    statuses = dict(InboundMessage.objects.values_list("id", "status"))
    assert [statuses[i] for i in ids] == [
        InboundStatus.PROCESSED,
        InboundStatus.FAILED,
        InboundStatus.PROCESSED,
    ]
    assert Ticket.objects.count() == 2


def test_a_batch_whose_worker_died_goes_on_mail_by_mail(mail, run_tasks):
    ids = batch([mail(subject=f"batch {n}") for n in range(3)])
    task = DBTaskResult.objects.get()
    task.worker_ids = ["died"]  # claimed once by a worker that was killed; reaped since
    task.save(update_fields=["worker_ids"])
    run_tasks()
    singles = DBTaskResult.objects.filter(task_path="postdesk.spool.tasks.process_inbound")
    assert sorted(t.args_kwargs["args"][0] for t in singles) == ids
    assert Ticket.objects.count() == 3
