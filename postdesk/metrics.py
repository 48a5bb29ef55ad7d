"""``GET /metrics``: Prometheus text exposition of what the desk is doing (SPEC F18).

Counts are read from the database, so every process of a multi-process desk reports the
same numbers and nothing is lost on restart: mail received/processed/suspended/dropped/
failed, outbound sent/failed, queue depth, and processing latency over the last hour.
Readable from loopback, or with an admin's API token.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import timedelta

from django.apps import apps
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django_tasks_db.models import DBTaskResult

from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.tickets.api_tokens import user_from_authorization
from postdesk.transports.smtp_journal import waiting_in

LATENCY_WINDOW = timedelta(hours=1)
LATENCY_QUANTILES = (0.5, 0.95, 0.99)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(
    name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{key}="{_escape(val)}"' for key, val in sorted(labels.items()))
        lines.append(f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}")
    return lines


def _inbound() -> list[str]:
    counts = dict(InboundMessage.objects.values_list("status").annotate(n=Count("id")).order_by())
    return _family(
        "postdesk_inbound_messages",
        "gauge",
        "Spooled inbound mail by processing status.",
        [({"status": status}, counts.get(status, 0)) for status in InboundStatus.values],
    )


def _journalled() -> list[str]:
    from postdesk import operations  # operations imports every app's models

    path = operations.smtpd_journal_path()
    return _family(
        "postdesk_smtpd_journalled",
        "gauge",
        "Mail smtpd has acknowledged and not yet moved into the spool (SQLite desks).",
        [({}, waiting_in(path) if path is not None else 0)],
    )


def _outbound() -> list[str]:
    app_label = "outbound"
    if not apps.is_installed(f"postdesk.{app_label}"):
        return []
    model = apps.get_model(app_label, "OutboundMessage")
    counts = model.objects.values_list("status").annotate(n=Count("id")).order_by()
    return _family(
        "postdesk_outbound_messages",
        "gauge",
        "Outbound mail by delivery status.",
        [({"status": str(status)}, n) for status, n in counts],
    )


def _protection() -> list[str]:
    from postdesk.suspension.services import metrics as protection_metrics

    counts = protection_metrics()
    return (
        _family(
            "postdesk_suspended_pending",
            "gauge",
            "Suspended mail waiting for review, by cause.",
            [({"cause": cause}, n) for cause, n in counts["suspended_pending_by_cause"].items()],
        )
        + _family(
            "postdesk_suspended",
            "gauge",
            "Suspended mail kept (within retention), by cause.",
            [({"cause": cause}, n) for cause, n in counts["suspended_by_cause"].items()],
        )
        + _family(
            "postdesk_dropped",
            "gauge",
            "Dropped mail recorded (within retention), by rule.",
            [({"rule": rule}, n) for rule, n in counts["dropped_by_rule"].items()],
        )
    )


def _queue() -> list[str]:
    ready = (
        DBTaskResult.objects.ready().values_list("queue_name").annotate(n=Count("id")).order_by()
    )
    running = (
        DBTaskResult.objects.running().values_list("queue_name").annotate(n=Count("id")).order_by()
    )
    samples = [({"queue": q, "state": "ready"}, n) for q, n in ready]
    samples += [({"queue": q, "state": "running"}, n) for q, n in running]
    return _family("postdesk_queue_depth", "gauge", "Background tasks waiting or running.", samples)


def _latency() -> list[str]:
    since = timezone.now() - LATENCY_WINDOW
    pairs = InboundMessage.objects.filter(finished_at__gte=since).values_list(
        "received_at", "finished_at"
    )
    seconds = sorted((done - received).total_seconds() for received, done in pairs if done)
    samples: list[tuple[dict[str, str], float]] = []
    for quantile in LATENCY_QUANTILES:
        if seconds:
            index = min(len(seconds) - 1, round(quantile * (len(seconds) - 1)))
            samples.append(({"quantile": str(quantile)}, round(seconds[index], 6)))
    lines = _family(
        "postdesk_processing_latency_seconds",
        "summary",
        "Time from a mail's acknowledgement to the end of its processing, last hour.",
        samples,
    )
    lines.append(f"postdesk_processing_latency_seconds_count {len(seconds)}")
    lines.append(f"postdesk_processing_latency_seconds_sum {round(sum(seconds), 6)}")
    return lines


def _allowed(request: HttpRequest) -> bool:
    try:
        if ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback:
            return True
    except ValueError:
        pass
    user = user_from_authorization(request.headers.get("Authorization", ""))
    return user is not None and user.is_admin


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse(
            "metrics are readable from loopback or with an admin token\n", status=403
        )
    lines = _inbound() + _journalled() + _outbound() + _protection() + _queue() + _latency()
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")
