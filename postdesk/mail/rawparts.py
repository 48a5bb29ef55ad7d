"""Finding a MIME part's bytes exactly as they stand in the raw message.

The stdlib parser turns a ``message/*`` part into a parsed ``Message``; writing that back out
re-folds long header lines and respaces empty ones, so the attached mail would no longer be
the one that was sent (its DKIM signature would fail, and its hash would not match the copy
anyone else kept). ``RawTree.body`` walks the raw bytes down the same path of multipart
children the parser took, splitting on the boundaries exactly as the stdlib feed parser does
(RFC 2046 section 5.1.1: the line break before a delimiter belongs to the delimiter), and
returns the body of the part at that path byte for byte. Each multipart is split once per
mail, however many attached messages it holds.

It returns None whenever the raw bytes don't split the way the parser's tree says they do
(a lost boundary, a part count that differs), so callers can fall back to re-serialising.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.message import Message

# The stdlib feed parser's test for a header line (email.feedparser.headerRE), as bytes.
_HEADER_LINE = re.compile(rb"(From |[\041-\071\073-\176]*:|[\t ])")
_LINE_END = re.compile(rb"\r\n|\r|\n")


class RawTree:
    """The raw bytes of one mail beside the tree the stdlib parser built from them."""

    def __init__(self, raw: bytes, root: Message) -> None:
        self._root = root
        # Each part's raw bytes (headers and body) by path, filled in as paths are asked for.
        self._parts: dict[tuple[int, ...], bytes | None] = {(): raw}
        self._nodes: dict[tuple[int, ...], Message] = {(): root}

    def body(self, path: Sequence[int]) -> bytes | None:
        """The body of the part at ``path`` (child indexes from the root) as it is in the raw
        bytes, or None when they can't be matched with the parsed tree."""
        part = self._part(tuple(path))
        return None if part is None else body_of(part)

    def _part(self, path: tuple[int, ...]) -> bytes | None:
        if path in self._parts:
            return self._parts[path]
        parent_path = path[:-1]
        parent = self._part(parent_path)
        node = self._nodes.get(parent_path)
        if parent is not None and node is not None:
            self._split(parent_path, parent, node)
        # Whatever the split gave (or None when it failed), asked once per path.
        return self._parts.setdefault(path, None)

    def _split(self, path: tuple[int, ...], raw: bytes, node: Message) -> None:
        boundary = _boundary(node)
        children = getattr(node, "_payload", None)
        if boundary is None or not isinstance(children, list):
            return
        chunks = split_multipart(body_of(raw), boundary)
        if chunks is None or len(chunks) != len(children):
            return
        for index, (chunk, child) in enumerate(zip(chunks, children, strict=True)):
            if isinstance(child, Message):
                self._parts[(*path, index)] = chunk
                self._nodes[(*path, index)] = child


def body_of(part: bytes) -> bytes:
    """What follows the header section of ``part``, as the stdlib feed parser divides them.

    The header section ends at the first empty line (which belongs to neither side) or, in a
    malformed part, at the first line that can't be a header field.
    """
    position = 0
    length = len(part)
    while position < length:
        end = _line_end(part, position)
        line = part[position:end]
        content = line.rstrip(b"\r\n")
        if not content:
            return part[end:]
        if not _HEADER_LINE.match(content):
            return part[position:]
        position = end
    return b""


def split_multipart(body: bytes, boundary: str) -> list[bytes] | None:
    """The parts of a multipart body, each with its headers, or None without a delimiter line.

    A delimiter is a line starting with ``--boundary``, optionally followed by ``--`` (the
    close delimiter), blanks and the line break. The preamble and the epilogue are not parts.
    """
    try:
        delimiter = b"--" + boundary.encode("ascii", errors="surrogateescape")
    except UnicodeEncodeError:
        return None
    pattern = re.compile(re.escape(delimiter) + rb"(--)?[ \t]*(?:\r\n|\r|\n|\Z)")
    chunks: list[bytes] = []
    start: int | None = None
    for match in pattern.finditer(body):
        if not _at_line_start(body, match.start()):
            continue
        if start is not None:
            chunks.append(_strip_one_line_end(body[start : match.start()]))
        if match.group(1):
            return chunks
        start = match.end()
    if start is None:
        return None
    # No close delimiter: the last part runs to the end, as the stdlib parser reads it.
    chunks.append(body[start:])
    return chunks


def _at_line_start(data: bytes, index: int) -> bool:
    # CRLF, LF and a lone CR all end a line for the feed parser.
    return index == 0 or data[index - 1 : index] in (b"\n", b"\r")


def _strip_one_line_end(chunk: bytes) -> bytes:
    if chunk.endswith(b"\r\n"):
        return chunk[:-2]
    if chunk.endswith((b"\n", b"\r")):
        return chunk[:-1]
    return chunk


def _line_end(data: bytes, position: int) -> int:
    match = _LINE_END.search(data, position)
    return match.end() if match else len(data)


def _boundary(node: Message) -> str | None:
    try:
        return node.get_boundary()
    except Exception:  # an unreadable Content-Type: no boundary to split on
        return None
