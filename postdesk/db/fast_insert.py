"""One multi-row ``INSERT … RETURNING`` for a list of plain rows, skipping model instances.

The SMTP server's group commit inserts dozens of mails and their task rows per transaction;
building a model instance per row and compiling the ORM's bulk insert cost more CPU than the
database itself, and that CPU is taken from the event loop answering ``250``. Values are
still prepared by each field's ``get_db_prep_save``, so every backend receives exactly what
the ORM would send.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router


def insert_rows(
    model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[Any]:
    """Insert ``rows`` (values in ``columns`` order); returns the primary keys in order."""
    if not rows:
        return []
    alias = router.db_for_write(model)
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in columns]
    if any(not isinstance(field, models.Field) for field in fields):
        raise ValueError(f"only concrete fields can be inserted: {columns}")
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    pk = model._meta.pk
    assert pk is not None
    sql = (
        # Identifiers come from the model and are quoted; values go as parameters.
        f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(str(field.column)) for field in fields)}) "  # type: ignore[union-attr]
        f"VALUES {', '.join([placeholders] * len(rows))} RETURNING {quote(str(pk.column))}"
    )
    params = [
        field.get_db_prep_save(value, connection)  # type: ignore[union-attr]
        for row in rows
        for field, value in zip(fields, row, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]
