"""Showing a comment's body in the agent UI without ever trusting it.

``Comment.html_body`` was sanitized when the mail arrived; it is sanitized *again* here with
the same allow-list (``postdesk.mail.html.sanitize``), because stored HTML may predate a fix
to the allow-list or come from another path. ``cid:`` images are pointed at the comment's
own inline attachments (``?inline=1`` serves raster images only); anything else stays
``cid:`` and shows nothing. Plain-text bodies are escaped and keep their line breaks.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from postdesk.inbound import content
from postdesk.mail import html as mail_html
from postdesk.tickets.models import Attachment, Comment


def attachment_url(attachment: Attachment, *, inline: bool = False) -> str:
    url = reverse("attachment", args=[attachment.pk, attachment.filename or "attachment"])
    return f"{url}?inline=1" if inline else url


def body_html(comment: Comment) -> SafeString:
    """The comment's body as markup safe to put in the page."""
    if comment.html_body:
        cleaned = mail_html.sanitize(comment.html_body)
        urls = {
            a.content_id: attachment_url(a, inline=True)
            for a in comment.attachments.all()
            if a.content_id
        }
        # The URLs written are escaped by rewrite_cid_urls; the markup around them is sanitized.
        return mark_safe(content.inline_html(cleaned, urls))  # noqa: S308
    return mark_safe(  # noqa: S308
        '<div class="plain">' + escape(comment.body).replace("\n", "<br>\n") + "</div>"
    )
