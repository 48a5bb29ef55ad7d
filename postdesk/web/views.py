"""The agent's ticket list (views with counts, sorting, paging and search) and the health
endpoint. Every page needs a signed-in agent or admin (``postdesk.web.access``)."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.functional import Promise, cached_property
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from postdesk.search import search_tickets
from postdesk.tickets.models import User
from postdesk.web import queues
from postdesk.web.access import admin_required, agent_required

__all__ = ["admin_required", "agent_required", "health", "home"]

PAGE_SIZES = (25, 50, 100)
# Search results are counted up to here: an exact count of a common word's matches would
# test every ticket, while the page itself stops once it is full.
SEARCH_COUNT_CAP = 1000


class CappedPaginator(Paginator):  # type: ignore[type-arg]
    """Counts at most ``SEARCH_COUNT_CAP + 1`` rows; ``capped`` says there were more."""

    @cached_property
    def count(self) -> int:
        rows: Any = self.object_list
        return int(rows[: SEARCH_COUNT_CAP + 1].count())

    @property
    def capped(self) -> bool:
        return self.count > SEARCH_COUNT_CAP


DEFAULT_PAGE_SIZE = 50


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers and ``make run`` checks."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


def _page_size(request: HttpRequest) -> int:
    try:
        size = int(request.GET.get("per_page", DEFAULT_PAGE_SIZE))
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE


@agent_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    query = request.GET.get("q", "").strip()[:500]
    slug = request.GET.get("view", "all" if query else queues.DEFAULT)
    slug, tickets = queues.tickets_for(slug, user)
    if query:
        tickets = search_tickets(tickets, query)
    sort, order = queues.ordering(request.GET.get("sort", queues.DEFAULT_SORT))
    per_page = _page_size(request)
    groups = queues.group_queues()
    counts = queues.cached_counts(user)
    ordered = tickets.order_by(*order)
    # The pager counts the view itself, exactly: the sidebar's counts may be seconds old.
    paginator: Paginator[Any] = (
        CappedPaginator(ordered, per_page) if query else Paginator(ordered, per_page)
    )
    page = paginator.get_page(request.GET.get("page"))
    current_group = next((g for g in groups if f"group-{g.pk}" == slug), None)
    title: str | Promise
    if current_group is not None:
        title = current_group.name
    elif slug in queues.BY_SLUG:
        title = queues.BY_SLUG[slug].label
    else:
        title = _("Group")
    return render(
        request,
        "web/home.html",
        {
            "page": page,
            "queue_rows": [
                {"slug": q.slug, "label": q.label, "count": counts.get(q.slug, 0)}
                for q in queues.QUEUES
            ],
            "group_rows": [
                {"slug": f"group-{g.pk}", "label": g.name, "count": counts.get(f"group-{g.pk}", 0)}
                for g in groups
            ],
            "view": slug,
            "view_title": title,
            "sort": sort,
            "per_page": per_page,
            "page_sizes": PAGE_SIZES,
            "query": query,
        },
    )
