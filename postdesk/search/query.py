"""Turning an agent's search words into a ticket queryset filter (see ``postdesk.search``).

Each term becomes one condition on the ticket row: its subject, any of its comments, or its
requester. For comments there are two plans, chosen per term by asking the trigram index how
many comments match, up to ``SELECTIVE_LIMIT`` (``_selective``):

* a rare term: ``id IN (<tickets of the matching comments>)``, collected from the index;
* a common term (or one shorter than a trigram, which no index serves): a correlated
  ``EXISTS`` on ``tickets_comment(ticket_id)`` per ticket, so a page ordered by an index
  stops as soon as it is full. Never a huge ``IN`` list: for a word in every third comment
  PostgreSQL gives up hashing the subquery and rescans it for every ticket.
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


def _matching_comments_sql(term: str) -> tuple[str, tuple[str, ...]]:
    """SQL for the ids of tickets with a comment containing ``term``, served by the trigram
    index: FTS5 on SQLite, pg_trgm (``ILIKE``) on PostgreSQL."""
    if connection.vendor == "sqlite":
        return (
            "SELECT c.ticket_id FROM tickets_comment_fts f "
            "JOIN tickets_comment c ON c.id = f.rowid WHERE tickets_comment_fts MATCH %s",
            (_fts_phrase(term),),
        )
    return "SELECT ticket_id FROM tickets_comment WHERE body ILIKE %s", (_like_pattern(term),)


def _selective(term: str) -> bool:
    """Whether the trigram index finds few enough comments for ``term`` to collect them all
    (a rare word: the index wins). A word in every other comment is found faster by testing
    the tickets of the page being shown one by one, which stops when the page is full."""
    sql, params = _matching_comments_sql(term)  # constant SQL; the term is a parameter
    sample = f"SELECT count(*) FROM ({sql} LIMIT %s) AS sample"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sample, (*params, SELECTIVE_LIMIT + 1))
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
    indexed = connection.vendor in ("sqlite", "postgresql") and len(term) >= TRIGRAM
    if indexed and _selective(term):
        sql, params = _matching_comments_sql(term)  # constant SQL; the term is a parameter
        comments = Q(pk__in=RawSQL(sql, params))  # noqa: S611
    else:
        comments = Q(_comment_exists(term))
    if connection.vendor == "sqlite" and len(term) >= TRIGRAM:
        subject = Q(
            pk__in=RawSQL(
                "SELECT rowid FROM tickets_ticket_fts WHERE tickets_ticket_fts MATCH %s",
                (_fts_phrase(term),),
            )
        )
    else:
        # pg_trgm serves ILIKE on PostgreSQL; short terms on SQLite are an exact scan.
        subject = Q(subject__postdesk_contains_text=term)
    return subject | comments | requester


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
