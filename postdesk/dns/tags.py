"""Tag lists, the ``name=value; name=value`` syntax of DKIM records (RFC 6376 3.2) that DMARC
records borrow (RFC 7489 6.4)."""

from __future__ import annotations


def parse_tag_list(record: str, *, repeats_allowed: bool) -> dict[str, str] | None:
    """The tags of ``record`` by lower-cased name, or None when it is not a tag list.

    DKIM makes a repeated tag an invalid record; a DMARC record keeps the first one."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        if not part.strip():
            continue
        name, equals, value = part.partition("=")
        name = name.strip().lower()
        if not equals or not name:
            return None
        if name in tags:
            if not repeats_allowed:
                return None
            continue
        tags[name] = value.strip()
    return tags
