"""Turning an agent's search words into a ticket queryset filter (see ``postdesk.search``).

Each term becomes one condition on the ticket row: its subject, any of its comments, or its
requester. Comments are tested with a correlated ``EXISTS`` on ``tickets_comment(ticket_id)``
(PostgreSQL; and on SQLite for terms shorter than a trigram), never with
``id IN (<every matching comment>)`` ORed with other conditions: a common word matches
hundreds of thousands of comments, and PostgreSQL then gives up hashing the subquery and
rescans it for every ticket. With ``EXISTS`` a page of results ordered by an index stops as
soon as it is full. SQLite's FTS5 answers 3+ character terms from the trigram index directly
when the term is rare enough (``_selective``); a very common one takes the ``EXISTS`` path.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import CharField, Exists, Lookup, OuterRef, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL

from postdesk.tickets.models import Comment, Ticket, User

MAX_TERMS = 8
TRIGRAM = 3
# Up to this many matching comments, SQLite collects them from the FTS5 index.
SELECTIVE_LIMIT = 20_000


def _fts_phrase(term: str) -> str:
    # A quoted FTS5 string matches the characters literally; quotes inside are doubled.
    return '"' + term.replace('"', '""') + '"'


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ContainsText(Lookup[Any]):
    """``column ILIKE '%term%'`` on PostgreSQL — the form a ``gin_trgm_ops`` index on the bare
    column serves (Django's ``icontains`` wraps both sides in ``UPPER()``, which it can't) —
    and ``LIKE`` with an escape character on SQLite (case-insensitive for ASCII there)."""

    lookup_name = "postdesk_contains_text"

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        params = (*lhs_params, *rhs_params)
        if connection.vendor == "postgresql":
            return f"{lhs} ILIKE {rhs}", params
        return f"{lhs} LIKE {rhs} ESCAPE '\\'", params

    def get_db_prep_lookup(self, value: Any, connection: Any) -> Any:
        return "%s", (_like_pattern(str(value)),)


TextField.register_lookup(ContainsText)
CharField.register_lookup(ContainsText)


def _selective(phrase: str) -> bool:
    """Whether the trigram index finds few enough comments for ``phrase`` to collect them all
    (a rare word: the index wins). A word in every other comment is found faster by testing
    the tickets of the page being shown one by one, which stops when the page is full."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM tickets_comment_fts "
            "WHERE tickets_comment_fts MATCH %s LIMIT %s)",
            (phrase, SELECTIVE_LIMIT + 1),
        )
        (found,) = cursor.fetchone()
    return int(found) <= SELECTIVE_LIMIT


def _comment_exists(term: str) -> Exists:
    return Exists(
        Comment.objects.filter(ticket_id=OuterRef("pk"), body__postdesk_contains_text=term)
    )


def _term_condition(term: str) -> Q:
    # A subquery, not a join: a requester with several identities must not repeat tickets.
    requester = Q(
        requester_id__in=User.objects.filter(
            Q(email__icontains=term)
            | Q(name__icontains=term)
            | Q(identities__email__icontains=term)
        ).values("id")
    )
    if connection.vendor == "sqlite" and len(term) >= TRIGRAM and _selective(_fts_phrase(term)):
        phrase = _fts_phrase(term)
        subject = Q(
            pk__in=RawSQL(
                "SELECT rowid FROM tickets_ticket_fts WHERE tickets_ticket_fts MATCH %s",
                (phrase,),
            )
        )
        comments = Q(
            pk__in=RawSQL(
                "SELECT c.ticket_id FROM tickets_comment_fts f "
                "JOIN tickets_comment c ON c.id = f.rowid WHERE tickets_comment_fts MATCH %s",
                (phrase,),
            )
        )
        return subject | comments | requester
    # PostgreSQL (pg_trgm serves ILIKE) and short terms on SQLite (an exact scan).
    return Q(subject__postdesk_contains_text=term) | Q(_comment_exists(term)) | requester


def terms(query: str) -> list[str]:
    """The words of a search, without duplicates (at most ``MAX_TERMS``)."""
    seen: list[str] = []
    for word in query.split():
        if word not in seen:
            seen.append(word)
    return seen[:MAX_TERMS]


def search_tickets(queryset: QuerySet[Ticket], query: str) -> QuerySet[Ticket]:
    """``queryset`` narrowed to tickets matching every term of ``query``."""
    words = terms(query)
    if not words:
        return queryset
    condition = Q()
    for word in words:
        number = word.removeprefix("#")
        if word.startswith("#") and number.isdigit():
            # "#123" names a ticket; no text search (a scan of every comment) for it.
            condition &= Q(pk=int(number)) if len(number) < 19 else Q(pk__in=[])
            continue
        term_q = _term_condition(word)
        if number.isdigit() and len(number) < 19:
            term_q |= Q(pk=int(number))
        condition &= term_q
    return queryset.filter(condition)
