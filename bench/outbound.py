"""Outbound throughput of one worker: DKIM-signed mail from the outbox into a local SMTP sink,
beside plain unsigned ``smtplib`` sends of the same bytes in the same run (SPEC §5: at least
100 signed messages per second per worker).

The desk runs in this process on a fresh SQLite database (or ``--database-url``). N mails are
stored through ``send_system_mail`` from a support address whose DKIM key is verified, so
every one is signed with RSA-2048 at send time. Then, timed:

- **baselines**: ``smtplib`` sends each stored message's unsigned bytes to the sink and does
  nothing else, once with a connection per message and once over a single connection (the
  floor of any SMTP client);
- **worker**: django-tasks-db's worker runs the queued ``send_outbound`` task(s) as
  ``postdesk worker`` does: claim mails in batches, sign each, send through the ``smtp://``
  relay (one connection per batch), record every reply.

The sink is a bare aiosmtpd server in its own process. A sample of the sent mails is checked
with dkimpy against the published record first, so the number is for valid signatures.

    .venv/bin/python bench/outbound.py [-n 1000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET = 100.0

SINK = """
import asyncio, sys
from aiosmtpd.smtp import SMTP

class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 Ok"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Sink(), enable_SMTPUTF8=True, decode_data=False), "127.0.0.1", int(sys.argv[1])
    )
    await server.serve_forever()

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(3) == b"220":
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


def setup_desk(args: argparse.Namespace, sink_port: int) -> None:
    os.environ["POSTDESK_DATA_DIR"] = tempfile.mkdtemp(prefix="postdesk-bench-outbound-")
    os.environ["POSTDESK_MAIL_DOMAIN"] = "desk.test"
    os.environ["POSTDESK_RELAY"] = f"smtp://127.0.0.1:{sink_port}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "postdesk.settings"
    if args.database_url:
        os.environ["POSTDESK_DATABASE_URL"] = args.database_url
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def store_mails(count: int) -> list[int]:
    from postdesk.channels.models import AddressKind, SupportAddress, VerificationStatus
    from postdesk.outbound import dkim_keys, services

    hosted = SupportAddress.objects.create(email="billing@desk.test", name="Billing")
    company = SupportAddress.objects.create(
        email="billing@mycompany.test",
        name="Acme Billing",
        kind=AddressKind.EXTERNAL,
        forwarding_target=hosted,
        forwarding_status=VerificationStatus.VERIFIED,
    )
    dkim_keys.ensure_keys("mycompany.test")
    dkim_keys.mark_dkim_verified("mycompany.test", "postdesk1")
    text = "Hello,\n\nThanks for reaching out. Please reinstall the printer driver.\n" * 8
    ids = []
    for number in range(count):
        outbound = services.send_system_mail(
            to=f"customer{number}@example.com",
            subject=f"Your request {number}",
            text=text,
            from_address=company,
        )
        ids.append(outbound.pk)
    return ids


def verify_sample(ids: list[int]) -> None:
    import dkim as dkimpy

    from postdesk.outbound import dkim_keys
    from postdesk.outbound.models import OutboundMessage

    zone = {r.name: r.value.encode() for r in dkim_keys.dns_records("mycompany.test")}

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return zone.get(name.decode().rstrip("."))

    for outbound in OutboundMessage.objects.filter(pk__in=ids[:: max(1, len(ids) // 20)]):
        data = outbound.sent_bytes()
        if not data.startswith(b"DKIM-Signature:") or not dkimpy.verify(data, dnsfunc=dnsfunc):
            raise SystemExit(f"outbound {outbound.pk}: signature does not verify")


def baseline(port: int, mails: list[tuple[str, str, bytes]]) -> float:
    started = time.perf_counter()
    for mail_from, rcpt, data in mails:
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail(mail_from, [rcpt], data)
    return time.perf_counter() - started


def baseline_one_connection(port: int, mails: list[tuple[str, str, bytes]]) -> float:
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for mail_from, rcpt, data in mails:
            client.sendmail(mail_from, [rcpt], data)
    return time.perf_counter() - started


def run_worker(count: int) -> float:
    from django_tasks_db.management.commands import db_worker

    worker = db_worker.Worker(
        queue_names=["outbound"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=count,
        worker_id="bench-worker",
        excluded_queue_names=[],
    )
    started = time.perf_counter()
    worker.run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--messages", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(port)])
    try:
        wait_listening(port)
        setup_desk(args, port)
        ids = store_mails(args.messages)

        from postdesk.outbound import delivery
        from postdesk.outbound.models import OutboundMessage, OutboundStatus

        stored = list(
            OutboundMessage.objects.filter(pk__in=ids).prefetch_related("recipients").order_by("id")
        )
        plain = [
            (m.recipients.all()[0].return_path, m.recipients.all()[0].address, bytes(m.raw))
            for m in stored
        ]
        # Warm up both paths (imports, key parsing, first connections) outside the timing.
        baseline(port, plain[:5])
        base_seconds = baseline(port, plain)
        reuse_seconds = baseline_one_connection(port, plain)
        worker_seconds = run_worker(len(ids))
        sent = OutboundMessage.objects.filter(pk__in=ids, status=OutboundStatus.SENT).count()
        if sent != len(ids):
            raise SystemExit(f"only {sent} of {len(ids)} mails were sent")
        verify_sample(ids)
        relay = delivery.current_relay().name
    finally:
        sink.terminate()
        sink.wait(10)

    from django.db import connection

    base_rate = len(ids) / base_seconds
    reuse_rate = len(ids) / reuse_seconds
    worker_rate = len(ids) / worker_seconds
    print(f"database: {connection.vendor}; relay: {relay}; {len(ids)} messages, 1 recipient each")
    print(f"baseline  plain smtplib, unsigned, a connection per mail : {base_rate:8.1f} msgs/s")
    print(f"baseline  plain smtplib, unsigned, one connection        : {reuse_rate:8.1f} msgs/s")
    print(f"postdesk  worker, RSA-2048 signed, stored and recorded   : {worker_rate:8.1f} msgs/s")
    print(f"worker / per-mail baseline: {worker_rate / base_rate:.2f}; ", end="")
    print(f"worker / one-connection baseline: {worker_rate / reuse_rate:.2f}")
    verdict = "meets" if worker_rate >= TARGET else "MISSES"
    print(f"target {TARGET:.0f} msgs/s per worker: {verdict}")


if __name__ == "__main__":
    main()
