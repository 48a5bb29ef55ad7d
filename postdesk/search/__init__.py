"""Ticket search by subject, requester and comment text, in any language (SPEC F14).

* SQLite: FTS5 tables with the ``trigram`` tokenizer (``tickets_ticket_fts`` over subjects,
  ``tickets_comment_fts`` over comment bodies) as external-content indexes of the real tables,
  kept in sync by triggers (``postdesk.search.schema``). Trigrams need no word boundaries, so
  Korean, Japanese and Chinese match as well as English.
* PostgreSQL: ``pg_trgm`` GIN indexes on the subject and body columns themselves, which serve
  ``ILIKE '%term%'``; being indexes of the columns, they can't fall out of sync.

``search_tickets(queryset, query)`` narrows a ticket queryset: every whitespace-separated term
must match the subject, a comment, or the requester's name or email (``#123`` is ticket 123;
a bare number also matches that ticket id). Terms shorter than a trigram (two Korean
syllables) are matched exactly too, by a scan instead of the index.
"""

from postdesk.search.query import search_tickets

__all__ = ["search_tickets"]
