"""HTML sanitizing and rendering: what survives the one nh3 cleaner, and what never does."""

from __future__ import annotations

import pytest

from postdesk.mail.html import html_to_text, rewrite_cid_urls, sanitize, text_to_html


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '<a href=" jAvAsCrIpT:alert(1)">x</a>',
        '<a href="vbscript:msgbox(1)">x</a>',
        '<svg><animate onbegin="alert(1)" attributeName="x"/></svg>',
        '<div style="width:expression(alert(1))">x</div>',
        '<div style="background:url(javascript:alert(1))">x</div>',
        '<div style="-moz-binding:url(http://evil.example/x.xml#x)">x</div>',
        '<div style="color:red;\\65 xpression(alert(1))">x</div>',
        '<object data="javascript:alert(1)"></object>',
        '<embed src="https://evil.example/x.swf">',
        '<meta http-equiv="refresh" content="0;url=https://evil.example">',
        '<base href="https://evil.example/">',
        '<link rel="stylesheet" href="https://evil.example/x.css">',
        '<form action="https://evil.example"><button>go</button></form>',
        '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
        '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
        '<p><b onclick="alert(1)">unclosed <i>tags',
        "<!--<script>alert(1)</script>-->",
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    ],
)
def test_nothing_executable_survives(payload: str) -> None:
    cleaned = sanitize(payload).lower()
    for marker in ("<script", "onerror", "onclick", "onbegin", "javascript:", "vbscript:",
                   "expression", "binding", "<iframe", "<object", "<embed", "<meta", "<base",
                   "<link", "<form", "svg", "evil.example"):  # fmt: skip
        assert marker not in cleaned, (marker, cleaned)


def test_remote_images_are_blocked_unless_allowed() -> None:
    html = '<img src="https://cdn.example/logo.png" alt="logo">'
    assert "cdn.example" not in sanitize(html)
    assert 'src="https://cdn.example/logo.png"' in sanitize(html, allow_remote_images=True)
    # The choice does not leak into the next call.
    assert "cdn.example" not in sanitize(html)


def test_cid_and_raster_data_images_stay() -> None:
    assert 'src="cid:a@b"' in sanitize('<img src="cid:a@b">')
    assert "data:image/png" in sanitize('<img src="data:image/png;base64,iVBORw0KGgo=">')


def test_safe_formatting_stays() -> None:
    html = '<table><tr><td style="color: #333; font-weight: bold">A</td></tr></table>'
    cleaned = sanitize(html)
    assert "<table>" in cleaned and "font-weight: bold" in cleaned
    assert 'rel="noopener noreferrer nofollow"' in sanitize('<a href="https://x.example">x</a>')


def test_positioning_css_is_dropped() -> None:
    assert "position" not in sanitize('<div style="position: fixed; top: 0">overlay</div>')


def test_rewrite_cid_urls() -> None:
    html = sanitize('<img src="cid:shot@example.com"><img src="cid:unknown@x">')
    rewritten = rewrite_cid_urls(
        html, lambda cid: "/attachments/1?a=1&b=2" if cid == "shot@example.com" else None
    )
    assert 'src="/attachments/1?a=1&amp;b=2"' in rewritten
    assert 'src="cid:unknown@x"' in rewritten


def test_html_to_text() -> None:
    html = (
        "<html><head><title>T</title><style>p{}</style></head><body>"
        "<p>First&nbsp;line</p><div>Second<br>Third</div><ul><li>a</li><li>b</li></ul>"
        "<script>hidden()</script></body></html>"
    )
    assert html_to_text(html) == "First line\n\nSecond\nThird\n\n- a\n- b"


def test_text_to_html_escapes() -> None:
    assert text_to_html("<b>&\nnext") == "<div>&lt;b&gt;&amp;<br>\nnext</div>"
