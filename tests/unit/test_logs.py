"""Addresses never appear whole in logs; JSON lines on request."""

from __future__ import annotations

import json
import logging

from postdesk.logs import JsonLines, RedactAddresses, redact


def test_addresses_are_redacted_keeping_the_domain():
    assert redact("from ada.lovelace@example.com to support@desk.test") == (
        "from a***@example.com to s***@desk.test"
    )
    assert redact("no address here, just @ signs and user@localhost") == (
        "no address here, just @ signs and user@localhost"
    )


def test_the_filter_redacts_arguments_and_json_lines_are_json():
    record = logging.LogRecord(
        "postdesk.x", logging.INFO, __file__, 1, "refused %s", ("bob@example.org",), None
    )
    assert RedactAddresses().filter(record)
    assert record.getMessage() == "refused b***@example.org"
    entry = json.loads(JsonLines().format(record))
    assert entry["message"] == "refused b***@example.org"
    assert entry["level"] == "info" and entry["logger"] == "postdesk.x"
