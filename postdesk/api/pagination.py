"""Zendesk's two pagination styles for list endpoints (SPEC F16).

* **Offset** (the default): ``?page=N&per_page=M`` (M at most 100); the body carries
  ``next_page`` and ``previous_page`` (absolute URLs or null) and ``count``.
* **Cursor**, chosen by any ``page[size]``, ``page[after]`` or ``page[before]`` parameter:
  the body carries ``meta: {has_more, after_cursor, before_cursor}`` and
  ``links: {next, prev}``. Cursors are opaque: URL-safe base64 of the sort key of the first or
  last row, so paging is a keyset scan (no ``OFFSET``) and stays fast on the last page of
  100,000 tickets.

``paginate(request, queryset, key, order)`` picks the style and returns the rows of the page
and the keys to merge into the response body; ``PageParams`` documents the parameters in
OpenAPI. The ordering must end in a unique field (``id``) so the keyset is total.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest
from django.utils.dateparse import parse_datetime
from ninja import Field, Schema

from postdesk.api.errors import ApiError

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 100
# Zendesk refuses offset pages beyond 10,000 records and asks for cursors instead.
MAX_OFFSET_RECORDS = 10_000


class PageParams(Schema):
    page: int | None = Field(None, ge=1, le=1_000_000, description="Offset pagination: page number")
    per_page: int | None = Field(
        None, ge=1, le=MAX_PER_PAGE, description="Offset pagination: rows per page"
    )
    page_size: int | None = Field(
        None, alias="page[size]", ge=1, le=MAX_PER_PAGE, description="Cursor pagination: rows"
    )
    page_after: str | None = Field(
        None, alias="page[after]", max_length=512, description="Cursor: rows after this one"
    )
    page_before: str | None = Field(
        None, alias="page[before]", max_length=512, description="Cursor: rows before this one"
    )

    @property
    def cursor_mode(self) -> bool:
        return (
            self.page_size is not None
            or self.page_after is not None
            or self.page_before is not None
        )


class CursorMeta(Schema):
    has_more: bool
    after_cursor: str | None = None
    before_cursor: str | None = None


class CursorLinks(Schema):
    next: str | None = None
    prev: str | None = None


class PaginatedOut(Schema):
    """The pagination keys of a list body (the rows sit beside them under their own key)."""

    next_page: str | None = None
    previous_page: str | None = None
    count: int | None = None
    meta: CursorMeta | None = None
    links: CursorLinks | None = None


@dataclass
class Page[T]:
    rows: list[T]
    body: dict[str, Any] = field(default_factory=dict)


def _url(request: HttpRequest, **changes: Any) -> str:
    params = request.GET.copy()
    for name, value in changes.items():
        params.pop(name, None)
        if value is not None:
            params[name] = str(value)
    query = urlencode(sorted(params.items()))
    return request.build_absolute_uri(request.path + (f"?{query}" if query else ""))


def paginate[M: Model](
    request: HttpRequest,
    queryset: QuerySet[M],
    params: PageParams,
    order: tuple[str, ...] = ("id",),
) -> Page[M]:
    """One page of ``queryset`` in the style the request asked for."""
    if params.cursor_mode:
        return _cursor_page(request, queryset, params, order)
    return _offset_page(request, queryset, params, order)


def _offset_page[M: Model](
    request: HttpRequest, queryset: QuerySet[M], params: PageParams, order: tuple[str, ...]
) -> Page[M]:
    per_page = params.per_page or DEFAULT_PER_PAGE
    page = params.page or 1
    start = (page - 1) * per_page
    if start + per_page > MAX_OFFSET_RECORDS + MAX_PER_PAGE:
        raise ApiError(
            "Offset pagination is limited to the first 10,000 records; use cursor pagination"
        )
    count = queryset.count()
    rows = list(queryset.order_by(*order)[start : start + per_page])
    has_next = start + per_page < count
    return Page(
        rows,
        {
            "next_page": _url(request, page=page + 1, per_page=params.per_page)
            if has_next
            else None,
            "previous_page": _url(request, page=page - 1, per_page=params.per_page)
            if page > 1
            else None,
            "count": count,
        },
    )


# -- cursors ----------------------------------------------------------------------------------


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"dt"}:
        parsed = parse_datetime(str(value["dt"]))
        if parsed is None:
            raise ValueError("bad datetime in cursor")
        return parsed
    if value is not None and not isinstance(value, (int, str, float, bool)):
        raise ValueError("bad value in cursor")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError("number out of range in cursor")
    if isinstance(value, float) and value != value:  # NaN compares with nothing
        raise ValueError("NaN in cursor")
    return value


def encode_cursor(row: Model, order: tuple[str, ...]) -> str:
    values = [_encode_value(getattr(row, name.lstrip("-"))) for name in order]
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: tuple[str, ...]) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(order):
            raise ValueError("wrong cursor length")
        return [_decode_value(v) for v in values]
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ApiError("Invalid cursor", details=None) from exc


def _after(order: tuple[str, ...], values: list[Any], *, reverse: bool = False) -> Q:
    """Rows strictly after ``values`` in ``order`` (before, when ``reverse``): the keyset
    condition ``(a > x) or (a = x and b > y) or ...`` with each field's direction."""
    condition = Q()
    for position in range(len(order) - 1, -1, -1):
        name = order[position]
        descending = name.startswith("-") != reverse
        column = name.lstrip("-")
        step = Q(**{f"{column}__{'lt' if descending else 'gt'}": values[position]})
        if position < len(order) - 1:
            step |= Q(**{column: values[position]}) & condition
        condition = step
    return condition


def _flip(order: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name[1:] if name.startswith("-") else f"-{name}" for name in order)


def _cursor_page[M: Model](
    request: HttpRequest, queryset: QuerySet[M], params: PageParams, order: tuple[str, ...]
) -> Page[M]:
    size = params.page_size or DEFAULT_PER_PAGE
    backwards = params.page_before is not None and params.page_after is None
    if params.page_after is not None:
        queryset = queryset.filter(_after(order, decode_cursor(params.page_after, order)))
    elif params.page_before is not None:
        queryset = queryset.filter(
            _after(order, decode_cursor(params.page_before, order), reverse=True)
        )
    rows = list(queryset.order_by(*(_flip(order) if backwards else order))[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    after = encode_cursor(rows[-1], order) if rows else None
    before = encode_cursor(rows[0], order) if rows else None
    # Zendesk: has_more says whether more rows lie in the direction being paged.
    more_after = has_more if not backwards else bool(rows)
    more_before = has_more if backwards else params.page_after is not None
    return Page(
        rows,
        {
            "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": before},
            "links": {
                "next": _url(request, **{"page[after]": after, "page[before]": None})
                if more_after and after
                else None,
                "prev": _url(request, **{"page[before]": before, "page[after]": None})
                if more_before and before
                else None,
            },
        },
    )
