"""Separating what a customer just wrote from the quoted history and signature below it.

``split_reply(text)`` returns ``(new, quoted)`` with ``new + quoted == text``: nothing is ever
dropped, the UI only folds ``quoted`` away. The cut is made, in this order, at:

1. Postdesk's own reply delimiter (``##- Please type your reply above this line -##`` or its
   Korean form), together with the client's attribution line just above it;
2. the first line that starts quoted history or a signature: an attribution ("On … wrote:",
   in the languages clients write it), a forwarded/original-message banner, a block of
   Outlook-style header lines (From/Sent/To/Subject and their translations), a separator line,
   the RFC 3676 section 4.3 signature delimiter ``-- ``, or a "Sent from my phone" footer;
3. failing those, quotequail's reply-header detection.

Quoted lines (``>``) at the top of a reply that goes on below them are inline answers, not
history, and stay in ``new``. Fenced code blocks are never cut.
"""

from __future__ import annotations

import re

import quotequail

REPLY_DELIMITERS = (
    "##- Please type your reply above this line -##",
    "##- 이 줄 위에 답장을 입력해 주세요 -##",
)

# Verbs mail clients put in an attribution line ("On <date>, <name> wrote:").
_ATTRIBUTION_VERBS = (
    r"wrote|writes|escribió|escreveu|a\s+écrit|ha\s+scritto|schrieb|schreef|geschreven|skrev|"
    r"skrevet|napisał(?:\(a\))?|napisal|написал(?:\u0430)?|написав|пише|写道|寫道|님이\s*작성|작성"
)
_ATTRIBUTION = re.compile(
    rf"^[>\s]*(?=.*[\d@]).{{0,300}}?\b(?:{_ATTRIBUTION_VERBS})\b.{{0,120}}?(?:[:\uff1a]|-{{2,}})\s*$",
    re.I,
)
# How attributions begin ("On …", "Am …", "Le …", a date…): only such a line may be joined
# with the next one to complete an attribution, so body sentences aren't swallowed.
_ATTRIBUTION_START = re.compile(
    r"^[>\s]*(?:on|am|le|el|il|op|em|w\s+dniu|den|at|\d{1,4}[\s./-])", re.I
)
# The last line of a wrapped attribution ends with its colon (or a dash banner).
_ATTRIBUTION_END = re.compile(r"(?:[:\uff1a]|-{2,})\s*$")
_ATTRIBUTION_LINES = 3
# The lookbehind lets a match start only where an address can begin: without it, a search
# over one long run of word characters retries from every position (quadratic time).
_ADDRESS_OR_BRACKET = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.-]+|<\s*$")
# No attribution, banner or header line is longer: longer lines are body text, and skipping
# them keeps the heuristics linear on 200 KB single-line bodies.
_MAX_MARKER_LINE = 1000
# Old Gmail: "2016-03-03 17:21 GMT+01:00 Some One <a@b>:" (sometimes without the colon).
_DATED_ATTRIBUTION = re.compile(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}\s.*(?:GMT|@|<)", re.I)
# "-----Original Message-----", "---------- Forwarded message ---------", "*-- … --*".
_BANNER = re.compile(r"^\s*\*?\s*[-_=]{2,}\s*[^-_=\s][^-_=]{0,60}?\s*[-_=]{2,}\s*\*?\s*$")
_FORWARD_INTRO = re.compile(
    r"^[>\s]*(?:begin\s+forwarded\s+message|forwarded\s+message|weitergeleitete\s+nachricht)\s*:?\s*$",
    re.I,
)
# A line made only of one repeated separator character, or Gmail's "ᐧ" tracking marker.
_SEPARATOR = re.compile(r"^\s*(?:([-_=*#~+—])\1+|ᐧ)\s*$")
_SIGNATURE = re.compile(r"^--\s?$")
_MOBILE_FOOTER = re.compile(
    r"^\s*(?:sent\s+from\s+(?:my\s|outlook|yahoo|mail\s+for)|get\s+outlook\s+for|envoyé\s+de(?:puis)?\s+mon|"
    r"von\s+meinem\s+\w+\s+gesendet|enviado\s+desde\s+mi|inviato\s+da(?:l)?\s+mio|"
    r"verzonden\s+(?:met|vanaf)\s+mijn|sendt\s+fra\s+min|skickat\s+från\s+min|"
    r"나의\s+\w+에서\s+보냄|iPhone에서\s+보냄)",
    re.I,
)
_HEADER_NAMES = (
    r"from|von|de|da|från|fra|van|od|от|发件人|發件人|差出人|보낸\s*사람|"
    r"sent|date|to|subject|cc|reply-to|gesendet|datum|an|betreff|envoyé|à|objet|enviado|para|"
    r"asunto|data|a|oggetto|risposta|skickat|till|ämne|sendt|til|emne|verzonden|aan|onderwerp|"
    r"wysłane|do|temat|отправлено|кому|тема|日期|收件人|主题|件名|送信日時|宛先|날짜|받는\s*사람|제목"
)
_HEADER_LINE = re.compile(rf"^\s*\*?(?:{_HEADER_NAMES})\s?\*?\s?[:\uff1a]\*?\s?\S", re.I)
_FROM_LINE = re.compile(
    r"^\s*\*?(?:from|von|de|da|från|fra|van|od|от|发件人|發件人|差出人|보낸\s*사람)\s?\*?\s?[:\uff1a]",
    re.I,
)
_HEADER_BLOCK_REACH = 4
_CODE_FENCE = re.compile(r"^\s*```")


def split_reply(text: str) -> tuple[str, str]:
    """Split a plain-text body into (new part, quoted part); ``new + quoted == text``."""
    lines = text.splitlines(keepends=True)
    cut = _delimiter_cut(lines)
    if cut is None:
        cut = _heuristic_cut(lines)
    if cut is None:
        cut = _quotequail_cut(text, lines)
    if cut is None:
        return text, ""
    return "".join(lines[:cut]), "".join(lines[cut:])


def _delimiter_cut(lines: list[str]) -> int | None:
    """Our own delimiter, moved up over the attribution and empty quote lines above it."""
    for index, line in enumerate(lines):
        if any(delimiter in line for delimiter in REPLY_DELIMITERS):
            cut = index
            while cut > 0 and _belongs_to_quote_intro(lines[cut - 1]):
                cut -= 1
            # Blank lines between the reply and the history stay with the reply.
            while cut < index and not lines[cut].strip():
                cut += 1
            return cut
    return None


def _belongs_to_quote_intro(line: str) -> bool:
    stripped = line.strip()
    return not stripped.strip(">").strip() or bool(_ATTRIBUTION.match(stripped))


def _heuristic_cut(lines: list[str]) -> int | None:
    in_code = False
    for index, line in enumerate(lines):
        if _CODE_FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            continue
        if _starts_history(lines, index):
            return index
    return None


def _starts_history(lines: list[str], index: int) -> bool:
    line = lines[index].rstrip("\r\n")
    stripped = line.strip()
    if not stripped or len(stripped) > _MAX_MARKER_LINE:
        return False
    if _SIGNATURE.match(line) or _SEPARATOR.match(line) or _BANNER.match(line):
        return True
    if _FORWARD_INTRO.match(line) or _MOBILE_FOOTER.match(line):
        return True
    if _is_attribution(lines, index):
        return True
    return _opens_header_block(lines, index)


def _is_attribution(lines: list[str], index: int) -> bool:
    line = lines[index].strip()
    if _ATTRIBUTION.match(line) or _DATED_ATTRIBUTION.match(line):
        return True
    if not (_ATTRIBUTION_START.match(line) or _ADDRESS_OR_BRACKET.search(line)):
        return False
    # Clients wrap long attributions over several lines: "On <date>, <name>" / "<" /
    # "mailto:<address>" / "> wrote:". Join a few and look for the verb at the end.
    following = _nonblank_after(
        lines, index, count=_ATTRIBUTION_LINES, reach=2 * _ATTRIBUTION_LINES
    )
    for position, end in enumerate(following):
        if not _ATTRIBUTION_END.search(lines[end]):
            continue
        ending = lines[end].strip()
        if _ATTRIBUTION.match(ending) and _ATTRIBUTION_START.match(ending):
            return False  # that line is a whole attribution on its own; it starts there
        joined = " ".join(lines[i].strip() for i in [index, *following[: position + 1]])
        return len(joined) <= 400 and bool(_ATTRIBUTION.match(joined))
    return False


def _nonblank_after(lines: list[str], index: int, count: int, reach: int) -> list[int]:
    found = []
    for candidate in range(index + 1, min(len(lines), index + 1 + reach)):
        if lines[candidate].strip():
            found.append(candidate)
            if len(found) == count:
                break
    return found


def _opens_header_block(lines: list[str], index: int) -> bool:
    """A From-line followed closely by other header lines: a quoted message's header block."""
    if not _FROM_LINE.match(lines[index]):
        return False
    reach = lines[index + 1 : index + 1 + _HEADER_BLOCK_REACH]
    return sum(1 for line in reach if _HEADER_LINE.match(line)) >= 1


def _quotequail_cut(text: str, lines: list[str]) -> int | None:
    """The line where quotequail sees a reply header start, if it sees one.

    Only asked when the text quotes something (a ``>`` line): what it finds beyond our own
    heuristics is a reply header above quoted lines, and asking costs more than the rest of
    the split together.
    """
    if not any(line.lstrip().startswith(">") for line in lines):
        return None
    try:
        found = quotequail.quote(text)
    except Exception:  # a third-party heuristic must never break mail processing
        return None
    if len(found) < 2 or not found[0][0]:
        return None
    shown = found[0][1]
    consumed = 0
    for index, line in enumerate(lines):
        if consumed >= len(shown.rstrip("\n")):
            return index
        consumed += len(line)
    return None
