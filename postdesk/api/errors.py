"""Zendesk's error format for every failure the API returns (SPEC F16).

Zendesk answers errors as JSON ``{"error": <label>, "description": <words>}``, adding
``"details": {<field>: [{"description": ..., "error": <code>}]}`` for validation failures
(``422 RecordInvalid``). Clients such as zenpy and the official Ruby client read exactly these
keys, so every exception reaching the API is turned into that shape here:

* ``ApiError`` and its subclasses (``RecordNotFound``, ``RecordInvalid``, ``Forbidden``...) are
  what endpoint code raises;
* ninja's own errors (authentication, authorization, throttling, request validation, ``Http404``)
  and unexpected exceptions are mapped by the handlers ``install(api)`` registers.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError

logger = logging.getLogger("postdesk.api")

FORBIDDEN_DESCRIPTION = "You do not have access to this page. Please contact the account owner of this help desk for further help."


class ErrorDetail(Schema):
    description: str
    error: str


class ErrorOut(Schema):
    """The body of every error response."""

    error: str
    description: str | None = None
    details: dict[str, list[ErrorDetail]] | None = None


class ApiError(Exception):
    """An error with Zendesk's label, words and HTTP status."""

    status = 400
    error = "InvalidValue"
    description = "Invalid request"

    def __init__(
        self, description: str | None = None, details: dict[str, list[dict[str, str]]] | None = None
    ) -> None:
        self.description = description or self.description
        self.details = details
        super().__init__(self.description)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "description": self.description}
        if self.details:
            body["details"] = self.details
        return body


class RecordNotFound(ApiError):
    status = 404
    error = "RecordNotFound"
    description = "Not found"


class RecordInvalid(ApiError):
    status = 422
    error = "RecordInvalid"
    description = "Record validation errors"

    @classmethod
    def field(cls, name: str, description: str, code: str = "InvalidValue") -> RecordInvalid:
        """One failing field, as Zendesk reports it."""
        return cls(details={name: [{"description": description, "error": code}]})


class Forbidden(ApiError):
    status = 403
    error = "Forbidden"
    description = FORBIDDEN_DESCRIPTION


class Unauthorized(ApiError):
    status = 401
    error = "Couldn't authenticate you"
    description = "Couldn't authenticate you"


class TooManyRequests(ApiError):
    status = 429
    error = "APIRateLimitExceeded"
    description = "Number of allowed API requests per minute exceeded"

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__()


def error_response(
    api: NinjaAPI, request: HttpRequest, status: int, body: dict[str, Any]
) -> HttpResponse:
    return api.create_response(request, body, status=status)


def _pydantic_details(errors: list[dict[str, Any]]) -> tuple[bool, dict[str, list[dict[str, str]]]]:
    """Field errors keyed by the field's dotted name without the wrapping parts; True when any
    came from the body (a 422), False when all are query/path parameters (a 400)."""
    details: dict[str, list[dict[str, str]]] = {}
    from_body = False
    for item in errors:
        loc = [str(part) for part in item.get("loc", ())]
        source = loc[0] if loc else "body"
        from_body = from_body or source == "body"
        # ("body", "payload", "ticket", "subject") -> "subject"
        parts = loc[1:]
        if source == "body" and parts:
            parts = parts[1:]
        if parts and parts[0] in ("ticket", "user", "group", "comment"):
            parts = parts[1:] or parts
        name = ".".join(parts) or "base"
        message = str(item.get("msg", "is invalid"))
        details.setdefault(name, []).append(
            {"description": f"{name}: {message}", "error": str(item.get("type", "InvalidValue"))}
        )
    return from_body, details


def install(api: NinjaAPI) -> None:
    """Register the handlers that turn every exception into Zendesk's error body."""

    def on_api_error(request: HttpRequest, exc: Any) -> HttpResponse:
        assert isinstance(exc, ApiError)
        response = error_response(api, request, exc.status, exc.body())
        if isinstance(exc, TooManyRequests):
            response["Retry-After"] = str(math.ceil(exc.retry_after))
        elif isinstance(exc, Unauthorized):
            response["WWW-Authenticate"] = 'Basic realm="Postdesk API"'
        return response

    def on_validation(request: HttpRequest, exc: Any) -> HttpResponse:
        assert isinstance(exc, NinjaValidationError)
        from_body, details = _pydantic_details(list(exc.errors))
        if from_body:
            return on_api_error(request, RecordInvalid(details=details))
        return on_api_error(request, ApiError("Invalid parameter", details=details))

    def on_http_error(request: HttpRequest, exc: Any) -> HttpResponse:
        assert isinstance(exc, HttpError)
        if isinstance(exc, Throttled):
            return on_api_error(request, TooManyRequests(exc.wait or 60))
        if isinstance(exc, AuthenticationError) or exc.status_code == 401:
            return on_api_error(request, Unauthorized())
        if isinstance(exc, AuthorizationError) or exc.status_code == 403:
            return on_api_error(
                request, Forbidden(exc.message if exc.message != "Forbidden" else None)
            )
        if exc.status_code == 404:
            return on_api_error(request, RecordNotFound())
        error = ApiError(exc.message)
        error.status = exc.status_code
        return on_api_error(request, error)

    def on_not_found(request: HttpRequest, exc: Any) -> HttpResponse:
        return on_api_error(request, RecordNotFound())

    def on_permission_denied(request: HttpRequest, exc: Any) -> HttpResponse:
        return on_api_error(request, Forbidden())

    def on_unexpected(request: HttpRequest, exc: Any) -> HttpResponse:
        logger.exception("API error on %s %s", request.method, request.path)
        return error_response(
            api,
            request,
            500,
            {"error": "InternalError", "description": "Something went wrong on our side"},
        )

    api.add_exception_handler(Exception, on_unexpected)
    api.add_exception_handler(ApiError, on_api_error)
    api.add_exception_handler(NinjaValidationError, on_validation)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(PermissionDenied, on_permission_denied)
