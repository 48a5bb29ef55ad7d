"""The pipeline's hottest writes and reads, without the ORM's per-call query building.

Building and compiling an ORM query costs far more CPU than SQLite takes to run it (about
half a millisecond against a few microseconds for the duplicate check), and every mail makes
the same few queries. Here:

* ``insert``/``insert_all`` store new ``Ticket``, ``Comment`` and ``Attachment`` instances
  with one ``INSERT … RETURNING`` (``postdesk.db.fast_insert``), values prepared by each
  field as ``save()`` would. ``save()``'s signals are not sent: nothing listens to these
  models' ``pre_save``/``post_save``, and the search index is kept by database triggers.
* ``update`` writes some columns of a stored instance with an UPDATE made once per model and
  column list, values prepared by each field as ``save(update_fields=…)`` would.
* ``Prepared`` is a read query the ORM builds once per database; later calls only put new
  parameters into the same SQL, and its rows pass through the ORM's own converters (dates,
  JSON) into values or model instances.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


_UPDATES: dict[
    tuple[str, type[models.Model], tuple[str, ...]], tuple[str, list[models.Field[Any, Any]]]
] = {}


def update(instance: models.Model, field_names: Sequence[str]) -> None:
    """``instance.save(update_fields=field_names)`` as one prepared UPDATE (no signals)."""
    model = type(instance)
    alias = router.db_for_write(model)
    connection = connections[alias]
    key = (f"{alias}:{connection.vendor}", model, tuple(field_names))
    made = _UPDATES.get(key)
    if made is None:
        fields: list[models.Field[Any, Any]] = []
        for name in field_names:
            field = model._meta.get_field(name)
            if not isinstance(field, models.Field) or not field.concrete:
                raise ValueError(f"only concrete fields can be updated: {name}")
            fields.append(field)
        quote = connection.ops.quote_name
        pk = model._meta.pk
        assert pk is not None
        columns = ", ".join(f"{quote(str(field.column))} = %s" for field in fields)
        sql = (
            # Identifiers come from the model and are quoted; values go as parameters.
            f"UPDATE {quote(model._meta.db_table)} SET {columns} "  # noqa: S608
            f"WHERE {quote(str(pk.column))} = %s"
        )
        made = _UPDATES[key] = (sql, fields)
    sql, fields = made
    params = [
        field.get_db_prep_save(field.pre_save(instance, False), connection) for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, instance.pk])


class Prepared[M: models.Model]:
    """A query of ``model`` the ORM builds once per database: ``build(**placeholders)``
    returns the queryset, and each keyword, declared with its type (``str`` or ``int``), is
    a parameter put into the same SQL on every run. ``rows`` gives its values as the ORM
    converts them; ``instances`` the model instances of a plain (whole-row) model query."""

    def __init__(
        self, model: type[M], build: Callable[..., models.QuerySet[Any]], **params: type
    ) -> None:
        self.model = model
        self.build = build
        self.params = params
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, alias: str) -> _Compiled:
        marks: dict[str, Any] = {}
        for number, (name, kind) in enumerate(self.params.items()):
            if kind is int:
                marks[name] = -7_000_000_001 - number  # no primary key is this
            elif kind is str:
                marks[name] = f"\x00prepared:{name}\x00"
            else:
                raise TypeError(f"parameters are str or int, not {kind}")
        queryset = self.build(**marks)
        compiler = queryset.query.get_compiler(alias)
        sql, params = compiler.as_sql()
        slots = [
            next((name for name, mark in marks.items() if type(param) is type(mark)
                  and param == mark), None)
            for param in params
        ]  # fmt: skip
        if sorted(slot for slot in slots if slot) != sorted(self.params):
            # A lookup transformed its value (iexact, contains…): not a query for this class.
            raise ValueError(f"each parameter must appear once, as given: {slots}")
        columns = [column for column, _sql, _alias in compiler.select]
        attnames = [getattr(getattr(column, "target", None), "attname", None) for column in columns]
        whole_rows = (
            not queryset.query.values_select
            and not queryset.query.annotation_select
            and not queryset.query.select_related
            and attnames == [field.attname for field in self.model._meta.concrete_fields]
        )
        return _Compiled(
            sql=sql,
            params=list(params),
            slots=slots,
            compiler=compiler,
            converters=compiler.get_converters(columns),
            attnames=[str(name) for name in attnames] if whole_rows else None,
            alias=alias,
        )

    def _run(self, values: dict[str, Any]) -> tuple[_Compiled, list[tuple[Any, ...]]]:
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        key = f"{alias}:{connection.vendor}"
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(alias)
        bound = [
            values[slot] if slot else param
            for param, slot in zip(compiled.params, compiled.slots, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, bound)
            found = cursor.fetchall()
        if compiled.converters:
            found = compiled.compiler.apply_converters(found, compiled.converters)
        return compiled, [tuple(row) for row in found]

    def rows(self, **values: Any) -> list[tuple[Any, ...]]:
        return self._run(values)[1]

    def instances(self, **values: Any) -> list[M]:
        compiled, found = self._run(values)
        if compiled.attnames is None:
            raise ValueError("instances() needs a query of whole rows of the model")
        return [self.model.from_db(compiled.alias, compiled.attnames, row) for row in found]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: list[Any]
    slots: list[str | None]
    compiler: Any
    converters: dict[int, Any]
    attnames: list[str] | None
    alias: str
