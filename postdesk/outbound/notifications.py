"""Notification texts: built-in templates per language, admin overrides, placeholders.

A template is a subject line and a plain-text body with placeholders such as
``{{ ticket.id }}`` or ``{{ requester.name }}`` (the names Zendesk admins know). They are
filled by simple substitution, not by a template language: an admin editing a notification
can move words and placeholders around but cannot reach into objects or run code, and a
placeholder that doesn't exist is an error at save time, not an empty gap in a customer's mail.

Built-in texts live in ``templates/outbound/notifications/<name>.<language>.txt`` (first line
``Subject: …``, a blank line, then the body); a ``NotificationTemplate`` row with the same
name and language overrides one. The language is the requester's (``User.locale``), falling
back to English.

Mail is rendered from the texts in force as a snapshot (``postdesk.snapshots``): the overrides
are one small table, read once every few seconds rather than once per mail, and an admin's
edit reaches the workers within the snapshot's lifetime. Each text is split into its literal
pieces and placeholders once, not searched again for every mail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.core.exceptions import ValidationError

from postdesk.outbound.models import NotificationTemplate
from postdesk.snapshots import Snapshot

LANGUAGES = ("en", "ko")
NAMES = ("new_ticket", "public_reply", "admin_notice")
PLACEHOLDERS = frozenset(
    {
        "ticket.id",
        "ticket.subject",
        "ticket.status",
        "ticket.link",
        "requester.name",
        "requester.email",
        "agent.name",
        "comment.latest",
        "comment.history",
        "notice.subject",
        "notice.body",
    }
)
_PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
_BUILT_IN_DIR = Path(__file__).resolve().parent / "templates" / "outbound" / "notifications"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    language: str


def language_for(locale: str) -> str:
    """``ko``, ``ko-KR``, ``ko_KR`` → ``ko``; anything unknown → ``en``."""
    primary = locale.replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else "en"


def validate_template(subject: str, body: str) -> None:
    """Refuse unknown placeholders and multi-line subjects (admin input)."""
    unknown = sorted(
        {m.group(1) for m in _PLACEHOLDER_RE.finditer(subject + "\n" + body)} - PLACEHOLDERS
    )
    if unknown:
        raise ValidationError(
            "Unknown placeholder(s): %(names)s", params={"names": ", ".join(unknown)}
        )
    if "\n" in subject or "\r" in subject:
        raise ValidationError("The subject must be one line.")


@lru_cache(maxsize=32)
def built_in(name: str, language: str) -> tuple[str, str]:
    """The built-in subject and body of a notification."""
    if name not in NAMES or language not in LANGUAGES:
        raise KeyError(f"no notification {name!r} in {language!r}")
    source = (_BUILT_IN_DIR / f"{name}.{language}.txt").read_text(encoding="utf-8")
    head, _, body = source.partition("\n\n")
    if not head.startswith("Subject: "):
        raise ValueError(f"{name}.{language}.txt must start with a Subject: line")
    return head.removeprefix("Subject: ").strip(), body


def source(name: str, language: str) -> tuple[str, str]:
    """The subject and body in force: an admin's override, else the built-in text (read
    from the database: what the admin pages show and edit)."""
    override = NotificationTemplate.objects.filter(name=name, language=language).first()
    if override is not None:
        return override.subject, override.body
    return built_in(name, language)


_OVERRIDES = Snapshot(
    lambda: {
        (row.name, row.language): (row.subject, row.body)
        for row in NotificationTemplate.objects.only("name", "language", "subject", "body")
    },
    depends_on=(NotificationTemplate,),
)


def _in_force(name: str, language: str) -> tuple[str, str]:
    """``source`` as mail is rendered from it: the overrides from the snapshot."""
    override = _OVERRIDES.get().get((name, language))
    return override if override is not None else built_in(name, language)


@lru_cache(maxsize=256)
def _pieces(template: str) -> tuple[tuple[str, bool], ...]:
    """The template as (literal text, False) and (placeholder name, True) pieces, in order."""
    pieces: list[tuple[str, bool]] = []
    position = 0
    for match in _PLACEHOLDER_RE.finditer(template):
        pieces.append((template[position : match.start()], False))
        pieces.append((match.group(1), True))
        position = match.end()
    pieces.append((template[position:], False))
    return tuple(pieces)


def fill(template: str, values: Mapping[str, str]) -> str:
    # An unknown placeholder can't be saved (validate_template); one that is known but not
    # given for this kind of mail is left empty.
    return "".join(
        values.get(piece, "") if placeholder else piece for piece, placeholder in _pieces(template)
    )


def render(name: str, locale: str, values: Mapping[str, str]) -> Rendered:
    language = language_for(locale)
    subject, body = _in_force(name, language)
    return Rendered(
        subject=" ".join(fill(subject, values).split()),
        text=fill(body, values).strip("\n") + "\n",
        language=language,
    )
