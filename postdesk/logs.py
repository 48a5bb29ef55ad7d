"""Logging: addresses redacted from every record, and JSON lines on request (SPEC F18).

Logs travel further than the database (to aggregators, to support tickets of their own), so
customers' addresses never appear in them whole: ``ada.lovelace@example.com`` is logged as
``a***@example.com``, which still tells an operator which domain a problem concerns.
``POSTDESK_LOG_FORMAT=json`` writes one JSON object per line for log shippers.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

ADDRESS = re.compile(
    r"([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-])[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})"
)


def redact(text: str) -> str:
    return ADDRESS.sub(r"\1***@\2", text)


class RedactAddresses(logging.Filter):
    """Rewrites the record's message with addresses redacted (arguments included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True  # a broken record is logging's own problem to report
        record.msg = redact(message)
        record.args = None
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def config(log_format: str) -> dict[str, object]:
    """The LOGGING setting."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "postdesk.logs.RedactAddresses"}},
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {"()": "postdesk.logs.JsonLines"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if log_format == "json" else "plain",
                "filters": ["redact"],
            }
        },
        "root": {"handlers": ["console"], "level": "WARNING"},
        "loggers": {
            "postdesk": {"level": "INFO"},
            "django_tasks_db": {"level": "WARNING"},
            "django.tasks": {"level": "WARNING"},
        },
    }
