"""Template helpers of the agent UI: links that keep the list's parameters, sort headers,
and a comment's "how it arrived" facts."""

from __future__ import annotations

from typing import Any

from django import template
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag(takes_context=True)
def query_with(context: dict[str, Any], **changes: Any) -> str:
    """The current query string with ``changes`` applied (None removes a key), e.g.
    ``?{% query_with page=2 %}``. Changing anything but the page returns to page 1."""
    request: HttpRequest = context["request"]
    params = request.GET.copy()
    if "page" not in changes:
        params.pop("page", None)
    for key, value in changes.items():
        params.pop(key, None)
        if value is not None and value != "":
            params[key] = str(value)
    return params.urlencode()


@register.simple_tag(takes_context=True)
def sort_header(context: dict[str, Any], key: str, label: str) -> SafeString:
    """A column header linking to the list sorted by ``key`` (again: the other way)."""
    current = str(context.get("sort", ""))
    descending = current == f"-{key}"
    ascending = current == key
    target = key if descending else f"-{key}"
    aria = (
        ' aria-sort="descending"' if descending else ' aria-sort="ascending"' if ascending else ""
    )
    arrow = " ↓" if descending else " ↑" if ascending else ""
    query = query_with(context, sort=target)
    return format_html(
        '<th scope="col"{}><a href="?{}">{}{}</a></th>',
        SafeString(aria),
        query,
        label,
        arrow,
    )


@register.filter
def envelope_rcpts(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value or "")


@register.filter
def pretty_json(value: Any) -> str:
    """Diagnostics as indented JSON text (escaped by the template like any text)."""
    import json

    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
