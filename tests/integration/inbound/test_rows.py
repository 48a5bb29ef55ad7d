"""``postdesk.inbound.rows``: plain INSERTs store what ``save()`` stores, and a prepared
query answers as the ORM query it was built from, with each call's own parameters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction

from postdesk.inbound import rows
from postdesk.tickets.models import Attachment, Comment, Role, Ticket, User, UserIdentity

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def test_inserted_instances_read_back_as_saved_ones():
    user = rows.insert(User(email="ada@example.com", name="Ada", role=Role.END_USER))
    rows.insert(UserIdentity(user=user, email="ada@example.com", primary=True))
    ticket = rows.insert(
        Ticket(subject="Printer", requester=user, flags=["x"], created_at=WHEN, updated_at=WHEN)
    )
    comment = rows.insert(Comment(ticket=ticket, author=user, body="on fire", created_at=WHEN))
    rows.insert_all(
        [Attachment(comment=comment, filename=f"{n}.txt", size=n, sha256="0" * 64) for n in (1, 2)]
    )
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.subject, stored.requester_id, stored.flags) == ("Printer", user.pk, ["x"])
    assert stored.status == ticket.status  # the model's defaults went in
    assert stored.created_at == WHEN
    assert not ticket._state.adding
    assert list(stored.comments.values_list("body", flat=True)) == ["on fire"]
    assert sorted(comment.attachments.values_list("size", flat=True)) == [1, 2]
    assert UserIdentity.objects.get(email="ada@example.com").user == user


def test_an_insert_breaking_a_unique_constraint_raises_integrity_error():
    rows.insert(User(email="ada@example.com", role=Role.END_USER))
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.insert(User(email="ada@example.com", role=Role.END_USER))


def test_a_prepared_query_runs_with_each_calls_parameters():
    user = rows.insert(User(email="ada@example.com", role=Role.END_USER))
    ticket = rows.insert(Ticket(subject="s", requester=user))
    first = rows.insert(Comment(ticket=ticket, author=user, body="one", message_id="a@x"))
    second = rows.insert(Comment(ticket=ticket, author=user, body="two", message_id="b@x"))
    prepared = rows.Prepared(
        Comment,
        lambda message_id, body: (
            Comment.objects.filter(message_id=message_id, body=body)
            .order_by("pk")
            .values_list("pk", "ticket_id")
        ),
        message_id=str,
        body=str,
    )
    assert prepared.rows(message_id="a@x", body="one") == [(first.pk, ticket.pk)]
    assert prepared.rows(message_id="b@x", body="two") == [(second.pk, ticket.pk)]
    assert prepared.rows(message_id="a@x", body="two") == []


def test_a_query_whose_lookup_changes_its_value_is_refused():
    prepared = rows.Prepared(
        Comment,
        lambda body: Comment.objects.filter(body__contains=body).values_list("pk"),
        body=str,
    )
    with pytest.raises(ValueError, match="must appear once"):
        prepared.rows(body="fire")


def test_update_writes_only_the_named_columns_as_save_would():
    user = rows.insert(User(email="ada@example.com", role=Role.END_USER))
    ticket = rows.insert(Ticket(subject="before", requester=user, flags=[]))
    Ticket.objects.filter(pk=ticket.pk).update(recipient="changed elsewhere")
    ticket.subject, ticket.flags, ticket.updated_at = "after", ["reply_to_differs"], WHEN
    rows.update(ticket, ["subject", "flags", "updated_at"])
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.subject, stored.flags, stored.updated_at) == (
        "after",
        ["reply_to_differs"],
        WHEN,
    )
    assert stored.recipient == "changed elsewhere"  # not among the named columns
    with pytest.raises(ValueError, match="concrete"):
        rows.update(ticket, ["ccs"])


def test_prepared_instances_are_the_orms_with_converted_values():
    user = rows.insert(User(email="ada@example.com", name="Ada", role=Role.END_USER))
    ticket = rows.insert(
        Ticket(subject="s", requester=user, flags=["a"], created_at=WHEN, updated_at=WHEN)
    )
    by_pk = rows.Prepared(Ticket, lambda pk: Ticket.objects.filter(pk=pk).order_by(), pk=int)
    (found,) = by_pk.instances(pk=ticket.pk)
    expected = Ticket.objects.get(pk=ticket.pk)
    for field in Ticket._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
    assert found.created_at == WHEN and found.flags == ["a"]  # a datetime and a list, not text
    assert not found._state.adding
    assert by_pk.instances(pk=ticket.pk + 1) == []
    values = rows.Prepared(
        Ticket, lambda pk: Ticket.objects.filter(pk=pk).values_list("pk"), pk=int
    )
    with pytest.raises(ValueError, match="whole rows"):
        values.instances(pk=ticket.pk)
