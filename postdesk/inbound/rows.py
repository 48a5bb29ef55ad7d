"""The pipeline's hottest writes and reads, without the ORM's per-call query building.

Building and compiling an ORM query costs far more CPU than SQLite takes to run it (about
half a millisecond against a few microseconds for the duplicate check), and every mail makes
the same few queries. Here:

* ``insert``/``insert_all`` store new ``Ticket``, ``Comment`` and ``Attachment`` instances
  with one ``INSERT … RETURNING`` (``postdesk.db.fast_insert``), values prepared by each
  field as ``save()`` would. ``save()``'s signals are not sent: nothing listens to these
  models' ``pre_save``/``post_save``, and the search index is kept by database triggers.
* ``Prepared`` is a read query the ORM builds once per database vendor; later calls only
  put new parameters into the same SQL. It returns plain rows, so only queries of plain
  columns (ids, text) belong here: no model instances, no values needing converters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, models, router

from postdesk.db.fast_insert import insert_rows


def insert[M: models.Model](instance: M) -> M:
    """Save the new ``instance`` (its primary key set from the database)."""
    insert_all([instance])
    return instance


def insert_all(instances: Sequence[models.Model]) -> None:
    """Save new instances of one model with a single statement."""
    if not instances:
        return
    model = type(instances[0])
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    rows = [[field.pre_save(instance, True) for field in fields] for instance in instances]
    keys = insert_rows(model, [field.name for field in fields], rows)
    alias = router.db_for_write(model)
    for instance, key in zip(instances, keys, strict=True):
        instance.pk = key
        instance._state.adding = False
        instance._state.db = alias


class Prepared:
    """``build(**placeholders)`` returns a queryset of plain values from ``model``; each
    keyword's value in the compiled SQL is replaced by the caller's on every run."""

    def __init__(
        self, model: type[models.Model], build: Callable[..., models.QuerySet[Any]], *names: str
    ) -> None:
        self.model = model
        self.build = build
        self.names = names
        self._compiled: dict[str, tuple[str, list[Any], list[str | None]]] = {}

    def _compile(self, alias: str) -> tuple[str, list[Any], list[str | None]]:
        marks = {name: f"\x00prepared:{name}\x00" for name in self.names}
        queryset = self.build(**marks)
        sql, params = queryset.query.get_compiler(alias).as_sql()
        by_mark = {mark: name for name, mark in marks.items()}
        slots = [by_mark.get(param) if isinstance(param, str) else None for param in params]
        if sorted(slot for slot in slots if slot) != sorted(self.names):
            # A lookup transformed its value (iexact, contains…): not a query for this class.
            raise ValueError(f"each parameter must appear once, as given: {slots}")
        return sql, list(params), slots

    def rows(self, **values: Any) -> list[tuple[Any, ...]]:
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        key = f"{alias}:{connection.vendor}"
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(alias)
        sql, params, slots = compiled
        bound = [values[slot] if slot else param for param, slot in zip(params, slots, strict=True)]
        with connection.cursor() as cursor:
            cursor.execute(sql, bound)
            return list(cursor.fetchall())
