"""HTML bodies: sanitizing them for the agent UI and rendering them as plain text.

What lives here:

* ``sanitize`` runs every HTML body through ONE module-level ``nh3.Cleaner`` (an allow-list:
  formatting tags, tables, links and images only). Scripts and styles are dropped with their
  content, event handlers and unknown attributes are removed, ``href`` accepts only http(s),
  mailto and tel, ``src`` accepts ``cid:`` and raster ``data:`` images, and remote images
  (tracking pixels) load only when the caller passes ``allow_remote_images=True``. Inline
  ``style`` keeps only an allow-list of presentational properties without ``url()``,
  ``expression()``, escapes or positioning, so CSS can't load, execute or overlay the UI.
* ``rewrite_cid_urls`` turns ``cid:`` references (RFC 2392) into URLs chosen by the caller; the
  sanitizer itself leaves them as ``cid:`` so the parser stays free of storage concerns.
* ``html_to_text`` renders HTML as readable plain text (block structure becomes line breaks).
"""

from __future__ import annotations

import html as html_entities
import re
from collections.abc import Callable
from contextvars import ContextVar
from html.parser import HTMLParser

import nh3

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "address", "b", "bdi", "bdo", "big", "blockquote", "br", "caption",
        "center", "cite", "code", "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt",
        "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd",
        "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike",
        "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt",
        "u", "ul", "var", "wbr",
    }
)  # fmt: skip

# Dropped together with everything inside them: their text is never meant to be read.
_CONTENT_DROPPED_TAGS = frozenset(
    {"script", "style", "title", "head", "template", "noscript", "xmp", "iframe", "object",
     "embed", "svg", "math", "textarea", "select", "noembed", "noframes", "plaintext"}
)  # fmt: skip

_TABLE_ATTRIBUTES = {"align", "valign", "width", "height", "bgcolor", "colspan", "rowspan"}

ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"title", "dir", "lang", "align", "style"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height", "border"},
    "font": {"color", "face", "size"},
    "table": {"width", "border", "cellpadding", "cellspacing", "bgcolor", "summary"},
    "td": _TABLE_ATTRIBUTES,
    "th": _TABLE_ATTRIBUTES,
    "tr": {"valign", "bgcolor", "height"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "ol": {"start", "type", "reversed"},
    "li": {"value"},
    "blockquote": {"cite", "type"},
    "q": {"cite"},
}

_LINK_SCHEMES = ("http:", "https:", "mailto:", "tel:")
_REMOTE_SCHEMES = ("http:", "https:")
_DATA_IMAGE = re.compile(r"data:image/(?:png|gif|jpe?g|webp|bmp);base64,[A-Za-z0-9+/=\s]*\Z", re.I)

# Presentational CSS only; nothing that positions, loads, animates or generates content.
_STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "font", "font-family", "font-size", "font-style",
        "font-weight", "font-variant", "text-align", "text-decoration", "text-indent",
        "text-transform", "letter-spacing", "line-height", "word-spacing", "white-space",
        "vertical-align", "direction", "margin", "margin-top", "margin-right",
        "margin-bottom", "margin-left", "padding", "padding-top", "padding-right",
        "padding-bottom", "padding-left", "border", "border-top", "border-right",
        "border-bottom", "border-left", "border-color", "border-style", "border-width",
        "border-collapse", "border-spacing", "width", "height", "max-width", "min-width",
        "list-style-type", "table-layout",
    }
)  # fmt: skip
# Anything that could fetch, execute or escape the parser's view of the value.
_DANGEROUS_CSS = re.compile(
    r"url\s*\(|expression|javascript|vbscript|behavio|binding|@import|\\|/\*|[<>]", re.I
)

# Whether the current sanitize() call lets remote images through. A context variable, because
# the one shared Cleaner's attribute filter has no other way to learn the caller's choice.
_remote_images_allowed: ContextVar[bool] = ContextVar("remote_images_allowed", default=False)


def _clean_style(value: str) -> str | None:
    kept: list[str] = []
    for declaration in value.split(";"):
        prop, colon, css_value = declaration.partition(":")
        prop = prop.strip().lower()
        css_value = css_value.strip()
        if not colon or prop not in _STYLE_PROPERTIES or not css_value:
            continue
        if _DANGEROUS_CSS.search(css_value):
            continue
        kept.append(f"{prop}: {css_value}")
    return "; ".join(kept) or None


def _clean_href(value: str) -> str | None:
    stripped = value.strip()
    if stripped.startswith("#") or stripped.lower().startswith(_LINK_SCHEMES):
        return stripped
    return None


def _clean_src(value: str) -> str | None:
    stripped = value.strip()
    lowered = stripped.lower()
    if lowered.startswith("cid:") or _DATA_IMAGE.match(stripped):
        return stripped
    if lowered.startswith(_REMOTE_SCHEMES) and _remote_images_allowed.get():
        return stripped
    return None


def _filter_attribute(element: str, attribute: str, value: str) -> str | None:
    if attribute == "style":
        return _clean_style(value)
    if attribute == "href":
        return _clean_href(value)
    if attribute == "src":
        return _clean_src(value) if element == "img" else None
    if attribute == "cite":
        return _clean_href(value)
    return value


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(_CONTENT_DROPPED_TAGS),
    attributes=ALLOWED_ATTRIBUTES,
    attribute_filter=_filter_attribute,
    url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
    url_relative="deny",
)


def sanitize(html: str, *, allow_remote_images: bool = False) -> str:
    """Return ``html`` reduced to inert, displayable markup (see the module docstring).

    ``cid:`` image sources are kept as they are; pass the result through
    ``rewrite_cid_urls`` to point them at stored attachments.
    """
    if not html:
        return ""
    token = _remote_images_allowed.set(allow_remote_images)
    try:
        return _CLEANER.clean(html.replace("\x00", ""))
    finally:
        _remote_images_allowed.reset(token)


_IMAGE_WITH_SOURCE = re.compile(r"<img\b[^>]*\bsrc=", re.I)


def has_visible_content(sanitized_html: str) -> bool:
    """True when sanitized HTML shows something: text, or an image that has a source."""
    return bool(html_to_text(sanitized_html).strip()) or bool(
        _IMAGE_WITH_SOURCE.search(sanitized_html)
    )


_CID_SRC = re.compile(r"""(src\s*=\s*["']?)cid:([^"'\s>]+)""", re.I)


def rewrite_cid_urls(html: str, url_for: Callable[[str], str | None]) -> str:
    """Replace each ``cid:ID`` image source by ``url_for(ID)`` (RFC 2392).

    ``url_for`` gets the Content-ID without brackets; returning None leaves the reference as
    it was. The URL is HTML-escaped, so a caller can't break the markup by accident.
    """

    def replace(match: re.Match[str]) -> str:
        content_id = html_entities.unescape(match.group(2))
        url = url_for(content_id)
        if url is None:
            return match.group(0)
        return match.group(1) + html_entities.escape(url, quote=True)

    return _CID_SRC.sub(replace, html)


_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table",
        "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
_CELL_TAGS = frozenset({"td", "th"})
_INVISIBLE_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript"})


class _TextRenderer(HTMLParser):
    """Collects the visible text of an HTML document, with line breaks for its blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self._hidden_depth = 0
        self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE_TAGS:
            self._hidden_depth += 1
        elif tag == "br":
            self.pieces.append("\n")
        elif tag == "li":
            self.pieces.append("\n- ")
        elif tag in _BLOCK_TAGS:
            self.pieces.append("\n")
        elif tag in _CELL_TAGS:
            self.pieces.append(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.pieces.append(alt)
        if tag == "pre":
            self._pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "pre":
            self._pre_depth -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE_TAGS:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in _BLOCK_TAGS and tag != "li":
            self.pieces.append("\n")
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._hidden_depth:
            return
        if self._pre_depth:
            self.pieces.append(data)
        else:
            # Outside <pre>, source line breaks and indentation are not visible text.
            self.pieces.append(re.sub(r"[ \t\r\n\f]+", " ", data))


_SPACES_AROUND_NEWLINE = re.compile(r"[ \t]*\n[ \t]*")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """Render ``html`` as plain text: visible text only, blocks on their own lines."""
    if not html:
        return ""
    renderer = _TextRenderer()
    try:
        renderer.feed(html.replace("\x00", ""))
        renderer.close()
    except (AssertionError, ValueError):
        # HTMLParser gives up on a few pathological declarations; keep what it had read.
        pass
    text = "".join(renderer.pieces).replace("\xa0", " ")
    text = _SPACES_AROUND_NEWLINE.sub("\n", text)
    return _MANY_NEWLINES.sub("\n\n", text).strip()


def text_to_html(text: str) -> str:
    """Plain text as minimal, escaped HTML, for joining text and HTML parts of one body."""
    escaped = html_entities.escape(text, quote=False)
    return "<div>" + escaped.replace("\r\n", "\n").replace("\n", "<br>\n") + "</div>"
