"""The outbox's delivery life cycle with the locmem relay: retries, failures, crashes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from postdesk.operations import status as desk_status
from postdesk.outbound import delivery, services
from postdesk.outbound.models import OutboundMessage, OutboundStatus, RecipientStatus
from postdesk.outbound.relays import locmem

pytestmark = pytest.mark.django_db


def system_mail(*to: str) -> OutboundMessage:
    return services.send_system_mail(to=list(to), subject="Hello", text="Body")


def test_a_temporary_failure_is_retried_and_then_sent(locmem_relay, fast_retry, run_tasks):
    locmem.fail("451 4.3.0 try again later", at="data", times=1)
    outbound = system_mail("a@example.com")
    run_tasks()
    outbound.refresh_from_db()
    assert outbound.status == OutboundStatus.SENT
    assert outbound.attempts == 2
    assert len(locmem.attempts) == 2 and len(locmem_relay) == 1
    assert outbound.recipients.get().status == RecipientStatus.SENT


def test_a_permanent_refusal_fails_that_recipient_only(locmem_relay, fast_retry, run_tasks):
    locmem.fail("550 5.1.1 no such user", at="rcpt", times=1)
    outbound = system_mail("gone@example.com", "here@example.com")
    run_tasks()
    outbound.refresh_from_db()
    rows = {r.address: r for r in outbound.recipients.all()}
    assert rows["gone@example.com"].status == RecipientStatus.FAILED
    assert rows["gone@example.com"].reply_code == 550
    assert "no such user" in rows["gone@example.com"].reply_text
    assert rows["here@example.com"].status == RecipientStatus.SENT
    assert outbound.status == OutboundStatus.SENT  # somebody got it
    assert outbound.attempts == 1  # 5xx is not retried


def test_a_relay_that_stays_down_fails_the_mail_after_the_last_attempt(
    locmem_relay, fast_retry, run_tasks
):
    locmem.go_down(at="connect", times=10)
    outbound = system_mail("a@example.com")
    run_tasks()
    outbound.refresh_from_db()
    assert outbound.status == OutboundStatus.FAILED
    assert outbound.attempts == fast_retry.max_attempts
    recipient = outbound.recipients.get()
    assert recipient.status == RecipientStatus.FAILED
    assert recipient.reply_code == delivery.NO_REPLY_CODE
    assert desk_status()["outbound"] == {"queued": 0, "sent": 0, "failed": 1}


def test_a_connection_dropped_during_data_is_deferred_then_sent(
    locmem_relay, fast_retry, run_tasks
):
    locmem.go_down(at="drop", times=1)
    outbound = system_mail("a@example.com")
    delivery.deliver(outbound.pk)
    outbound.refresh_from_db()
    assert outbound.status == OutboundStatus.QUEUED
    assert outbound.recipients.get().status == RecipientStatus.DEFERRED
    run_tasks()
    outbound.refresh_from_db()
    assert outbound.status == OutboundStatus.SENT and len(locmem_relay) == 1


def test_a_crash_between_send_and_record_sends_once_more_with_the_same_message_id(
    locmem_relay, run_tasks
):
    """kill -9 after the relay said 250 but before the outcome was stored: the only
    duplicate SMTP leaves possible, and it carries the same Message-ID."""
    outbound = system_mail("a@example.com")
    claimed = delivery.claim(outbound.pk)
    assert isinstance(claimed, delivery.Claim)
    delivery.send(claimed, delivery.current_relay())  # the worker dies here
    # Another task for the same mail respects the dead worker's claim until it expires...
    assert delivery.deliver(outbound.pk) == "claimed"
    assert len(locmem_relay) == 1
    OutboundMessage.objects.filter(pk=outbound.pk).update(
        claimed_at=timezone.now() - delivery.CLAIM_LEASE - timedelta(seconds=1)
    )
    # ...then sends again: one duplicate, same bytes, same Message-ID.
    assert delivery.deliver(outbound.pk) == OutboundStatus.SENT
    assert len(locmem_relay) == 2
    assert locmem_relay[0].data == locmem_relay[1].data
    # Nothing more is ever sent for it.
    run_tasks()
    assert delivery.deliver(outbound.pk) == "already-sent"
    assert len(locmem_relay) == 2


def test_mail_stored_in_a_rolled_back_transaction_is_never_sent(locmem_relay, run_tasks):
    from django.db import transaction

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        system_mail("a@example.com")
        raise Abort
    run_tasks()
    assert OutboundMessage.objects.count() == 0 and locmem_relay == []


def test_the_outbox_relay_keeps_mail_local(settings, run_tasks):
    from tests.integration.outbound.conftest import use_relay

    use_relay(settings, "outbox:")
    outbound = system_mail("a@example.com")
    run_tasks()
    outbound.refresh_from_db()
    assert outbound.status == OutboundStatus.SENT and outbound.relay == "outbox"
    assert "local outbox" in outbound.recipients.get().reply_text
    assert outbound.sent_bytes() == bytes(outbound.raw)  # unsigned: no key for desk.test


def test_a_burst_of_mail_is_one_task_and_one_connection(locmem_relay, run_tasks):
    from django_tasks_db.models import DBTaskResult

    before = DBTaskResult.objects.count()
    outbound = [system_mail(f"c{n}@example.com") for n in range(5)]
    assert DBTaskResult.objects.count() - before == 1  # the waiting task drains them all
    assert run_tasks() == 1
    assert OutboundMessage.objects.filter(status=OutboundStatus.SENT).count() == 5
    assert len(locmem_relay) == 5
    assert {o.pk for o in outbound} == set(OutboundMessage.objects.values_list("pk", flat=True))


def test_mail_without_a_waiting_task_is_picked_up_by_the_periodic_wake(locmem_relay, run_tasks):
    from django_tasks_db.models import DBTaskResult

    outbound = system_mail("a@example.com")
    DBTaskResult.objects.all().delete()  # as if it had been stored while a drain was ending
    assert delivery.wake_if_due() is True
    assert delivery.wake_if_due() is False  # a task is waiting now
    run_tasks()
    outbound.refresh_from_db()
    assert outbound.status == OutboundStatus.SENT


def test_a_mail_that_keeps_killing_workers_is_given_up(locmem_relay, fast_retry):
    outbound = system_mail("a@example.com")
    for _crash in range(fast_retry.max_attempts):
        assert isinstance(delivery.claim(outbound.pk), delivery.Claim)  # the worker dies
        OutboundMessage.objects.filter(pk=outbound.pk).update(
            claimed_at=timezone.now() - delivery.CLAIM_LEASE - timedelta(seconds=1)
        )
    assert delivery.deliver(outbound.pk) == "nothing-pending"
    outbound.refresh_from_db()
    assert outbound.status == OutboundStatus.FAILED and locmem_relay == []


def test_a_task_claimed_by_a_worker_is_not_counted_on_for_new_mail(locmem_relay, run_tasks):
    from django_tasks_db.models import DBTaskResult

    system_mail("a@example.com")
    # A worker claimed the waiting task and may already have looked for due mail.
    DBTaskResult.objects.update(status="RUNNING")
    system_mail("b@example.com")
    assert DBTaskResult.objects.filter(status="READY").count() == 1


def test_a_task_queued_in_a_rolled_back_savepoint_is_not_counted_on(locmem_relay, run_tasks):
    from django.db import transaction
    from django_tasks_db.models import DBTaskResult

    class Undone(Exception):
        pass

    with pytest.raises(Undone), transaction.atomic():
        system_mail("a@example.com")  # queues the task, then everything is rolled back
        raise Undone
    assert not DBTaskResult.objects.exists()
    outbound = system_mail("b@example.com")
    assert DBTaskResult.objects.filter(status="READY").count() == 1
    run_tasks()
    outbound.refresh_from_db()
    assert outbound.status == OutboundStatus.SENT
