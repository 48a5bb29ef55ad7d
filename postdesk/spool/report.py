"""The processing record of inbound mail, as operators read it (SPEC F7, F15).

``recent()`` lists the latest mail the desk acknowledged, ``summary()`` is one mail's line
in such a list and ``record()`` its whole processing record: transport and envelope, the
support address it was received at and how that was decided (``matched_via``), the
requester rule, the threading rule that matched, the authentication result (SPEC F11), the
verdict with the protection rule behind it, flags, the ticket it made, the error that stopped
it, and each step's time.

Both return plain JSON-ready dicts with stable keys: ``postdesk inbound`` prints them (as
text or ``--json``) and the Admin Center renders them. The values come from the spool row
and the diagnostics the pipeline stored (``postdesk.inbound.pipeline``); a mail not yet
processed simply has fewer of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.db.models.functions import Substr

from postdesk.mail.headers import Headers
from postdesk.mail.parse import read_headers
from postdesk.spool.models import InboundMessage, InboundStatus

DEFAULT_LIMIT = 20
MAX_LIMIT = 500
# Long values (a subject, a stack of defects) are cut in listings, never in the record.
SUMMARY_TEXT_LIMIT = 120
# A listing shows From and Subject, which live in the header section at the start of the raw
# bytes: ``recent()`` fetches at most this much of each mail, never its body (a page of 50
# mails with 25 MB attachments would otherwise read over a gigabyte). A header section longer
# than this is rare (long Received/ARC chains stay far below); its fields past the cut are
# simply missing from the listing, never from the record.
HEADER_PREFIX = 64 * 1024


class ReportError(ValueError):
    """A request for a report that can't be answered (unknown status, bad limit)."""


def recent(status: str | None = None, limit: int = DEFAULT_LIMIT) -> QuerySet[InboundMessage]:
    """The latest acknowledged mail, newest first, optionally of one status only."""
    if status is not None and status not in InboundStatus.values:
        raise ReportError(f"unknown status {status!r}; one of: {', '.join(InboundStatus.values)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise ReportError(f"limit must be between 1 and {MAX_LIMIT}")
    messages = (
        InboundMessage.objects.defer("raw")
        .annotate(raw_head=Substr("raw", 1, HEADER_PREFIX))
        .order_by("-id")
    )
    if status is not None:
        messages = messages.filter(status=status)
    return messages[:limit]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _cut(text: str, limit: int = SUMMARY_TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mapping(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one. Diagnostics of rows written by an
    older version (or by hand) may hold anything under a key; a report never fails on them."""
    return value if isinstance(value, dict) else {}


def _mappings(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _texts(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _verdict(message: InboundMessage) -> str | None:
    diagnostics = _mapping(message.diagnostics)
    verdict = diagnostics.get("verdict")
    return str(verdict) if verdict else None


def _cause(message: InboundMessage) -> str | None:
    """Why the verdict is what it is, in words: the protection rule and its reason, or the
    desk's own mail that the channels step took, or a duplicate."""
    diagnostics = _mapping(message.diagnostics)
    protection = _mapping(diagnostics.get("protection"))
    if protection.get("rule"):
        reason = protection.get("reason") or ""
        return f"{protection['rule']}: {reason}" if reason else str(protection["rule"])
    if diagnostics.get("channels"):
        return "mail for the desk itself (forwarding test or confirmation)"
    if "duplicate_of_comment" in diagnostics:
        return f"same mail as comment {diagnostics['duplicate_of_comment']}"
    if diagnostics.get("parse_error"):
        return f"unreadable: {diagnostics['parse_error']}"
    return None


def _headers(message: InboundMessage) -> Headers:
    """The mail's header fields: from the prefix ``recent()`` fetched, else the raw bytes."""
    head = getattr(message, "raw_head", None)
    return read_headers(bytes(head if head is not None else message.raw))


def summary(message: InboundMessage) -> dict[str, Any]:
    """One line of a listing: what a person scanning recent mail needs to find one."""
    return _summary(message, _headers(message))


def _summary(message: InboundMessage, headers: Headers) -> dict[str, Any]:
    diagnostics = _mapping(message.diagnostics)
    return {
        "id": message.pk,
        "received": _iso(message.received_at),
        "status": message.status,
        "transport": message.transport,
        "from": _cut(headers.get("From") or message.mail_from),
        "subject": _cut(headers.get("Subject")),
        "received_at": diagnostics.get("received_at"),
        "matched_via": diagnostics.get("matched_via"),
        "verdict": _verdict(message),
        "ticket_id": message.ticket_id,
        "error": _cut(message.last_error) if message.last_error else None,
    }


def record(message: InboundMessage) -> dict[str, Any]:
    """The whole processing record of one mail."""
    diagnostics = dict(_mapping(message.diagnostics))
    headers = read_headers(bytes(message.raw))
    protection = _mapping(diagnostics.get("protection"))
    return {
        **_summary(message, headers),
        "from": headers.get("From") or message.mail_from,
        "subject": headers.get("Subject"),
        "error": message.last_error or None,
        "size": message.size,
        "attempts": message.attempts,
        "finished": _iso(message.finished_at),
        "next_attempt": _iso(message.next_attempt_at),
        "envelope": message.envelope_json(),
        "message_id": diagnostics.get("message_id"),
        "message_id_generated": diagnostics.get("message_id_generated"),
        "requester": diagnostics.get("requester"),
        "requester_rule": diagnostics.get("requester_rule"),
        "threading": diagnostics.get("threading"),
        "authentication": _mapping(diagnostics.get("authentication")),
        "cause": _cause(message),
        "protection_hits": _mappings(protection.get("hits")),
        "flags": _texts(diagnostics.get("flags")),
        "forwarding_hops": _mapping(diagnostics.get("forwarding")).get("hops"),
        "comment_id": diagnostics.get("comment_id"),
        "ticket_created": diagnostics.get("ticket_created"),
        "notifications": diagnostics.get("notifications"),
        "defects": _texts(diagnostics.get("defects")),
        "timings_ms": {
            str(step): ms
            for step, ms in _mapping(diagnostics.get("timings_ms")).items()
            if isinstance(ms, int | float)
        },
        "diagnostics": diagnostics,
    }


def _or_dash(value: object) -> str:
    return "—" if value in (None, "", [], {}) else str(value)


def format_summaries(lines: list[dict[str, Any]]) -> str:
    """A fixed-width table of ``summary()`` lines for the terminal."""
    if not lines:
        return "no inbound mail"
    rows = [("ID", "RECEIVED", "STATUS", "VERDICT", "TICKET", "FROM", "SUBJECT")]
    for line in lines:
        rows.append(
            (
                str(line["id"]),
                (line["received"] or "")[:19].replace("T", " "),
                line["status"],
                _or_dash(line["verdict"]),
                f"#{line['ticket_id']}" if line["ticket_id"] else "—",
                _cut(line["from"], 40),
                _cut(line["subject"], 50),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        for row in rows
    )


def _authentication(result: dict[str, Any]) -> str | None:
    """The authentication result in one line: verdict, reason, then SPF/DKIM/DMARC/ARC."""
    verdict = result.get("verdict")
    if not verdict:
        return None
    if verdict == "not_checked":
        return "not checked (authentication profile off)"
    signatures = ", ".join(
        f"{signature.get('result')} d={signature.get('domain')}"
        for signature in _mappings(result.get("dkim"))
    )
    parts = [
        f"SPF {_mapping(result.get('spf')).get('result') or '—'}",
        f"DKIM {signatures or 'none'}",
        f"DMARC {_mapping(result.get('dmarc')).get('result') or '—'}",
    ]
    arc = _mapping(result.get("arc"))
    if arc.get("result") not in (None, "", "none"):
        parts.append(f"ARC {arc['result']} by {arc.get('sealer') or '—'}")
    return f"{verdict}: {result.get('reason', '')} [{'; '.join(parts)}]"


def format_record(report: dict[str, Any]) -> str:
    """``record()`` as labelled lines for the terminal, in the order the mail went."""
    envelope = report["envelope"]
    client = envelope["peer_ip"] + (f" (HELO {envelope['helo']})" if envelope["helo"] else "")
    lines = [
        ("Inbound", f"{report['id']}  {report['status']}  (attempts {report['attempts']})"),
        ("Received", _or_dash(report["received"])),
        ("Finished", _or_dash(report["finished"])),
        ("Next attempt", report["next_attempt"]),
        ("Transport", report["transport"].upper() + (" (TLS)" if envelope["tls"] else "")),
        ("Client", client or None),
        ("Envelope from", f"<{envelope['mail_from']}>"),
        ("Envelope to", ", ".join(envelope["rcpt_tos"]) or "—"),
        ("Size", f"{report['size']} bytes"),
        ("From", _or_dash(report["from"])),
        ("Subject", _or_dash(report["subject"])),
        (
            "Message-ID",
            None
            if not report["message_id"]
            else report["message_id"] + (" (generated)" if report["message_id_generated"] else ""),
        ),
        (
            "Received at",
            None
            if report["matched_via"] is None
            else f"{_or_dash(report['received_at'])} (matched via {report['matched_via']})",
        ),
        (
            "Requester",
            None
            if not report["requester"]
            else f"{report['requester']} ({report['requester_rule']})",
        ),
        ("Forwarding hops", report["forwarding_hops"] or None),
        ("Threading", report["threading"]),
        ("Authentication", _authentication(report["authentication"])),
        ("Verdict", report["verdict"]),
        ("Because", report["cause"]),
        ("Flags", ", ".join(report["flags"]) or None),
        (
            "Ticket",
            None
            if not report["ticket_id"]
            else f"#{report['ticket_id']}"
            + (" (new)" if report["ticket_created"] else "")
            + (f", comment {report['comment_id']}" if report["comment_id"] else ""),
        ),
        ("Notifications", report["notifications"]),
        ("Error", report["error"]),
        ("Defects", "; ".join(report["defects"]) or None),
        (
            "Timings",
            ", ".join(f"{step} {ms:g} ms" for step, ms in report["timings_ms"].items()) or None,
        ),
    ]
    shown = [(label, str(value)) for label, value in lines if value not in (None, "")]
    width = max(len(label) for label, _ in shown)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in shown)
