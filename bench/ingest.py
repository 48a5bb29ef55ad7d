"""Ingest benchmark (SPEC §5): raw mail → committed ticket through the real pipeline on
SQLite, beside two baselines measured in the same run on the same mails.

    .venv/bin/python bench/ingest.py CORPUS_DIR [--helpdesk-python bench/.venv-helpdesk/bin/python]
                                     [--profile N]

* **postdesk**: every mail goes through ``spool.accept`` (one durable commit each, as the
  pipe and HTTP transports do) and then the real worker (``postdesk.jobs.worker.run_worker``)
  turns it into a ticket or a comment: it claims up to 16 ready mails at once and processes
  them several per transaction of at most 50 ms, each mail in a savepoint of its own
  (``postdesk.jobs.groups``). The target line is timed from the first accept to the commit
  of the last mail's ticket (its ``finished_at``, written in that last transaction), as
  SPEC §5 defines ingest: raw mail -> ticket committed. Each of those transactions has
  also composed and queued the mail's acknowledgement; the worker sends them after the
  mail, and a second line times the run until that is done too. The pipeline's own share
  and the worker's queries per mail are printed as well.
* **floor**: the least any desk must do: stdlib ``email`` with ``policy.default``, the body
  and the attachments extracted, and one durable SQLite insert per mail (WAL,
  ``synchronous=FULL``, as Postdesk's database).
* **django-helpdesk**: its ``helpdesk.email.extract_email_metadata`` on the same mails, in
  its own virtualenv (it pins an older Django), as a subprocess printing its rate
  (``bench/helpdesk_extract.py``). ``make bench`` sets that virtualenv up.

Targets: Postdesk >= 0.5x the floor and >= 10x django-helpdesk, for the one-at-a-time line.
A second line shows the same mails arriving as an SMTP burst (``accept_many`` group commits,
as smtpd stores concurrent sessions under load); it is not the line the target is read on.
``--profile N`` prints the cProfile of the worker's ``run_pipeline`` over the first N mails
(a separate run).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sqlite3
import subprocess
import sys
import tempfile
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESK_DOMAIN = "acme.postdesk.example"  # the domain bench/make_corpus.py writes to


def load_corpus(corpus: Path) -> list[bytes]:
    files = sorted(path for path in corpus.iterdir() if path.suffix == ".eml")
    if not files:
        raise SystemExit(f"no .eml files in {corpus} (make one with bench/make_corpus.py)")
    return [path.read_bytes() for path in files]


# --- the floor -------------------------------------------------------------------------------


def _extract(raw: bytes) -> tuple[str, str, str, int]:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    try:
        body_part = message.get_body(preferencelist=("plain", "html"))
        body = body_part.get_content() if body_part is not None else ""
    except Exception:  # malformed mail: the floor keeps going as any desk must
        body = ""
    sizes = 0
    for attachment in message.iter_attachments():
        try:
            content = attachment.get_content()
        except Exception:
            continue
        sizes += len(content)
    return str(message.get("subject", "")), str(message.get("from", "")), str(body), sizes


def run_floor(mails: list[bytes], directory: Path) -> float:
    """Seconds for stdlib parse + extraction + one durable insert per mail."""
    database = sqlite3.connect(directory / "floor.sqlite3", isolation_level=None)
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("PRAGMA synchronous=FULL")
    database.execute(
        "CREATE TABLE mail (id INTEGER PRIMARY KEY, raw BLOB, subject TEXT, sender TEXT,"
        " body TEXT, attachment_bytes INTEGER)"
    )
    started = time.perf_counter()
    for raw in mails:
        subject, sender, body, sizes = _extract(raw)
        database.execute("BEGIN IMMEDIATE")
        database.execute(
            "INSERT INTO mail (raw, subject, sender, body, attachment_bytes) VALUES (?,?,?,?,?)",
            (raw, subject.replace("\x00", ""), sender, body.replace("\x00", ""), sizes),
        )
        database.execute("COMMIT")
    elapsed = time.perf_counter() - started
    database.close()
    return elapsed


# --- Postdesk ----------------------------------------------------------------------------------


def setup_django(data_dir: Path) -> None:
    os.environ["POSTDESK_DATA_DIR"] = str(data_dir)
    os.environ["POSTDESK_MAIL_DOMAIN"] = DESK_DOMAIN
    os.environ.pop("POSTDESK_DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postdesk.settings")
    sys.path.insert(0, str(ROOT))
    import logging

    import django
    from django.core.management import call_command

    django.setup()
    logging.disable(logging.WARNING)  # per-mail log lines are not what is measured
    call_command("migrate", verbosity=0)


def spool_all(mails: list[bytes]) -> None:
    from postdesk.mail.envelope import Envelope
    from postdesk.spool.accept import accept

    for raw in mails:
        accept(
            raw,
            Envelope(
                transport="smtp",
                rcpt_tos=(f"support@{DESK_DOMAIN}",),
                mail_from="customer@example.com",
                peer_ip="192.0.2.1",
            ),
        )


def run_worker_until_empty() -> None:
    from postdesk.jobs.worker import run_worker

    run_worker(interval=0, batch=True)


def run_postdesk(mails: list[bytes]) -> dict[str, float]:
    from django.db.models import Count, Max
    from django.utils import timezone

    from postdesk.spool.models import InboundMessage

    started_at = timezone.now()
    started = time.perf_counter()
    spool_all(mails)
    spooled = time.perf_counter()
    run_worker_until_empty()
    finished = time.perf_counter()
    # The clock the target is read on stops when the last mail's ticket was committed (the
    # processing transaction writes finished_at); the worker then still delivers the
    # acknowledgements those transactions queued, which the "total" clock includes.
    last_commit = InboundMessage.objects.aggregate(last=Max("finished_at"))["last"]
    statuses = dict(InboundMessage.objects.values_list("status").annotate(n=Count("id")).order_by())
    pipeline_ms = [
        float(d["processing_ms"])
        for d in InboundMessage.objects.values_list("diagnostics", flat=True)
        if "processing_ms" in d
    ]
    return {
        "to_last_ticket": (last_commit - started_at).total_seconds(),
        "total": finished - started,
        "spool": spooled - started,
        "worker": finished - spooled,
        "pipeline_ms_mean": sum(pipeline_ms) / max(1, len(pipeline_ms)),
        "statuses": statuses,  # type: ignore[dict-item]
    }


def copies(mails: list[bytes], mark: str) -> list[bytes]:
    """The same mails as new ones: other bytes and other Message-IDs, so neither the spool
    nor the pipeline takes them for deliveries of mail already processed."""
    tag = f"Message-ID: <{mark}-".encode()
    return [raw.replace(b"Message-ID: <", tag, 1) + mark.encode() for raw in mails]


def queries_per_mail(mails: list[bytes]) -> float:
    """Mean SQL statements the worker runs per mail (task claim and result included)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    spool_all(copies(mails, "q"))
    with CaptureQueriesContext(connection) as captured:
        run_worker_until_empty()
    return len(captured.captured_queries) / max(1, len(mails))


BURST_GROUP = 32  # mails per group commit, as smtpd gathers concurrent sessions under load


def run_burst(mails: list[bytes]) -> float:
    """Seconds for the same mails (as new ones) arriving in a burst over SMTP: spooled with
    ``accept_many`` in group commits of ``BURST_GROUP`` (one task per group, as smtpd does
    under load), then the real worker. Runs after the one-at-a-time measurement, on a
    database that already holds its tickets and users."""
    from postdesk.mail.envelope import Envelope
    from postdesk.spool.accept import accept_many

    burst = copies(mails, "b")
    envelope = Envelope(
        transport="smtp",
        rcpt_tos=(f"support@{DESK_DOMAIN}",),
        mail_from="customer@example.com",
        peer_ip="192.0.2.1",
    )
    started = time.perf_counter()
    for first in range(0, len(burst), BURST_GROUP):
        accept_many([(raw, envelope) for raw in burst[first : first + BURST_GROUP]])
    run_worker_until_empty()
    return time.perf_counter() - started


def run_pipeline_alone(mails: list[bytes], profile: bool = False) -> float:
    """Seconds for ``run_pipeline`` on spooled copies, one transaction each, without the
    task queue's claim and result bookkeeping around it."""
    from postdesk.spool.models import InboundMessage, InboundStatus
    from postdesk.spool.tasks import run_pipeline

    spool_all(copies(mails, "p" if not profile else "prof"))
    ids = list(
        InboundMessage.objects.filter(status=InboundStatus.QUEUED).values_list("id", flat=True)
    )
    profiler = cProfile.Profile()
    started = time.perf_counter()
    if profile:
        profiler.enable()
    for message_id in ids:
        run_pipeline(message_id)
    profiler.disable()
    elapsed = time.perf_counter() - started
    if profile:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(
            r"postdesk/(inbound|outbound|suspension|channels|mail)", 40
        )
    return elapsed


# --- django-helpdesk ------------------------------------------------------------------------------


def run_helpdesk(python: Path, corpus: Path) -> dict[str, float] | None:
    if not python.exists():
        print(f"django-helpdesk: skipped, no {python} (run `make bench` to set it up)")
        return None
    script = ROOT / "bench" / "helpdesk_extract.py"
    done = subprocess.run(
        [str(python), str(script), str(corpus)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        print("django-helpdesk run failed:\n" + done.stderr[-3000:])
        return None
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument(
        "--helpdesk-python", type=Path, default=ROOT / "bench" / ".venv-helpdesk" / "bin" / "python"
    )
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    args = parser.parse_args()
    mails = load_corpus(args.corpus)
    count = len(mails)
    with tempfile.TemporaryDirectory(prefix="postdesk-bench-") as tmp:
        directory = Path(tmp)
        floor = run_floor(mails, directory)
        setup_django(directory / "desk")
        ours = run_postdesk(mails)
        queries = queries_per_mail(mails[:50])
        alone = run_pipeline_alone(mails[:200])
        burst = run_burst(mails)
        if args.profile:
            run_pipeline_alone(mails[: args.profile], profile=True)
    helpdesk = run_helpdesk(args.helpdesk_python, args.corpus)

    ours_rate = count / ours["to_last_ticket"]
    floor_rate = count / floor
    print(f"ingest benchmark: {count} mails from {args.corpus}")
    print(f"  statuses: {ours['statuses']}")
    print(
        f"  postdesk raw -> ticket committed (spool + worker, SQLite): {ours_rate:8.1f} msgs/s"
        f"  (spool {count / ours['spool']:.0f}/s, pipeline {ours['pipeline_ms_mean']:.2f}"
        f" ms/mail, {queries:.1f} SQL/mail)"
    )
    print(
        f"  postdesk until the worker has also sent the acknowledgements:"
        f" {count / ours['total']:8.1f} msgs/s (worker {count / ours['worker']:.0f}/s)"
    )
    print(
        f"  postdesk pipeline alone (run_pipeline, 1 commit per mail, no task queue):"
        f" {min(count, 200) / alone:8.1f} msgs/s"
    )
    print(
        f"  postdesk SMTP burst (accept_many group commits of {BURST_GROUP}, then the worker;"
        f" warm database): {count / burst:8.1f} msgs/s"
    )
    print(
        f"  floor (stdlib parse + 1 durable insert): {floor_rate:8.1f} msgs/s"
        f"  -> postdesk is {ours_rate / floor_rate:.2f}x the floor (target >= 0.5x)"
    )
    if helpdesk is not None:
        rate = helpdesk["rate"]
        print(
            f"  django-helpdesk extract_email_metadata: {rate:8.1f} msgs/s"
            f" ({int(helpdesk['errors'])} errors)"
            f"  -> postdesk is {ours_rate / rate:.1f}x django-helpdesk (target >= 10x)"
        )


if __name__ == "__main__":
    main()
