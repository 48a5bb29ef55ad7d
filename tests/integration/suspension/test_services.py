"""Recovering, deleting and purging suspended mail; the bad inputs of issue 6 (recovering
twice, recovering into a deleted ticket, bulk calls with unknown ids) fail clearly and
duplicate nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.suspension import services
from postdesk.suspension.models import SenderListEntry, SenderListKind, SuspendedMail
from postdesk.tickets.models import Comment, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def blocked(mail, spool_mail, screen_mail):
    """Suspend mail from spam.example: ``blocked(subject=...)`` returns the queue entry."""

    def suspend(**fields: str) -> SuspendedMail:
        SenderListEntry.objects.get_or_create(kind=SenderListKind.BLOCK, value="spam.example")
        fields.setdefault("sender", "Eve <eve@spam.example>")
        message = spool_mail(mail(**fields))
        screen_mail(message)
        return SuspendedMail.objects.get(inbound=message)

    return suspend


def test_recovery_makes_the_ticket_with_the_original_requester(blocked, agent):
    entry = blocked(subject="Actually a customer", body="Please help.\r\n")
    recovery = services.recover(entry, agent)
    ticket = Ticket.objects.get()
    assert recovery.ticket == ticket
    assert ticket.subject == "Actually a customer"
    assert ticket.requester.email == "eve@spam.example"
    assert recovery.comment is not None
    assert "Please help." in recovery.comment.body
    entry.refresh_from_db()
    assert entry.state == "recovered"
    assert (entry.recovered_by, entry.ticket, entry.comment) == (agent, ticket, recovery.comment)
    message = InboundMessage.objects.get(pk=entry.inbound_id)
    assert message.status == InboundStatus.PROCESSED
    assert message.ticket == ticket
    assert message.finished_at is not None
    assert not SuspendedMail.objects.pending().exists()


def test_a_recovered_reply_becomes_the_comment_it_would_have_been(
    blocked, mail, spool_mail, run_tasks, agent
):
    spool_mail(mail(sender="eve@spam.example", message_id="<first@spam.example>"))
    run_tasks()
    ticket = Ticket.objects.get()
    reply = blocked(
        subject="Re: Printer on fire",
        message_id="<second@spam.example>",
        extra_headers="In-Reply-To: <first@spam.example>\r\n",
        body="Still burning.\r\n",
    )
    assert reply.thread_ticket_id == ticket.pk
    recovery = services.recover(reply, agent)
    assert recovery.ticket == ticket
    assert Ticket.objects.count() == 1
    assert ticket.comments.count() == 2


def test_recovering_twice_is_a_clear_error_and_adds_nothing(blocked, agent):
    entry = blocked()
    services.recover(entry, agent)
    with pytest.raises(services.SuspensionError) as raised:
        services.recover(entry.pk, agent)
    assert raised.value.code == "already_recovered"
    assert "already recovered" in str(raised.value)
    assert (Ticket.objects.count(), Comment.objects.count()) == (1, 1)


def test_recovering_a_reply_to_a_deleted_ticket_is_a_clear_error(
    blocked, mail, spool_mail, run_tasks, agent
):
    spool_mail(mail(sender="eve@spam.example", message_id="<first@spam.example>"))
    run_tasks()
    ticket = Ticket.objects.get()
    reply = blocked(
        message_id="<r@spam.example>", extra_headers="References: <first@spam.example>\r\n"
    )
    ticket_id = ticket.pk
    ticket.delete()
    with pytest.raises(services.SuspensionError) as raised:
        services.recover(reply, agent)
    assert raised.value.code == "ticket_deleted"
    assert f"#{ticket_id}" in str(raised.value)
    assert not Ticket.objects.exists()
    reply.refresh_from_db()
    assert reply.state == "suspended"
    assert InboundMessage.objects.get(pk=reply.inbound_id).status == InboundStatus.SUSPENDED


def test_a_deleted_entry_can_not_be_recovered_or_deleted_again(blocked, agent):
    entry = blocked()
    services.delete(entry, agent)
    entry.refresh_from_db()
    assert (entry.state, entry.deleted_by) == ("deleted", agent)
    for action in (services.recover, services.delete):
        with pytest.raises(services.SuspensionError) as raised:
            action(entry.pk, agent)
        assert raised.value.code == "deleted"
    assert not Ticket.objects.exists()


def test_bulk_recovery_does_the_known_ids_and_names_the_unknown(blocked, agent):
    first, second = blocked(subject="One"), blocked(subject="Two")
    services.recover(second, agent)
    result = services.recover_many([first.pk, second.pk, 999_999], agent)
    assert [recovery.suspended.pk for recovery in result.done] == [first.pk]
    assert [(error.suspended_id, error.code) for error in result.failed] == [
        (second.pk, "already_recovered"),
        (999_999, "not_found"),
    ]
    assert Ticket.objects.count() == 2


def test_bulk_delete_and_id_parsing(blocked, agent):
    first, second = blocked(subject="One"), blocked(subject="Two")
    assert services.parse_ids([f"{first.pk}, {second.pk},{first.pk}"]) == [first.pk, second.pk]
    with pytest.raises(services.SuspensionError) as raised:
        services.parse_ids(["1,x"])
    assert raised.value.code == "bad_id"
    with pytest.raises(services.SuspensionError):
        services.parse_ids([",".join(str(n) for n in range(1, 102))])
    result = services.delete_many([first.pk, 424242], agent)
    assert [entry.pk for entry in result.done] == [first.pk]
    assert [error.code for error in result.failed] == ["not_found"]
    assert list(SuspendedMail.objects.pending()) == [second]


def test_the_retention_purge_forgets_old_suspended_mail_with_its_raw_bytes(blocked, agent):
    old, recovered, fresh = blocked(subject="Old"), blocked(subject="Kept"), blocked(subject="New")
    services.recover(recovered, agent)
    long_ago = timezone.now() - timedelta(days=15)
    SuspendedMail.objects.filter(pk__in=[old.pk, recovered.pk]).update(created_at=long_ago)
    counts = services.purge_expired()
    assert counts["suspended"] == 1
    assert counts["recovered_records"] == 1
    assert list(SuspendedMail.objects.all()) == [fresh]
    assert not InboundMessage.objects.filter(pk=old.inbound_id).exists()
    # The recovered mail is a comment now: its raw mail stays.
    assert InboundMessage.objects.filter(pk=recovered.inbound_id).exists()
    assert Ticket.objects.count() == 1


def test_metrics_count_the_queue_by_cause(blocked, agent, mail, spool_mail, screen_mail):
    first = blocked(subject="One")
    blocked(subject="Two")
    services.recover(first, agent)
    screen_mail(spool_mail(mail(sender="support@desk.test", subject="Loop")))
    counts = services.metrics()
    assert counts["suspended_pending_by_cause"] == {"blocklisted": 1}
    assert counts["suspended_by_cause"] == {"blocklisted": 2}
    assert counts["dropped_by_rule"] == {"own_address": 1}
