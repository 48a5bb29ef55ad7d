"""The database objects behind search, created and dropped by the ``tickets`` migration
``0002_ticket_search`` (FTS5 + triggers on SQLite, pg_trgm indexes on PostgreSQL)."""

from __future__ import annotations

from typing import Any

SQLITE_CREATE = [
    # External content: the index stores trigrams only; the text stays in the real tables.
    "CREATE VIRTUAL TABLE tickets_ticket_fts USING fts5("
    "subject, content='tickets_ticket', content_rowid='id', tokenize='trigram')",
    "CREATE VIRTUAL TABLE tickets_comment_fts USING fts5("
    "body, content='tickets_comment', content_rowid='id', tokenize='trigram')",
    # FTS5's documented sync triggers for external content tables.
    "CREATE TRIGGER tickets_ticket_fts_ai AFTER INSERT ON tickets_ticket BEGIN "
    "INSERT INTO tickets_ticket_fts(rowid, subject) VALUES (new.id, new.subject); END",
    "CREATE TRIGGER tickets_ticket_fts_ad AFTER DELETE ON tickets_ticket BEGIN "
    "INSERT INTO tickets_ticket_fts(tickets_ticket_fts, rowid, subject) "
    "VALUES ('delete', old.id, old.subject); END",
    "CREATE TRIGGER tickets_ticket_fts_au AFTER UPDATE OF subject ON tickets_ticket BEGIN "
    "INSERT INTO tickets_ticket_fts(tickets_ticket_fts, rowid, subject) "
    "VALUES ('delete', old.id, old.subject); "
    "INSERT INTO tickets_ticket_fts(rowid, subject) VALUES (new.id, new.subject); END",
    "CREATE TRIGGER tickets_comment_fts_ai AFTER INSERT ON tickets_comment BEGIN "
    "INSERT INTO tickets_comment_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER tickets_comment_fts_ad AFTER DELETE ON tickets_comment BEGIN "
    "INSERT INTO tickets_comment_fts(tickets_comment_fts, rowid, body) "
    "VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER tickets_comment_fts_au AFTER UPDATE OF body ON tickets_comment BEGIN "
    "INSERT INTO tickets_comment_fts(tickets_comment_fts, rowid, body) "
    "VALUES ('delete', old.id, old.body); "
    "INSERT INTO tickets_comment_fts(rowid, body) VALUES (new.id, new.body); END",
    # Index what is already there.
    "INSERT INTO tickets_ticket_fts(tickets_ticket_fts) VALUES ('rebuild')",
    "INSERT INTO tickets_comment_fts(tickets_comment_fts) VALUES ('rebuild')",
]

SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS tickets_ticket_fts_ai",
    "DROP TRIGGER IF EXISTS tickets_ticket_fts_ad",
    "DROP TRIGGER IF EXISTS tickets_ticket_fts_au",
    "DROP TRIGGER IF EXISTS tickets_comment_fts_ai",
    "DROP TRIGGER IF EXISTS tickets_comment_fts_ad",
    "DROP TRIGGER IF EXISTS tickets_comment_fts_au",
    "DROP TABLE IF EXISTS tickets_ticket_fts",
    "DROP TABLE IF EXISTS tickets_comment_fts",
]

POSTGRESQL_CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS tickets_ticket_subject_trgm "
    "ON tickets_ticket USING gin (subject gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS tickets_comment_body_trgm "
    "ON tickets_comment USING gin (body gin_trgm_ops)",
]

POSTGRESQL_DROP = [
    "DROP INDEX IF EXISTS tickets_ticket_subject_trgm",
    "DROP INDEX IF EXISTS tickets_comment_body_trgm",
]


def _run(schema_editor: Any, statements: list[str]) -> None:
    for statement in statements:
        schema_editor.execute(statement)


def create(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        _run(schema_editor, SQLITE_CREATE)
    elif vendor == "postgresql":
        _run(schema_editor, POSTGRESQL_CREATE)


def drop(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        _run(schema_editor, SQLITE_DROP)
    elif vendor == "postgresql":
        _run(schema_editor, POSTGRESQL_DROP)
