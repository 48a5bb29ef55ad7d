"""What of a parsed mail is stored on the comment, and in which form (SPEC F6).

* ``split_body``: the new part of a reply is the comment body, the quoted history goes to
  ``Comment.quoted_text`` (shown folded, never deleted); together they are the whole text.
* ``referenced_cids`` / ``inline_html``: ``cid:`` image sources (RFC 2392) stay in the stored
  HTML as the stable reference; the attachment each one names is marked inline, and the page
  that shows the comment turns them into its own attachment URLs with ``inline_html``.
* ``db_text`` / ``db_json``: everything that reaches a column passes through these.
  PostgreSQL can't store NUL in ``text`` or ``jsonb``, and neither database can store lone
  surrogates (undecodable bytes carried through by the parser).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from postdesk.mail import html as html_module
from postdesk.mail.quotes import split_reply

_CID_SOURCE = re.compile(r"""\bsrc\s*=\s*["']?cid:([^"'\s>]+)""", re.I)


def db_text(value: str, limit: int | None = None) -> str:
    """``value`` without NUL and with lone surrogates replaced, cut to ``limit`` characters."""
    if value.isascii() and "\x00" not in value:
        # Nearly every value: nothing to clean, and no UTF-8 encoding to try (C-speed checks).
        return value[:limit] if limit is not None else value
    cleaned = value.replace("\x00", "")
    try:
        cleaned.encode("utf-8")
    except UnicodeEncodeError:
        cleaned = cleaned.encode("utf-8", "replace").decode("utf-8")
    return cleaned[:limit] if limit is not None else cleaned


def db_json(value: Any) -> Any:
    """``db_text`` applied to every string (keys too) of a JSON-able value."""
    kind = type(value)
    # Exact types first: the diagnostics are thousands of plain values per mail.
    if kind is str:
        return db_text(value)
    if kind is int or kind is float or kind is bool or value is None:
        return value
    if isinstance(value, str):
        return db_text(value)
    if isinstance(value, dict):
        return {db_text(str(key)): db_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [db_json(item) for item in value]
    return value


def split_body(text: str) -> tuple[str, str]:
    """(body, quoted_text) for a comment: the new part and the quoted history.

    When nothing new is left above the history (a bare forward, a reply typed below the
    quote), the whole text stays the body: a comment must never look empty.
    """
    new, quoted = split_reply(text)
    if not new.strip():
        return text.strip("\n"), ""
    return new.rstrip(), quoted.strip("\n")


def normalize_cid(value: str) -> str:
    """A Content-ID or ``cid:`` URL part as compared: unbracketed, %-decoded (RFC 2392)."""
    return unquote(value.strip().strip("<>")).strip().lower()


def referenced_cids(html: str) -> list[str]:
    """The Content-IDs the HTML shows as images, normalised, in order, once each."""
    found = (normalize_cid(match) for match in _CID_SOURCE.findall(html))
    return list(dict.fromkeys(cid for cid in found if cid))


def missing_cids(html: str, content_ids: Iterable[str]) -> list[str]:
    """References in the HTML that no part of the mail carries (a broken image)."""
    available = {normalize_cid(cid) for cid in content_ids if cid}
    return [cid for cid in referenced_cids(html) if cid not in available]


def inline_html(html: str, attachment_urls: dict[str, str]) -> str:
    """``html`` with each ``cid:`` image source replaced by the URL of its attachment.

    ``attachment_urls`` maps Content-IDs (any form) to URLs; unknown references stay ``cid:``
    and show as a broken image rather than anything remote.
    """
    urls = {normalize_cid(cid): url for cid, url in attachment_urls.items()}
    lookup: Callable[[str], str | None] = lambda cid: urls.get(normalize_cid(cid))  # noqa: E731
    return html_module.rewrite_cid_urls(html, lookup)
