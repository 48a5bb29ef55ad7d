"""Refuse NUL characters in API input before any view sees them.

No database column can hold NUL (PostgreSQL refuses it outright; SQLite would truncate it in
some clients), and no help desk field needs it. Django's forms already reject it; the JSON
API's schemas do not, so this middleware answers ``422 RecordInvalid`` (Zendesk's shape) for
an API request whose body, query string or path carries one, escaped or raw.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

API_PREFIX = "/api/"
NUL_FORMS = (b"\x00", b"\\u0000", b"%00")


def _carries_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path:
        return True
    query = request.META.get("QUERY_STRING", "").lower().encode("latin-1", "replace")
    if any(form in query for form in NUL_FORMS):
        return True
    # The body is read once here; Django keeps it for the view.
    body = request.body.lower() if request.method not in ("GET", "HEAD", "OPTIONS") else b""
    return any(form in body for form in NUL_FORMS[:2])


class RefuseNulInApi:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX) and _carries_nul(request):
            return JsonResponse(
                {
                    "error": "RecordInvalid",
                    "description": "Record validation errors",
                    "details": {
                        "base": [
                            {
                                "description": "NUL characters are not allowed",
                                "error": "InvalidValue",
                            }
                        ]
                    },
                },
                status=422,
            )
        return self.get_response(request)
