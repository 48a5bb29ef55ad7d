"""Serving stored attachments to agents: always as a download, never rendered by the browser
in our origin (``Content-Disposition: attachment``, ``nosniff``, a sandboxing CSP), except
raster images asked for inline by the conversation view (``?inline=1``)."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET

from postdesk.tickets import blobs
from postdesk.tickets.models import Attachment
from postdesk.web.access import user_from_request

# Images a browser decodes without running anything (SVG is not among them: it is a document).
INLINE_IMAGE_TYPES = frozenset(
    {"image/png", "image/gif", "image/jpeg", "image/jpg", "image/webp", "image/bmp"}
)


@require_GET
def download(request: HttpRequest, attachment_id: int, filename: str) -> HttpResponseBase:
    user = user_from_request(request)
    if user is None:
        if request.user.is_authenticated:
            return HttpResponse(status=403)
        return redirect(f"/login/?next={request.path}")
    attachment = get_object_or_404(Attachment, pk=attachment_id)
    try:
        handle = blobs.path_for(attachment.sha256).open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404("attachment bytes missing") from None
    content_type = attachment.content_type or "application/octet-stream"
    inline = request.GET.get("inline") == "1" and content_type in INLINE_IMAGE_TYPES
    if not inline and content_type.startswith("text/"):
        # Text is served as plain text so a .html attachment can never become a page.
        content_type = "text/plain; charset=utf-8"
    elif not inline and content_type not in INLINE_IMAGE_TYPES:
        content_type = content_type if "/" in content_type else "application/octet-stream"
    response = FileResponse(
        handle,
        as_attachment=not inline,
        filename=attachment.filename or "attachment",
        content_type=content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response
