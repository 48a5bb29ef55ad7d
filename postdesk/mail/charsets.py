"""Turning the bytes of real-world mail into text.

What lives here:

* ``codec_for`` maps a declared MIME charset label to a Python codec, widening legacy labels to
  the superset that senders really use (``euc-kr``/``ks_c_5601-*``/``windows-949`` -> ``cp949``,
  ``gb2312`` -> ``gbk``, ``iso-8859-1``/``us-ascii`` -> ``cp1252``-aware handling).
* ``decode_bytes`` decodes a body or a header fragment, repairing undeclared or wrong charsets
  with charset-normalizer and reporting what it had to do as a defect string.
* ``decode_header_value`` decodes RFC 2047 encoded words (RFC 2047 sections 2-6, with the
  RFC 2231 section 5 language suffix), joining adjacent words of one charset *as bytes* so a
  multi-byte character split across two words survives, and repairs raw 8-bit header bytes.

Nothing here raises on bad input: every function returns text plus, where useful, a defect.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from dataclasses import dataclass

import charset_normalizer

# Labels whose real-world traffic is a superset encoding. Decoding with the superset never
# breaks text that is valid in the declared charset and rescues the extra characters
# (cp949 adds 8,822 Hangul syllables to EUC-KR; GBK extends GB2312 the same way).
SUPERSET_ALIASES: dict[str, str] = {
    "euc-kr": "cp949",
    "euc_kr": "cp949",
    "euckr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601-1989": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "ksc_5601": "cp949",
    "windows-949": "cp949",
    "x-windows-949": "cp949",
    "uhc": "cp949",
    "gb2312": "gbk",
    "gb_2312-80": "gbk",
    "euc-cn": "gbk",
    "x-gbk": "gbk",
    "iso-2022-kr": "iso2022_kr",
    "iso-2022-jp": "iso2022_jp_ext",
    "iso-2022-jp-2": "iso2022_jp_2",
    "csiso2022jp": "iso2022_jp_ext",
    "shift-jis": "cp932",
    "shift_jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "euc-jp": "euc_jis_2004",
    "big5": "big5hkscs",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-8-i": "iso-8859-8",
}

# Labels that mean "no real information": the body is decoded as if undeclared.
_MEANINGLESS = frozenset({"", "unknown", "unknown-8bit", "x-unknown", "default", "none", "charset"})

# Single-byte labels senders commonly stick on UTF-8 text by mistake.
_OFTEN_MISLABELLED = frozenset({"ascii", "cp1252", "iso8859-1", "iso8859-15"})

_LATIN_1_NAMES = frozenset({"iso8859-1"})

# When data isn't valid in its declared charset, it is most often in another encoding of the
# same language (Shift_JIS labelled ISO-2022-JP, Big5 labelled GB2312): try those first.
_SAME_LANGUAGE: dict[str, tuple[str, ...]] = {
    "iso2022_jp_ext": ("cp932", "euc_jis_2004"),
    "iso2022_jp_2": ("cp932", "euc_jis_2004"),
    "iso2022_jp": ("cp932", "euc_jis_2004"),
    "cp932": ("euc_jis_2004",),
    "euc_jis_2004": ("cp932",),
    "cp949": ("johab",),
    "iso2022_kr": ("cp949",),
    "gbk": ("gb18030", "big5hkscs"),
    "gb18030": ("big5hkscs",),
    "big5hkscs": ("gb18030",),
}


def codec_for(label: str | None) -> str | None:
    """The Python codec to use for a MIME charset label, or None when it is unknown."""
    if label is None:
        return None
    cleaned = label.strip().strip("\"'").lower()
    if cleaned in _MEANINGLESS:
        return None
    cleaned = SUPERSET_ALIASES.get(cleaned, cleaned)
    try:
        name = codecs.lookup(cleaned).name
    except (LookupError, ValueError):
        return None
    # Mail labelled ISO-8859-1 is nearly always Windows-1252 (smart quotes in 0x80-0x9F);
    # WHATWG decodes it that way too, and cp1252 agrees with latin-1 on every printable byte.
    if name in _LATIN_1_NAMES:
        return "cp1252"
    return SUPERSET_ALIASES.get(name, name)


def _is_escape_codec(codec: str | None) -> bool:
    """True for 7-bit codecs whose ASCII bytes still carry escapes that must be decoded."""
    return codec is not None and (codec.startswith("iso2022") or codec in {"utf-7", "hz"})


def _try_decode(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


# ISO-2022 escape sequences (RFC 1468, RFC 1557) in undeclared 7-bit text.
_ESCAPE_CODECS = (
    (b"\x1b$)C", "iso2022_kr"),
    (b"\x1b$B", "iso2022_jp_ext"),
    (b"\x1b$@", "iso2022_jp_ext"),
)


def _decode_escaped(data: bytes) -> str:
    """Undeclared 7-bit data carrying ISO-2022 escapes: decode it with the matching codec."""
    for marker, codec in _ESCAPE_CODECS:
        if marker in data:
            text = _try_decode(data, codec)
            if text is not None:
                return text
    return data.decode("ascii")


# Share of undecodable bytes above which a mixed UTF-8/legacy reading is not believed.
_MIXED_MAX_REPLACEMENTS = 0.01


def _decode_mixed(data: bytes, codec: str) -> str | None:
    """Decode data that is UTF-8 with runs of ``codec`` (a legacy body with a UTF-8 footer,
    or the reverse), taking each undecodable UTF-8 position as one ``codec`` character."""
    out: list[str] = []
    replacements = 0
    position = 0
    while position < len(data):
        try:
            out.append(data[position:].decode("utf-8"))
            break
        except UnicodeDecodeError as error:
            out.append(data[position : position + error.start].decode("utf-8"))
            position += error.start
        for width in (2, 1, 4, 3):
            chunk = _try_decode(data[position : position + width], codec)
            if chunk is not None:
                out.append(chunk)
                position += width
                break
        else:
            out.append("\ufffd")
            replacements += 1
            position += 1
    if replacements > len(data) * _MIXED_MAX_REPLACEMENTS:
        return None
    return "".join(out)


_WIDE_CODECS = ["utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le"]


def _wide_codecs_unless_nul(data: bytes) -> list[str]:
    # Mail text without NUL bytes is never UTF-16/32, but short CJK byte runs often "fit" them.
    return [] if b"\x00" in data else _WIDE_CODECS


_HIGH_BYTE_RUN = re.compile(rb"[\x80-\xff]+")


def _single_byte_text(data: bytes) -> bool:
    """Every 8-bit byte stands alone between ASCII bytes ("K\xe4se", "caf\xe9").

    In the double-byte CJK charsets a character is a lead byte and a trail byte, and in
    running CJK text the 8-bit bytes come at least in pairs; a lone one is a Western
    letter. This settles the short samples a statistical detector can't.
    """
    return all(len(run) == 1 for run in _HIGH_BYTE_RUN.findall(data))


def _guess(data: bytes) -> str | None:
    """charset-normalizer's best reading of ``data`` (None when it has no opinion)."""
    if _single_byte_text(data):
        return data.decode("cp1252", errors="replace")
    best = charset_normalizer.from_bytes(data, cp_exclusion=_wide_codecs_unless_nul(data)).best()
    if best is None:
        return None
    return str(best)


def decode_bytes(
    data: bytes, declared: str | None, hint: str | None = None
) -> tuple[str, str | None]:
    """Decode ``data`` declared as ``declared``; return the text and a defect (or None).

    Order: the declared charset (widened to its superset), UTF-8 when a single-byte label was
    evidently stuck on UTF-8, then ``hint`` (a charset the same mail declares elsewhere, for
    undeclared data), then charset-normalizer, then cp1252 with replacement so that a result
    always comes back.
    """
    if not data:
        return "", None
    codec = codec_for(declared)
    if codec is None and declared and declared.strip().lower() not in _MEANINGLESS:
        defect: str | None = f"unknown charset {declared.strip()[:40]!r}"
    else:
        defect = None
    if data.isascii() and not _is_escape_codec(codec):
        if codec is None and b"\x1b" in data:
            return _decode_escaped(data), defect
        return data.decode("ascii"), defect
    if codec is not None:
        if codec in _OFTEN_MISLABELLED:
            as_utf8 = _try_decode(data, "utf-8")
            if as_utf8 is not None:
                return as_utf8, f"charset {declared!r} declared but the data is UTF-8"
        text = _try_decode(data, codec)
        if text is None and codec == "cp1252":
            # The five bytes cp1252 leaves undefined are valid C1 controls in ISO-8859-1.
            text = data.decode("latin-1")
        if text is not None:
            return text, defect
        defect = f"data is not valid {declared!r}"
        for sibling in _SAME_LANGUAGE.get(codec, ()):
            text = _try_decode(data, sibling)
            if text is not None:
                return text, f"{defect}; decoded as {sibling}"
    as_utf8 = _try_decode(data, "utf-8")
    if as_utf8 is not None:
        return as_utf8, defect
    if codec is not None and codec != "utf-8":
        mixed = _decode_mixed(data, codec)
        if mixed is not None:
            return mixed, f"{defect}; UTF-8 mixed with {codec}"
    hinted = codec_for(hint) if codec is None else None
    if hinted is not None and not _is_escape_codec(hinted):
        text = _try_decode(data, hinted)
        if text is not None:
            return text, defect or f"undeclared charset; read as {hinted}, as the mail's headers"
    guessed = _guess(data)
    if guessed is not None:
        return guessed, defect or "undeclared charset guessed"
    fallback = codec or "cp1252"
    return data.decode(fallback, errors="replace"), defect or "undecodable bytes replaced"


_SURROGATE = re.compile("[\udc80-\udcff]")


def has_8bit(value: str) -> bool:
    """True when a parsed header value carries raw non-ASCII bytes (as surrogate escapes)."""
    return not value.isascii() and _SURROGATE.search(value) is not None


def header_bytes(value: str) -> bytes:
    """The original bytes of a header value the stdlib parser decoded with surrogateescape."""
    return value.encode("utf-8", errors="surrogateescape")


_ENCODED_WORD_CHARSET = re.compile(r"=\?([^?*\s]+)(?:\*[^?]*)?\?[QqBb]\?")
# Labels that say nothing about 8-bit text written in the same mail.
_NO_HINT = frozenset({"us-ascii", "ascii", "utf-8", "utf8"})


def declared_header_charset(values: list[str]) -> str | None:
    """The first legacy charset named by an RFC 2047 encoded word in ``values``: the charset
    the sender's client writes in, and the best reading of its undeclared body text."""
    for value in values:
        for label in _ENCODED_WORD_CHARSET.findall(value):
            if label.lower() not in _NO_HINT and codec_for(label) is not None:
                return str(label)
    return None


def guess_header_charset(values: list[str]) -> str | None:
    """The charset of a message's raw 8-bit header bytes, judged on all of them together.

    One header holds too few bytes for a reliable guess; the From, To and Subject of one
    message were nearly always written by the same client in the same charset.
    """
    data = b" ".join(header_bytes(value) for value in values if has_8bit(value))
    if not data or _try_decode(data, "utf-8") is not None:
        return None
    best = charset_normalizer.from_bytes(data, cp_exclusion=_wide_codecs_unless_nul(data)).best()
    return None if best is None else str(best.encoding)


def decode_8bit_header(value: str, fallback_charset: str | None = None) -> str:
    """Repair a header value whose raw bytes were not ASCII.

    The stdlib parser hands such bytes over as surrogate escapes; they are turned back into
    bytes and decoded as UTF-8 (RFC 6532), else as ``fallback_charset`` (the message's guessed
    header charset), else guessed on their own.
    """
    if not has_8bit(value):
        return value
    raw = header_bytes(value)
    as_utf8 = _try_decode(raw, "utf-8")
    if as_utf8 is not None:
        return as_utf8
    if fallback_charset:
        text = _try_decode(raw, fallback_charset)
        if text is not None:
            return text
    text, _ = decode_bytes(raw, None)
    return text


# An encoded word: =?charset[*language]?encoding?text?= (RFC 2047 section 2, RFC 2231 section 5).
# The text may not contain "?". RFC 2047 forbids spaces in it too, but mailers that put them
# there are common enough ("=?us-ascii?Q?A / B?=") that a reader has to accept them.
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([QqBb])\?([^?]*?)\?=")
_WHITESPACE_ONLY = re.compile(r"[ \t\r\n]*")


@dataclass
class _Chunk:
    """A run of the header: either literal text or the bytes of joined encoded words."""

    text: str
    data: bytes = b""
    charset: str | None = None

    @property
    def encoded(self) -> bool:
        return self.charset is not None


def _decode_q(text: str) -> bytes:
    # RFC 2047 section 4.2: "_" is always a space, =XX is a byte.
    raw = text.replace("_", " ").encode("ascii", errors="replace")
    try:
        return binascii.a2b_qp(raw)
    except (binascii.Error, ValueError):
        return raw


def _decode_b(text: str) -> bytes:
    cleaned = re.sub(r"[^A-Za-z0-9+/]", "", text)
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned)
    except (binascii.Error, ValueError):
        return b""


def _word_bytes(encoding: str, text: str) -> bytes:
    return _decode_b(text) if encoding.lower() == "b" else _decode_q(text)


def _split_encoded_words(value: str) -> list[_Chunk]:
    """Cut a header into literal and encoded chunks, merging adjacent same-charset words."""
    chunks: list[_Chunk] = []
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        previous = chunks[-1] if chunks else None
        adjacent = previous is not None and previous.encoded and _WHITESPACE_ONLY.fullmatch(between)
        charset = match.group(1).lower()
        data = _word_bytes(match.group(2), match.group(3))
        if adjacent and previous is not None and previous.charset == charset:
            # Same charset: join the bytes so split multi-byte characters reassemble.
            previous.data += data
        else:
            if between and not adjacent:
                chunks.append(_Chunk(text=between))
            chunks.append(_Chunk(text="", data=data, charset=charset))
        position = match.end()
    if position < len(value):
        chunks.append(_Chunk(text=value[position:]))
    return chunks


def decode_header_value(value: str, fallback_charset: str | None = None) -> str:
    """Decode RFC 2047 encoded words and raw 8-bit bytes in an (unfolded) header value."""
    if "=?" not in value:
        return decode_8bit_header(value, fallback_charset)
    parts: list[str] = []
    for chunk in _split_encoded_words(value):
        if chunk.charset is None:
            parts.append(decode_8bit_header(chunk.text, fallback_charset))
        else:
            text, _ = decode_bytes(chunk.data, chunk.charset)
            parts.append(text)
    return "".join(parts)
