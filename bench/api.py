"""Latency of the ticket list and the ticket page, in the agent UI and in the API, with
100,000 tickets and 1,000,000 comments, beside a bare Django view of the same rows in the same
run (issue 7 targets: list p95 < 100 ms, ticket page p95 < 150 ms).

For each database (SQLite in a fresh data directory; PostgreSQL in a fresh database next to
``--postgres-url``) a child process migrates, fills the tables with bulk inserts (search
indexes and triggers included, as in production), then requests every page through Django's
full handler (middleware, session, auth, templates or ninja) with the test ``Client``:

- ``ui list``: ``/`` (All unsolved, 50 a page, newest first) on a random one of the first
  100 pages, as shipped (the sidebar's counts of every view are reused for 10 s), and again
  with that cache off (``ui list, no count cache``: every view counted on every click);
  ``ui search``: ``/?q=<word>``, a common word of 3+ characters (in a third of all
  comments), a two-syllable Korean word (shorter than a trigram), or a rare case number (in
  about ten comments: the trigram index's case); ``ui ticket``: ``/tickets/<id>/`` of a random
  ticket (10 comments on average);
- ``api list``: ``/api/v2/tickets.json?per_page=100`` (offset) and
  ``?page[size]=100&page[after]=...`` (cursor); ``api ticket`` / ``api comments``;
- ``bare list`` / ``bare ticket``: a plain view returning the same rows as JSON with one query
  each and no middleware work beyond Django's own — the floor any page stands on.

    .venv/bin/python bench/api.py [--tickets 100000] [--comments 1000000] [--requests 200]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/test] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = [
    "printer",
    "invoice",
    "refund",
    "password",
    "login",
    "delivery",
    "shipping",
    "broken",
    "screen",
    "battery",
    "order",
    "account",
    "update",
    "cancel",
    "upgrade",
    "warranty",
    "환불",
    "배송",
    "결제",
    "비밀번호",
    "주문",
    "교환",
    "문의",
]

LONG_WORDS = [w for w in WORDS if len(w) >= 3]
SHORT_WORDS = [w for w in WORDS if len(w) < 3]
RARE_CODES = 100_000

# -- the bare baseline views (this module is the child's ROOT_URLCONF) ------------------------


def bare_list(request: Any) -> Any:
    from django.http import JsonResponse

    from postdesk.tickets.models import Ticket

    page = int(request.GET.get("page", 1))
    rows = list(
        Ticket.objects.filter(status__in=("new", "open", "pending", "hold"))
        .order_by("-updated_at", "-id")
        .values("id", "subject", "status", "updated_at", "requester__email")[
            (page - 1) * 50 : page * 50
        ]
    )
    return JsonResponse({"tickets": rows})


def bare_ticket(request: Any, ticket_id: int) -> Any:
    from django.http import JsonResponse

    from postdesk.tickets.models import Comment

    rows = list(
        Comment.objects.filter(ticket_id=ticket_id)
        .order_by("created_at", "id")
        .values("id", "body", "author__email", "created_at", "ticket__subject")
    )
    return JsonResponse({"comments": rows})


def _urlpatterns() -> list[Any]:
    from django.urls import path

    from postdesk.urls import urlpatterns as desk

    return [path("bare/list", bare_list), path("bare/ticket/<int:ticket_id>", bare_ticket), *desk]


if os.environ.get("POSTDESK_BENCH_CHILD") == "1" and __name__ != "__main__":
    urlpatterns = _urlpatterns()


# -- the child: fill, then measure -----------------------------------------------------------


def _fill(tickets: int, comments: int, seed: int) -> dict[str, float]:
    from django.db import connection, transaction
    from django.utils import timezone

    from postdesk.tickets.models import Comment, Group, Role, Ticket, User

    rng = random.Random(seed)
    started = time.perf_counter()
    agents = [
        User.objects.create_user(f"agent{n}@desk.test", role=Role.AGENT, name=f"Agent {n}")
        for n in range(20)
    ]
    customers = User.objects.bulk_create(
        User(email=f"customer{n}@example.com", name=f"Customer {n}") for n in range(5000)
    )
    groups = Group.objects.bulk_create(Group(name=f"Group {n}") for n in range(10))
    statuses = ["new"] * 10 + ["open"] * 25 + ["pending"] * 15 + ["hold"] * 2 + ["solved"] * 48
    now = timezone.now()
    batch = 5000
    for start in range(0, tickets, batch):
        with transaction.atomic():
            Ticket.objects.bulk_create(
                Ticket(
                    subject=f"{rng.choice(WORDS)} {rng.choice(WORDS)} #{start + n}",
                    status=rng.choice(statuses),
                    priority=rng.choice(["", "low", "normal", "high", "urgent"]),
                    requester=rng.choice(customers),
                    submitter=None,
                    assignee=rng.choice(agents) if rng.random() < 0.6 else None,
                    group=rng.choice(groups) if rng.random() < 0.8 else None,
                    tags=["bench"],
                    created_at=now - timedelta(minutes=start + n),
                    updated_at=now - timedelta(seconds=rng.randrange(10**7)),
                )
                for n in range(min(batch, tickets - start))
            )
    ticket_ids = list(Ticket.objects.values_list("id", "requester_id"))
    filled_tickets = time.perf_counter()
    per_ticket = max(1, comments // max(1, len(ticket_ids)))
    batch = 20000
    pending: list[Comment] = []
    written = 0
    for ticket_id, requester_id in ticket_ids:
        for n in range(per_ticket):
            if written + len(pending) >= comments:
                break
            agent_turn = n % 2 == 1
            pending.append(
                Comment(
                    ticket_id=ticket_id,
                    author_id=rng.choice(agents).pk if agent_turn else requester_id,
                    # Twelve common words and one rare one (a case number in ~10 comments).
                    body=" ".join(rng.choice(WORDS) for _ in range(12))
                    + f" case{rng.randrange(RARE_CODES)}",
                    public=rng.random() < 0.9,
                    via="web" if agent_turn else "email",
                    created_at=now - timedelta(minutes=per_ticket - n),
                )
            )
            if len(pending) >= batch:
                with transaction.atomic():
                    Comment.objects.bulk_create(pending)
                written += len(pending)
                pending = []
    if pending:
        with transaction.atomic():
            Comment.objects.bulk_create(pending)
        written += len(pending)
    with connection.cursor() as cursor:
        # What autovacuum does on a live PostgreSQL (visibility map for index-only scans).
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    return {
        "tickets_s": round(filled_tickets - started, 1),
        "comments_s": round(time.perf_counter() - filled_tickets, 1),
        "comments": written,
    }


def _timed(client: Any, url: str, **headers: str) -> float:
    started = time.perf_counter()
    response = client.get(url, **headers)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    return elapsed


def _queries(client: Any, url: str, **headers: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url, **headers)
    return len(captured)


def _measure(requests: int, seed: int) -> dict[str, Any]:
    from django.conf import settings
    from django.test import Client

    from postdesk.tickets import api_tokens
    from postdesk.tickets.models import Ticket, User

    rng = random.Random(seed + 1)
    agent = User.objects.get(email="agent0@desk.test")
    ui: Any = Client()
    ui.force_login(agent)
    api: Any = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_tokens.create(agent, 'bench')}"}
    max_id = Ticket.objects.order_by("-id").values_list("id", flat=True)[0]
    min_id = Ticket.objects.order_by("id").values_list("id", flat=True)[0]
    cursors = []
    url = "/api/v2/tickets.json?page[size]=100"
    for _ in range(20):
        body = json.loads(api.get(url, **auth).content)
        cursors.append(url)
        url = body["links"]["next"]

    def ticket_id() -> int:
        return rng.randint(min_id, max_id)

    cases: dict[str, tuple[Any, Any, dict[str, str]]] = {
        "ui list": (ui, lambda: f"/?page={rng.randint(1, 100)}", {}),
        "bare list": (ui, lambda: f"/bare/list?page={rng.randint(1, 100)}", {}),
        "ui search (word)": (ui, lambda: f"/?q={rng.choice(LONG_WORDS)}", {}),
        "ui search (2 chars)": (ui, lambda: f"/?q={rng.choice(SHORT_WORDS)}", {}),
        "ui search (rare)": (ui, lambda: f"/?q=case{rng.randrange(RARE_CODES)}", {}),
        "ui ticket": (ui, lambda: f"/tickets/{ticket_id()}/", {}),
        "bare ticket": (ui, lambda: f"/bare/ticket/{ticket_id()}", {}),
        "api list (offset)": (
            api,
            lambda: f"/api/v2/tickets.json?page={rng.randint(1, 100)}",
            auth,
        ),
        "api list (cursor)": (api, lambda: rng.choice(cursors), auth),
        "api ticket": (api, lambda: f"/api/v2/tickets/{ticket_id()}.json", auth),
        "api comments": (api, lambda: f"/api/v2/tickets/{ticket_id()}/comments.json", auth),
    }
    results: dict[str, Any] = {}

    def uncached_list() -> str:
        settings.POSTDESK_VIEW_COUNTS_TTL = 0  # the sidebar counts everything on every click
        return f"/?page={rng.randint(1, 100)}"

    cases["ui list, no count cache"] = (ui, uncached_list, {})
    for name, (client, make_url, headers) in cases.items():
        for _ in range(10):
            _timed(client, make_url(), **headers)
        samples = sorted(_timed(client, make_url(), **headers) for _ in range(requests))
        results[name] = {
            "p50": round(statistics.median(samples), 2),
            "p95": round(samples[int(len(samples) * 0.95) - 1], 2),
            "queries": _queries(client, make_url(), **headers),
        }
    # The query count may not grow with the page size (asserted in tests; shown here).
    results["queries by page size"] = {
        "ui list 25/100": [_queries(ui, "/?per_page=25"), _queries(ui, "/?per_page=100")],
        "api list 10/100": [
            _queries(api, "/api/v2/tickets.json?per_page=10", **auth),
            _queries(api, "/api/v2/tickets.json?per_page=100", **auth),
        ],
    }
    return results


def child(args: argparse.Namespace) -> None:
    import django
    from django.conf import settings

    django.setup()
    settings.ROOT_URLCONF = "bench.api"
    settings.POSTDESK_API_RATE_LIMIT = 10**9
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    fill = _fill(args.tickets, args.comments, args.seed)
    results = _measure(args.requests, args.seed)
    print(json.dumps({"fill": fill, "results": results}))


# -- the parent: one child per database, then the table ---------------------------------------


def _run_child(args: argparse.Namespace, database_url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="postdesk-bench-api-") as data_dir:
        env = {
            **os.environ,
            "POSTDESK_DATA_DIR": data_dir,
            "POSTDESK_BENCH_CHILD": "1",
            "DJANGO_SETTINGS_MODULE": "postdesk.settings",
            "PYTHONPATH": str(ROOT),
        }
        env.pop("POSTDESK_DATABASE_URL", None)
        if database_url:
            env["POSTDESK_DATABASE_URL"] = database_url
        command = [
            sys.executable, "-m", "bench.api", "--child",
            "--tickets", str(args.tickets), "--comments", str(args.comments),
            "--requests", str(args.requests), "--seed", str(args.seed),
        ]  # fmt: skip
        done = subprocess.run(
            command, env=env, cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"benchmark child failed:\n{done.stderr[-4000:]}")
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _postgres(base_url: str) -> tuple[str, str]:
    from urllib.parse import urlsplit, urlunsplit

    name = f"postdesk_bench_{secrets.token_hex(4)}"
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, urlunsplit(urlsplit(base_url)._replace(path=f"/{name}"))


def _drop_postgres(base_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _print(label: str, report: dict[str, Any], elapsed: float) -> None:
    fill = report["fill"]
    print(
        f"\n{label}: {fill['comments']:,} comments; filled tickets in {fill['tickets_s']} s, "
        f"comments in {fill['comments_s']} s; whole run {elapsed:.0f} s"
    )
    print(f"  {'page':<24} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
    results = report["results"]
    for name, row in results.items():
        if name == "queries by page size":
            continue
        print(f"  {name:<24} {row['p50']:>8.2f} {row['p95']:>8.2f} {row['queries']:>8}")
    for name, (small, large) in results["queries by page size"].items():
        print(f"  queries, {name}: {small} and {large}")
    ui_list = max(results["ui list"]["p95"], results["ui list, no count cache"]["p95"])
    ui_ticket = results["ui ticket"]["p95"]
    print(
        f"  targets: list p95 {ui_list:.1f} ms (< 100: {'ok' if ui_list < 100 else 'MISSED'}), "
        f"ticket page p95 {ui_ticket:.1f} ms (< 150: {'ok' if ui_ticket < 150 else 'MISSED'}); "
        f"bare list p95 {results['bare list']['p95']:.1f} ms, "
        f"bare ticket p95 {results['bare ticket']['p95']:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--comments", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "POSTDESK_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    print(
        f"bench/api.py: {args.tickets:,} tickets, {args.comments:,} comments, "
        f"{args.requests} timed requests per page"
    )
    if args.only in (None, "sqlite"):
        started = time.perf_counter()
        _print("SQLite", _run_child(args, None), time.perf_counter() - started)
    if args.only in (None, "postgresql"):
        name, url = _postgres(args.postgres_url)
        try:
            started = time.perf_counter()
            _print("PostgreSQL", _run_child(args, url), time.perf_counter() - started)
        finally:
            _drop_postgres(args.postgres_url, name)


if __name__ == "__main__":
    main()
