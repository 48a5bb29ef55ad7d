"""Turning an agent's search words into a ticket queryset filter (see ``postdesk.search``)."""

from __future__ import annotations

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from postdesk.tickets.models import Ticket, User

MAX_TERMS = 8
TRIGRAM = 3


def _fts_phrase(term: str) -> str:
    # A quoted FTS5 string matches the characters literally; quotes inside are doubled.
    return '"' + term.replace('"', '""') + '"'


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _term_condition(term: str) -> Q:
    # A subquery, not a join: a requester with several identities must not repeat tickets.
    requester = Q(
        requester_id__in=User.objects.filter(
            Q(email__icontains=term)
            | Q(name__icontains=term)
            | Q(identities__email__icontains=term)
        ).values("id")
    )
    if connection.vendor == "sqlite" and len(term) >= TRIGRAM:
        phrase = _fts_phrase(term)
        subject = RawSQL(
            "SELECT rowid FROM tickets_ticket_fts WHERE tickets_ticket_fts MATCH %s", (phrase,)
        )
        comments = RawSQL(
            "SELECT c.ticket_id FROM tickets_comment_fts f "
            "JOIN tickets_comment c ON c.id = f.rowid WHERE tickets_comment_fts MATCH %s",
            (phrase,),
        )
    elif connection.vendor == "postgresql":
        pattern = _like_pattern(term)
        subject = RawSQL("SELECT id FROM tickets_ticket WHERE subject ILIKE %s", (pattern,))
        comments = RawSQL("SELECT ticket_id FROM tickets_comment WHERE body ILIKE %s", (pattern,))
    else:
        # Shorter than a trigram (two Korean syllables are a whole word): a scan, still exact.
        pattern = _like_pattern(term)
        subject = RawSQL(
            "SELECT id FROM tickets_ticket WHERE subject LIKE %s ESCAPE '\\'", (pattern,)
        )
        comments = RawSQL(
            "SELECT ticket_id FROM tickets_comment WHERE body LIKE %s ESCAPE '\\'", (pattern,)
        )
    return Q(pk__in=subject) | Q(pk__in=comments) | requester


def terms(query: str) -> list[str]:
    """The words of a search, without duplicates; ``#123`` and bare numbers are ids."""
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
        term_q = _term_condition(word)
        number = word.removeprefix("#")
        if number.isdigit() and len(number) < 19:
            term_q |= Q(pk=int(number))
        condition &= term_q
    return queryset.filter(condition)
