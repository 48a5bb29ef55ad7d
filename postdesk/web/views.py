"""Views of the agent UI. Every page needs a signed-in agent or admin."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from postdesk.tickets.models import Status, Ticket

PAGE_SIZE = 50


def agent_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not getattr(request.user, "is_agent", False):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers and ``make run`` checks."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception:
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": database})


@agent_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    tickets = Ticket.objects.select_related("requester", "group", "assignee")
    if status in Status.values:
        tickets = tickets.filter(status=status)
    page = Paginator(tickets.order_by("-updated_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "web/home.html",
        {"page": page, "statuses": Status.choices, "current_status": status},
    )


@agent_required
@require_GET
def ticket_detail(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = get_object_or_404(
        Ticket.objects.select_related("requester", "group", "assignee", "received_at"), pk=ticket_id
    )
    comments = ticket.comments.select_related("author", "inbound").prefetch_related("attachments")
    return render(request, "web/ticket.html", {"ticket": ticket, "comments": comments})
