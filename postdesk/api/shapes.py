"""Small helpers shared by the API's object shapes: Zendesk's timestamps and resource URLs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from django.http import HttpRequest
from pydantic import Field

# The largest id a 64-bit primary key holds. Every id a client sends is bounded by it, so an
# absurd id is a 4xx, not a database overflow.
MAX_ID = 2**63 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]


def iso(moment: datetime | None) -> str | None:
    """Zendesk writes times as ``2026-11-26T09:00:00Z`` (UTC, whole seconds)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resource_url(request: HttpRequest, resource: str, pk: int) -> str:
    """The API URL of one object, e.g. ``https://desk/api/v2/tickets/35.json``."""
    return request.build_absolute_uri(f"/api/v2/{resource}/{pk}.json")
