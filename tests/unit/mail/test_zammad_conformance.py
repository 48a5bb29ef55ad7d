"""Conformance with Zammad's mail-parser test corpus (``../shared/corpus/zammad``).

Each ``mailNNN.box`` is parsed and compared, field by field, with Zammad's expected result in
``expected.jsonl`` (see that folder's README.md for the exact meaning of each field). Fields
that are ``null`` there are not asserted by Zammad and are not counted here. The test prints
a per-field agreement table, requires at least 95% on every field (except the ``FLOORS``
below), and every remaining difference must be listed in ``KNOWN_DIVERGENCES`` with the reason
we differ on purpose; a listed difference that went away fails too, so the list stays true.

How each field is normalised before the comparison (nothing else is):

* ``from_email``, ``from_display_name``, ``subject``: compared exactly, as decoded strings.
* ``to``, ``cc``, ``reply_to``: whitespace runs become one space on both sides. Ours is our
  parsed address list rendered as ``name <email>`` (the name quoted only where RFC 5322
  needs it); when that differs, our decoded header as written is tried too, because Zammad
  sometimes re-renders the list and sometimes keeps it as written.
* ``content_type``: ``text/html`` when we produced an HTML body, else ``text/plain``.
* ``body_text``: our sanitized HTML (or our text when there is no HTML) rendered the way the
  corpus README renders Zammad's body: block tags become spaces, other tags go, entities
  unescape, every whitespace run (NBSP included) becomes one space, ends trimmed. An empty
  body is Zammad's placeholder ``no visible content``. Where Zammad did not assert the
  content type but stored HTML, its body is tag-stripped the same way.
* ``attachments``: counted only where the .yml has an ``attachments`` key. Same number of
  attachments, and each of Zammad's matched by one of ours with the same filename, the same
  MIME type (when Zammad gives one; case-insensitive) and the same md5. Our inert copy of the
  sender's HTML stands for Zammad's ``message.html`` (``text/html``). The md5 is taken of
  our bytes as stored, with CRLF turned into LF (the README says CRLF was restored by
  inference in many boxes), and, for text parts, of the text re-encoded as UTF-8 (Zammad
  stores text attachments as UTF-8).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from postdesk.mail.charsets import decode_bytes
from postdesk.mail.parse import Address, ParsedMail, Part, parse

REPO_ROOT = Path(__file__).resolve().parents[3]
CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "zammad"
FIELDS = (
    "from_email",
    "from_display_name",
    "to",
    "cc",
    "reply_to",
    "subject",
    "content_type",
    "body_text",
    "attachments",
)
THRESHOLD = 0.95
ADDRESS_HEADERS = {"to": "To", "cc": "Cc", "reply_to": "Reply-To"}

# Fields whose agreement with Zammad stays under THRESHOLD because Zammad's answer is wrong
# for a help desk (or the fixture pair disagrees with itself) in more cases than 5% allows;
# every one of those cases is listed below with the reason, each reviewed against what the
# agent then sees. body_text is 55 of 62: reaching 59 needs all four of mail016, mail019
# (show an editor's <title> as the customer's first line), mail087 and mail105 (hide
# readable text behind 'no visible content'). attachments is 43 of 49: reaching 47 needs
# all four of mail071 (store an empty file), mail087 and mail105 (the body text again as a
# 'file'), mail092 (a name that comes from Zammad's parser raising on an empty message).
# They are held at the measured floor so that regressions still fail.
FLOORS = {"body_text": 0.88, "attachments": 0.87}

_FIXTURE = "fixture pair disagrees with itself: "
_TITLE = "Zammad keeps the <title> text ('新建网页 N', i.e. 'New web page N', an HTML editor's default) as body text; no mail client shows a title as part of the message, and an agent would read it as the customer's first line, so we drop it"
_DEFAULT_TYPE = "a body part without Content-Type is text/plain by RFC 2045 section 5.2; we show the fax text as the body, Zammad shows 'no visible content' and hides the text in an attachment named 'file' the agent must open"
_NO_BOUNDARY = "multipart/mixed whose boundary never occurs: we read the body as text (with a defect) so the agent sees it (mail105: 'äöüß ad asd…', in the charset its Subject declares); Zammad shows 'no visible content' and stores the text as an opaque 'file' (for mail071 an empty one, which helps nobody)"

# file -> field -> why Postdesk's answer differs from Zammad's and is the one we want.
KNOWN_DIVERGENCES: dict[str, dict[str, str]] = {
    "mail003.box": {
        "body_text": _FIXTURE
        + "the .yml quotes 'john.smith@example.com' where the box's HTML part has 'john.hinz@example.com' (redacted separately)",
    },
    "mail016.box": {"body_text": _TITLE},
    "mail017.box": {
        "body_text": _FIXTURE + "the UTF-8 bytes in the box are E9 9E 9B ('鞛'); the .yml has '离'",
        "attachments": _FIXTURE + "message.html differs by the same character as body_text",
    },
    "mail019.box": {"body_text": _TITLE},
    "mail046.box": {
        "from_display_name": "raw GB2312 bytes in From: we decode them ('武兰成', charset guessed over all 8-bit header bytes, which also gives the Subject Zammad expects); Zammad shows mojibake",
    },
    "mail065.box": {
        "from_display_name": "the encoded word '=?iso-8859-1?Q?B=FCrling,=20Andreas?=' holds a comma; Zammad splits the address list inside it ('=20Andreas?='), we decode it whole: 'Bürling, Andreas'",
    },
    "mail071.box": {"attachments": _NO_BOUNDARY},
    "mail072.box": {
        "body_text": "the body is windows-1258 and says 'à', 'août', '\u2019'; Zammad decodes it with the wrong table ('ŕ', 'aoűt', '\\x92')",
        "attachments": "message.html differs by the same decoding as body_text",
    },
    "mail076.box": {
        "from_display_name": "From is '\"Millions Lottery Spain transfer\"@example.com>' (a quoted local part, no display name); Zammad invents the name 'Millions Lottery Spain transfer@example.com>'",
    },
    "mail087.box": {"body_text": _DEFAULT_TYPE, "attachments": _DEFAULT_TYPE},
    "mail089.box": {
        "subject": "the Subject is 'Incident INC678439: -- …' and we keep it as sent; Zammad drops the colon",
    },
    "mail092.box": {
        "attachments": "the empty attached message is named from its Content-Description ('Undelivered Message.eml'), as Zammad itself names mail055's; here Zammad's parser raises on the empty message and its rescue names it 'Mail.eml'",
    },
    "mail105.box": {"body_text": _NO_BOUNDARY, "attachments": _NO_BOUNDARY},
    "mail117.box": {
        "from_email": "security: RFC 2047 section 5 forbids encoded words in an addr-spec; '=?utf-8?Q?attacker?Q?agent?=@victim.example' stays literal so it can't pose as another address",
    },
    "mail118.box": {
        "from_email": "security: '=?utf-8?Q?agent?=@example.com' must not become 'agent@example.com' (address spoofing through an encoded word, RFC 2047 section 5)",
    },
}

pytestmark = pytest.mark.skipif(
    not (CORPUS / "expected.jsonl").is_file(),
    reason=f"Zammad corpus not found at {CORPUS} (it lives beside the repository, in ../shared)",
)

_BLOCK_TAGS = re.compile(
    r"</?(?:br|p|div|td|th|tr|li|ul|ol|h[1-6]|pre|blockquote|table|tbody|thead|hr|dl|dt|dd)\b[^>]*>",
    re.I,
)
_ANY_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[\s\u00a0]+")


def normalise_space(value: str) -> str:
    return _SPACES.sub(" ", value).strip()


def html_as_text(value: str) -> str:
    """The README's rendering of an HTML body: blocks become spaces, tags go, entities unescape."""
    return normalise_space(html.unescape(_ANY_TAG.sub("", _BLOCK_TAGS.sub(" ", value))))


def load_expected() -> list[dict[str, Any]]:
    with (CORPUS / "expected.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def ours_body_type(mail: ParsedMail) -> str:
    return "text/html" if mail.html else "text/plain"


def ours_body_text(mail: ParsedMail) -> str:
    if mail.html:
        return html_as_text(mail.html)
    # Zammad stores this placeholder for a mail without displayable body.
    return normalise_space(mail.text) or "no visible content"


def expected_body_text(expected: dict[str, Any]) -> str:
    """The README strips tags only where the .yml asserts text/html; where the content type
    is not asserted (null) but the stored body is HTML, strip it the same way."""
    body = str(expected["body_text"])
    if expected["content_type"] is None and _ANY_TAG.search(body):
        return html_as_text(body)
    return normalise_space(body)


def attachment_md5s(part: Part) -> set[str]:
    """md5 of the part as stored and with LF line ends, and of its text re-encoded as UTF-8.

    Zammad stores text attachments as UTF-8; and the README explains that the CRLF line ends of
    many boxes were restored by inference, so line ends are not evidence either way.
    """
    variants = {part.data, part.data.replace(b"\r\n", b"\n")}
    if part.content_type.startswith("text/"):
        text, _ = decode_bytes(part.data, None)
        variants.add(text.encode("utf-8"))
    return {hashlib.md5(variant).hexdigest() for variant in variants}


def attachments_asserted(expected: dict[str, Any]) -> bool:
    """expected.jsonl writes [] also when the .yml has no attachments key (nothing asserted)."""
    yml = CORPUS / (expected["file"].removesuffix(".box") + ".yml")
    return re.search(r"^attachments:", yml.read_text(encoding="utf-8"), re.M) is not None


def attachments_agree(mail: ParsedMail, expected: list[dict[str, Any]]) -> bool:
    ours = list(mail.attachments)
    if len(ours) != len(expected):
        return False
    for wanted in expected:
        match = next((part for part in ours if _same_attachment(part, wanted)), None)
        if match is None:
            return False
        ours.remove(match)
    return True


def _same_attachment(part: Part, wanted: dict[str, Any]) -> bool:
    # Our inert copy of the original HTML is Zammad's "message.html".
    filename = "message.html" if part.original_html else part.filename
    mime_type = "text/html" if part.original_html else part.content_type
    if filename != wanted["filename"]:
        return False
    if wanted["mime_type"] is not None and mime_type != wanted["mime_type"].lower():
        return False
    return wanted["md5"] in attachment_md5s(part)


def describe_attachments(mail: ParsedMail) -> list[tuple[str, str, str]]:
    return [
        (part.filename, part.content_type, hashlib.md5(part.data).hexdigest())
        for part in mail.attachments
    ]


_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


def address_list(addresses: tuple[Address, ...]) -> str:
    """Our parsed addresses as a display string, quoting names only where RFC 5322 needs it."""
    rendered = []
    for address in addresses:
        name = address.name
        if name and _SPECIALS.search(name):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        rendered.append(f"{name} <{address.email}>" if name else address.email)
    return ", ".join(rendered)


def field_value(mail: ParsedMail, name: str, expected: dict[str, Any]) -> Any:
    getters: dict[str, Callable[[], Any]] = {
        "from_email": lambda: mail.from_address.email if mail.from_address else None,
        "from_display_name": lambda: mail.from_address.name if mail.from_address else None,
        "to": lambda: address_list(mail.to),
        "cc": lambda: address_list(mail.cc),
        "reply_to": lambda: address_list(mail.reply_to),
        "subject": lambda: mail.subject,
        "content_type": lambda: ours_body_type(mail),
        "body_text": lambda: ours_body_text(mail),
        "attachments": lambda: describe_attachments(mail),
    }
    return getters[name]()


def field_agrees(mail: ParsedMail, name: str, expected: dict[str, Any]) -> bool:
    wanted = expected[name]
    if name == "attachments":
        return attachments_agree(mail, wanted)
    ours = field_value(mail, name, expected)
    if name in ADDRESS_HEADERS:
        wanted = normalise_space(wanted)
    if name == "body_text":
        wanted = expected_body_text(expected)
    if name in ADDRESS_HEADERS and ours != wanted:
        # The README defines these as "the decoded header"; Zammad sometimes re-renders the
        # list and sometimes keeps it as written, so both of our renderings are fair answers.
        ours = normalise_space(mail.headers.get(ADDRESS_HEADERS[name]))
    return bool(ours == wanted)


def test_zammad_corpus_field_agreement() -> None:
    records = load_expected()
    agreed = dict.fromkeys(FIELDS, 0)
    counted = dict.fromkeys(FIELDS, 0)
    unexplained: list[str] = []
    for expected in records:
        mail = parse((CORPUS / expected["file"]).read_bytes())
        for name in FIELDS:
            if expected[name] is None:
                continue
            if name == "attachments" and not attachments_asserted(expected):
                continue
            counted[name] += 1
            if field_agrees(mail, name, expected):
                agreed[name] += 1
                continue
            if name not in KNOWN_DIVERGENCES.get(expected["file"], {}):
                ours = field_value(mail, name, expected)
                unexplained.append(
                    f"{expected['file']} {name}: ours={ours!r} zammad={expected[name]!r}"
                )

    print(f"\n{'field':<20}{'agree':>8}{'of':>6}{'rate':>9}")
    for name in FIELDS:
        rate = agreed[name] / counted[name] if counted[name] else 1.0
        print(f"{name:<20}{agreed[name]:>8}{counted[name]:>6}{rate:>9.1%}")
    assert not unexplained, "differences not listed in KNOWN_DIVERGENCES:\n" + "\n".join(
        unexplained
    )
    for name in FIELDS:
        rate = agreed[name] / counted[name] if counted[name] else 1.0
        required = FLOORS.get(name, THRESHOLD)
        assert rate >= required, f"{name}: {rate:.1%} agreement is under {required:.0%}"


def test_every_known_divergence_still_diverges() -> None:
    """A divergence that went away must leave the list, so the list stays true."""
    records = {record["file"]: record for record in load_expected()}
    stale = []
    for file, fields in KNOWN_DIVERGENCES.items():
        mail = parse((CORPUS / file).read_bytes())
        stale += [f"{file} {name}" for name in fields if field_agrees(mail, name, records[file])]
    assert not stale, "listed as divergent but now agreeing: " + ", ".join(stale)
