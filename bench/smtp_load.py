"""SMTP load benchmark: N mails over C concurrent connections to ``postdesk run``, beside a
bare aiosmtpd sink in the same run (SPEC §5 ingest targets).

Prints, for the desk and for the sink: accepted mails per second, p50/p99 of the time from
the end of DATA to the ``250`` reply, and for the desk the time until every mail is a ticket.
Nothing is timed inside tests; run this by hand or with ``make bench``:

    .venv/bin/python bench/smtp_load.py [-n 2000] [-c 20] [--first 5] [--database-url URL]

Before the load it also times a few single mails from ``250`` to their committed ticket.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import smtplib
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email.utils import make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SINK = """
import asyncio, sys
from aiosmtpd.smtp import SMTP

class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 Ok"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Sink(), enable_SMTPUTF8=True), "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(3) == b"220":
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {port}")


def message(n: int) -> bytes:
    body = "".join(f"line {i} of a customer's question about order {n}\r\n" for i in range(30))
    return (
        f"From: Customer {n} <customer{n}@example.com>\r\nTo: support@desk.test\r\n"
        f"Subject: load test {n}\r\nMessage-ID: {make_msgid(domain='bench.example')}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
    ).encode()


def send_all(port: int, mails: list[bytes], clients: int) -> tuple[list[float], float, int]:
    """Send over ``clients`` persistent connections; returns DATA->250 latencies, the wall
    time, and how many mails were refused."""
    latencies: list[float] = []
    refused = 0
    lock = threading.Lock()

    def worker(chunk: list[bytes]) -> None:
        nonlocal refused
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            client.ehlo("bench.example")
            for raw in chunk:
                client.mail("bench@example.com")
                client.rcpt("support@desk.test")
                code, _ = client.docmd("DATA")
                assert code == 354
                payload = raw.replace(b"\r\n.", b"\r\n..") + b".\r\n"
                client.send(payload)
                sent = time.perf_counter()
                code, _ = client.getreply()
                elapsed = time.perf_counter() - sent
                with lock:
                    latencies.append(elapsed)
                    if code != 250:
                        refused += 1

    threads = [threading.Thread(target=worker, args=(mails[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started, refused


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
        if len(values) > 1
        else values[0]
    )


def report(name: str, latencies: list[float], wall: float, refused: int) -> dict[str, float]:
    result = {
        "accepted_per_s": (len(latencies) - refused) / wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "refused": refused,
    }
    print(
        f"{name:<10} {result['accepted_per_s']:9.1f} mails/s   "
        f"DATA->250 p50 {result['p50_ms']:7.2f} ms   p99 {result['p99_ms']:7.2f} ms   refused {refused}"
    )
    return result


def status(env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "postdesk.cli", "status", "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    return json.loads(out.stdout)


class TicketCounter:
    """Counts tickets straight from the desk's database, cheaply enough to poll every few
    milliseconds (``postdesk status`` starts Django each time)."""

    def __init__(self, data_dir: str, database_url: str | None) -> None:
        if database_url:
            import psycopg

            self.connection = psycopg.connect(database_url, autocommit=True)
        else:
            path = Path(data_dir) / "postdesk.sqlite3"
            self.connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def __call__(self) -> int:
        row = self.connection.execute("SELECT COUNT(*) FROM tickets_ticket").fetchone()
        return int(row[0])


def first_mails(port: int, count: int, counter: TicketCounter) -> list[float]:
    """Seconds from ``250`` until the ticket is committed, one mail at a time on an idle
    desk (the issue's "a ticket within a second")."""
    delays = []
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for n in range(count):
            before = counter()
            client.sendmail("bench@example.com", ["support@desk.test"], message(10**6 + n))
            acknowledged = time.perf_counter()
            while counter() == before:
                if time.perf_counter() - acknowledged > 30:
                    raise TimeoutError("no ticket 30 s after 250")
                time.sleep(0.002)
            delays.append(time.perf_counter() - acknowledged)
            time.sleep(0.3)  # let the desk go idle again
    return delays


def run_desk(
    args: argparse.Namespace, mails: list[bytes]
) -> tuple[list[float], tuple[list[float], float, int], float, dict]:
    """``postdesk run`` on a fresh data directory: the single mails, then the load; returns
    the single mails' delays, the load's result, the time until all were tickets and the
    final status."""
    data_dir = tempfile.mkdtemp(prefix="postdesk-bench-")
    smtp_port, http_port = free_port(), free_port()
    env = {
        **os.environ,
        "POSTDESK_DATA_DIR": data_dir,
        "POSTDESK_MAIL_DOMAIN": "desk.test",
        "POSTDESK_SMTP": f"127.0.0.1:{smtp_port}",
        "POSTDESK_HTTP": f"127.0.0.1:{http_port}",
    }
    env.pop("POSTDESK_DATABASE_URL", None)
    if args.database_url:
        env["POSTDESK_DATABASE_URL"] = args.database_url
    desk = subprocess.Popen(
        [sys.executable, "-m", "postdesk.cli", "run", "--workers", str(args.workers)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_listening(smtp_port)
        counter = TicketCounter(data_dir, args.database_url)
        # The first-run admin and migrations are done once smtpd listens; wait for the worker.
        time.sleep(2)
        first = first_mails(smtp_port, args.first, counter) if args.first else []
        started = time.perf_counter()
        desk_result = send_all(smtp_port, mails, args.clients)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            current = status(env)
            if current["tickets"] >= args.mails + args.first - desk_result[2]:
                break
            time.sleep(0.5)
        all_tickets = time.perf_counter() - started
        return first, desk_result, all_tickets, status(env)
    finally:
        desk.send_signal(signal.SIGINT)
        desk.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--mails", type=int, default=2000)
    parser.add_argument("-c", "--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--first", type=int, default=5, help="single mails timed to their ticket before the load"
    )
    parser.add_argument(
        "--database-url", help="PostgreSQL URL of an empty database (default SQLite)"
    )
    args = parser.parse_args()
    mails = [message(n) for n in range(args.mails)]

    # The sink runs before and after the desk: on a shared machine its rate drifts, and the
    # ratio is taken against the mean of the two.
    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(sink_port)])
    try:
        wait_listening(sink_port)
        sink_before = send_all(sink_port, mails, args.clients)
        first, desk_result, all_tickets, final = run_desk(args, mails)
        sink_after = send_all(sink_port, mails, args.clients)
    finally:
        sink.terminate()
        sink.wait()

    print(
        f"{args.mails} mails, {args.clients} concurrent connections, "
        f"{'PostgreSQL' if args.database_url else 'SQLite'}, {args.workers} worker(s)"
    )
    if first:
        print(
            f"one mail at a time on an idle desk, 250 -> ticket committed: "
            f"median {statistics.median(first) * 1000:.0f} ms, max {max(first) * 1000:.0f} ms "
            f"({len(first)} mails)"
        )
    before = report("sink", *sink_before)
    ours = report("postdesk", *desk_result)
    after = report("sink again", *sink_after)
    base = (before["accepted_per_s"] + after["accepted_per_s"]) / 2
    print(
        f"postdesk acceptance rate is {ours['accepted_per_s'] / base:.2f}x the bare sink's "
        f"(mean of its two runs, {base:.1f} mails/s)"
    )
    print(
        f"all {args.mails} mails of the load were tickets {all_tickets:.1f} s after the first was "
        f"sent ({args.mails / all_tickets:.1f} tickets/s end to end); "
        f"inbound: {json.dumps(final['inbound'])}"
    )
    lost = args.mails + args.first - desk_result[2] - final["inbound"]["received"]
    print(f"lost: {lost}")
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
