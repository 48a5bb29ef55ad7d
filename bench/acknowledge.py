"""Acknowledgement benchmark: the cost of ``notify_new_ticket`` for one new ticket, beside the
least any desk must do for the same mail, measured in the same run on the same tickets.

    .venv/bin/python bench/acknowledge.py [-n 400] [--database-url URL] [--profile]

The desk runs in this process on a fresh SQLite database (or ``--database-url``). N tickets
are made, each from its own customer (a third of them Korean-speaking, so both languages are
rendered), with the first comment as the inbound pipeline leaves it. Then, one transaction per
ticket, as the pipeline's (the commit is not timed: it is the ticket's commit, shared):

- **postdesk**: ``notify_new_ticket(ticket, comment)``: recipient and loop checks, the
  automatic-mail limits, the text in the customer's language, the composed and checked
  bytes, the outbox rows and the delivery task's wake-up;
- **floor**: the same text and HTML put into an ``EmailMessage`` by the standard library
  (``set_content`` and ``add_alternative``), serialised, and inserted as one row.

Each side is timed in its own pass over all tickets, and the passes alternate (floor,
postdesk, floor, postdesk) so that load from other processes falls on both. Printed: mean
ms per acknowledgement (wall and CPU), SQL statements per acknowledgement, and the ratio.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DESK_DOMAIN = "acme.postdesk.example"
ENGLISH = (
    "Hello,\n\nThe printer in room 4 shows error E-204 after every second page. We already "
    "replaced the toner and restarted it twice.\n\nCould someone have a look this week?\n\n"
    "Thanks,\n{name}\n"
)
KOREAN = (
    "안녕하세요,\n\n4번 회의실 프린터가 두 장마다 E-204 오류를 냅니다. 토너를 교체하고 두 번 "
    "다시 시작했지만 그대로입니다.\n\n이번 주에 확인해 주실 수 있을까요?\n\n감사합니다.\n{name}\n"
)


def setup_desk(database_url: str | None) -> None:
    os.environ["POSTDESK_DATA_DIR"] = tempfile.mkdtemp(prefix="postdesk-bench-ack-")
    os.environ["POSTDESK_MAIL_DOMAIN"] = DESK_DOMAIN
    os.environ["DJANGO_SETTINGS_MODULE"] = "postdesk.settings"
    if database_url:
        os.environ["POSTDESK_DATABASE_URL"] = database_url
    else:
        os.environ.pop("POSTDESK_DATABASE_URL", None)
    import logging

    import django
    from django.core.management import call_command

    django.setup()
    logging.disable(logging.WARNING)
    call_command("migrate", verbosity=0)


def make_tickets(count: int) -> list[tuple[Any, Any]]:
    """Tickets as the inbound pipeline leaves them: requester, received-at, first comment."""
    from postdesk.channels.models import SupportAddress
    from postdesk.tickets.models import Comment, Ticket, User

    support, _ = SupportAddress.objects.update_or_create(
        email=f"support@{DESK_DOMAIN}", defaults={"name": "Acme Support"}
    )
    pairs = []
    for number in range(count):
        korean = number % 3 == 0
        name = "김민수" if korean else "Ada Lovelace"
        requester = User.objects.create_user(
            f"customer{number}@example.com", name=name, locale="ko" if korean else "en"
        )
        subject = "프린터 오류 E-204" if korean else "Printer error E-204 in room 4"
        ticket = Ticket.objects.create(
            subject=f"{subject} ({number})",
            requester=requester,
            submitter=requester,
            received_at=support,
            recipient=support.email,
        )
        comment = Comment.objects.create(
            ticket=ticket,
            author=requester,
            body=(KOREAN if korean else ENGLISH).format(name=name),
            message_id=f"<question-{number}@mail.example.com>",
        )
        pairs.append(
            (
                Ticket.objects.select_related("requester", "received_at").get(pk=ticket.pk),
                Comment.objects.select_related("inbound").get(pk=comment.pk),
            )
        )
    return pairs


def forget_acknowledgements() -> None:
    """Start each pass from a desk that has sent nothing (the hourly limits count every pass)."""
    from django_tasks_db.models import DBTaskResult

    from postdesk.outbound.models import OutboundMessage
    from postdesk.suspension.models import RateEvent

    OutboundMessage.objects.all().delete()
    RateEvent.objects.all().delete()
    DBTaskResult.objects.all().delete()


def _timed(
    pairs: list[tuple[Any, Any]], one: Any, profiler: cProfile.Profile | None = None
) -> tuple[float, float]:
    """(wall, CPU) seconds spent inside ``one(ticket, comment)``, commits excluded."""
    from django.db import transaction

    wall = cpu = 0.0
    for ticket, comment in pairs:
        with transaction.atomic():
            if profiler is not None:
                profiler.enable()
            started, started_cpu = time.perf_counter(), time.process_time()
            with transaction.atomic():  # the pipeline's savepoint around the acknowledgement
                one(ticket, comment)
            wall += time.perf_counter() - started
            cpu += time.process_time() - started_cpu
            if profiler is not None:
                profiler.disable()
    return wall, cpu


def postdesk_one(ticket: Any, comment: Any) -> None:
    from postdesk.outbound.services import notify_new_ticket

    if notify_new_ticket(ticket, comment) is None:
        raise SystemExit(f"ticket {ticket.pk}: no acknowledgement (limits?)")


def floor_one(ticket: Any, comment: Any) -> None:
    from django.db import connection

    from postdesk.outbound.composer import html_from_text

    text = f"Thanks for writing to us.\n\n{comment.body}"
    message = EmailMessage()
    message["From"] = f"Acme Support <support@{DESK_DOMAIN}>"
    message["To"] = f"{ticket.requester.name} <{ticket.requester.email}>"
    message["Subject"] = f"Re: {ticket.subject} [#{ticket.pk}]"
    message["Message-ID"] = f"<ack.{ticket.pk}@{DESK_DOMAIN}>"
    message["In-Reply-To"] = comment.message_id
    message.set_content(text)
    message.add_alternative(html_from_text(text), subtype="html")
    raw = message.as_bytes()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_floor (ticket_id, raw) VALUES (%s, %s)", [ticket.pk, raw])


def count_statements(pairs: list[tuple[Any, Any]], one: Any) -> float:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        _timed(pairs, one)
    # The bench's own transaction per ticket is not the acknowledgement's; the savepoint
    # inside it is the pipeline's, and stays counted.
    statements = [
        q
        for q in captured.captured_queries
        if q["sql"] not in ("BEGIN", "BEGIN IMMEDIATE", "COMMIT")
    ]
    return len(statements) / len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=400)
    parser.add_argument("--database-url")
    parser.add_argument("--profile", action="store_true", help="print the cProfile of one pass")
    args = parser.parse_args()
    setup_desk(args.database_url)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_floor (ticket_id INTEGER, raw BYTEA)")
    pairs = make_tickets(args.n)

    # One pass each first: imports, snapshots and caches warm, as in a running worker.
    forget_acknowledgements()
    _timed(pairs[:20], postdesk_one)
    _timed(pairs[:20], floor_one)
    totals = {"postdesk": [0.0, 0.0], "floor": [0.0, 0.0]}
    passes = 2
    for _ in range(passes):
        for name, one in (("floor", floor_one), ("postdesk", postdesk_one)):
            forget_acknowledgements()
            wall, cpu = _timed(pairs, one)
            totals[name][0] += wall
            totals[name][1] += cpu
    forget_acknowledgements()
    statements = count_statements(pairs[:50], postdesk_one)
    floor_statements = count_statements(pairs[:50], floor_one)

    calls = args.n * passes
    ours = [value / calls * 1000 for value in totals["postdesk"]]
    floor = [value / calls * 1000 for value in totals["floor"]]
    print(
        f"acknowledgement benchmark: {args.n} new tickets x {passes} passes ({connection.vendor})"
    )
    print(
        f"  postdesk notify_new_ticket: {ours[0]:6.2f} ms wall, {ours[1]:6.2f} ms CPU per mail,"
        f" {statements:.1f} SQL/mail"
    )
    print(
        f"  floor (stdlib EmailMessage + 1 insert): {floor[0]:6.2f} ms wall, {floor[1]:6.2f} ms CPU"
        f" per mail, {floor_statements:.1f} SQL/mail"
    )
    print(
        f"  -> postdesk costs {ours[1] / floor[1]:.1f}x the floor (CPU), {ours[0] / floor[0]:.1f}x (wall)"
    )
    if args.profile:
        forget_acknowledgements()
        profiler = cProfile.Profile()
        _timed(pairs, postdesk_one, profiler)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"postdesk/", 30)


if __name__ == "__main__":
    main()
