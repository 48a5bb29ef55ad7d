"""The Zendesk-compatible REST API under ``/api/v2`` (SPEC F16): one ``NinjaAPI``.

How to add a resource (e.g. ``suspended_tickets``):

1. Write ``postdesk/api/suspended_tickets.py`` with ``router = Router(tags=["Suspended
   tickets"])`` and operations on paths relative to the resource::

       from ninja import Router
       from postdesk.api.auth import require_admin
       from postdesk.api.errors import RecordNotFound, RecordInvalid
       from postdesk.api.pagination import PageParams, paginate

       router = Router(tags=["Suspended tickets"])

       @router.get("", response=SuspendedTicketList)
       def list_suspended(request, page: Query[PageParams]):
           require_admin(request)
           result = paginate(request, queryset, page)
           return {"suspended_tickets": [...], **result.body}

2. Add one line to ``ROUTERS`` below: ``("suspended_tickets", "postdesk.api.suspended_tickets")``.

Every operation then gets, without asking: authentication (Basic ``email/token:TOKEN``,
Bearer, or the browser session with CSRF: ``postdesk.api.auth``; only agents and admins pass),
the per-user rate limit with ``429`` + ``Retry-After`` (``postdesk.api.throttle``), Zendesk's
error bodies for every exception (``postdesk.api.errors``: raise ``RecordNotFound``,
``RecordInvalid.field(name, words)``, ``Forbidden``...), a ``.json`` alias of each path
(``/api/v2/tickets.json`` as Zendesk clients send it) and a place in the OpenAPI document at
``/api/v2/openapi.json``. Narrow roles inside the operation with ``require_agent(request)`` or
``require_admin(request)``. Wrap objects as Zendesk does: ``{"ticket": {...}}`` for one,
``{"tickets": [...], **page.body}`` for a list (offset or cursor pagination,
``postdesk.api.pagination``), and declare list operations with ``exclude_unset=True``: the
body then carries only the keys of the pagination style used (zenpy tells the styles apart
by which keys are present), while ``null`` values your dicts set are kept. Type ids the client
sends as ``postdesk.api.shapes.DbId`` (bounded to 64 bits: an absurd id is a 4xx, not a
database overflow). Any other path under ``/api/v2/`` answers Zendesk's JSON 404.
"""

from __future__ import annotations

import importlib

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, path, re_path
from django.urls.resolvers import RoutePattern
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Router

from postdesk.api import errors
from postdesk.api.auth import API_AUTH
from postdesk.api.throttle import PerUserThrottle

# (path prefix under /api/v2/, module holding ``router``). One line per resource.
ROUTERS: list[tuple[str, str]] = [
    ("tickets", "postdesk.api.tickets"),
    ("groups", "postdesk.api.groups"),
    ("users", "postdesk.api.users"),
    ("recipient_addresses", "postdesk.channels.api"),
    ("suspended_tickets", "postdesk.suspension.api"),
]


def build_api() -> NinjaAPI:
    api = NinjaAPI(
        title="Postdesk API",
        version="2",
        description="Zendesk-compatible REST API of the Postdesk email channel.",
        urls_namespace="api-v2",
        auth=API_AUTH,
        throttle=[PerUserThrottle()],
        docs_url="/docs",
    )
    errors.install(api)
    for prefix, module_name in ROUTERS:
        router: Router = importlib.import_module(module_name).router
        api.add_router(f"/{prefix}", router)
    return api


api = build_api()


def _with_json_aliases(
    patterns: list[URLPattern | URLResolver],
) -> list[URLPattern | URLResolver]:
    """Each operation's path also answers with ``.json`` appended, as Zendesk's do."""
    aliases: list[URLPattern | URLResolver] = []
    for pattern in patterns:
        route = str(pattern.pattern)
        if (
            isinstance(pattern, URLPattern)
            and isinstance(pattern.pattern, RoutePattern)
            and route
            and not route.endswith((".json", "/"))
        ):
            aliases.append(path(f"{route}.json", pattern.callback))
    return patterns + aliases


@csrf_exempt
def _no_such_endpoint(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other path under ``/api/v2/``: Zendesk's JSON 404, not an HTML page."""
    return JsonResponse({"error": "InvalidEndpoint", "description": "Not found"}, status=404)


def urls() -> tuple[list[URLPattern | URLResolver], str, str]:
    """What ``postdesk/urls.py`` includes at ``api/v2/``."""
    patterns, app_name, namespace = api.urls
    catch_all = re_path(r"^(?P<rest>[\s\S]*)\Z", _no_such_endpoint)
    return [*_with_json_aliases(list(patterns)), catch_all], app_name, namespace
