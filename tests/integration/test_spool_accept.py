"""spool.accept: durable, queued in the same transaction, idempotent on the raw hash."""

from __future__ import annotations

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from postdesk.mail.envelope import Envelope
from postdesk.spool.accept import MessageTooLarge, accept, accept_many
from postdesk.spool.models import InboundMessage, InboundStatus

pytestmark = pytest.mark.django_db


def envelope(**overrides: object) -> Envelope:
    values: dict[str, object] = {
        "transport": "smtp",
        "rcpt_tos": ("support@desk.test",),
        "mail_from": "ada@example.com",
        "peer_ip": "192.0.2.7",
        "helo": "mx.example.com",
    }
    values.update(overrides)
    return Envelope(**values)  # type: ignore[arg-type]


def test_accept_stores_raw_bytes_and_envelope_and_queues_processing(mail):
    raw = mail()
    accepted = accept(raw, envelope(tls=True))
    stored = InboundMessage.objects.get(pk=accepted.message_id)
    assert bytes(stored.raw) == raw
    assert stored.rcpt_tos == ["support@desk.test"]
    assert (stored.peer_ip, stored.helo, stored.mail_from, stored.tls) == (
        "192.0.2.7",
        "mx.example.com",
        "ada@example.com",
        True,
    )
    assert stored.status == InboundStatus.QUEUED
    task = DBTaskResult.objects.get()
    assert task.task_path == "postdesk.spool.tasks.process_inbound"
    assert task.args_kwargs["args"] == [stored.pk]


def test_the_same_bytes_twice_make_one_row_and_one_task(mail):
    raw = mail()
    first = accept(raw, envelope())
    second = accept(raw, envelope(peer_ip="198.51.100.1"))
    assert second.message_id == first.message_id
    assert (first.duplicate, second.duplicate) == (False, True)
    assert InboundMessage.objects.count() == 1
    assert DBTaskResult.objects.count() == 1


def test_mail_and_task_roll_back_together(mail):
    with pytest.raises(RuntimeError), transaction.atomic():
        accept(mail(), envelope())
        raise RuntimeError("the caller's transaction fails after accept")
    assert InboundMessage.objects.count() == 0
    assert DBTaskResult.objects.count() == 0


def test_oversize_mail_is_refused_and_nothing_stored(mail):
    with pytest.raises(MessageTooLarge):
        accept(mail(body="x" * 5000), envelope(), max_size=1000)
    assert InboundMessage.objects.count() == 0


def test_envelope_requires_a_known_transport_and_a_recipient():
    with pytest.raises(ValueError, match="transport"):
        Envelope(transport="carrier-pigeon", rcpt_tos=("a@b",))
    with pytest.raises(ValueError, match="recipient"):
        Envelope(transport="smtp", rcpt_tos=())


def test_a_batch_stores_each_mail_once_even_when_it_repeats_itself(mail):
    first, second = mail(subject="one"), mail(subject="two")
    results = accept_many([(first, envelope()), (second, envelope()), (first, envelope())])
    assert [r.duplicate for r in results] == [False, False, True]
    assert results[0].message_id == results[2].message_id
    assert InboundMessage.objects.count() == 2
    [task] = DBTaskResult.objects.all()  # mails stored together are processed together
    assert task.task_path == "postdesk.spool.tasks.process_inbound_batch"
    assert task.args_kwargs["args"] == [[results[0].message_id, results[1].message_id]]
    again = accept_many([(second, envelope())])
    assert again[0].message_id == results[1].message_id and again[0].duplicate


def test_envelope_strings_from_the_network_are_made_storable(mail):
    accepted = accept(mail(), envelope(mail_from="ada\x00@example.com", helo="bad\udcfehelo"))
    stored = InboundMessage.objects.get(pk=accepted.message_id)
    assert stored.mail_from == "ada@example.com"
    assert stored.helo == "bad?helo"
