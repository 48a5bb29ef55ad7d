"""The ``postdesk`` command (SPEC §4): one entry point for every process and admin task.

``deliver`` is kept free of Django so an MTA can run it per mail cheaply; every other
subcommand sets Django up first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postdesk.settings")
    import django

    django.setup()


def cmd_migrate(args: argparse.Namespace) -> int:
    _django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=args.verbosity)
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    _django()
    import waitress
    from django.conf import settings

    from postdesk.wsgi import application

    listen = args.listen or str(settings.POSTDESK.http)
    waitress.serve(application, listen=listen, threads=args.threads, ident="Postdesk")
    return 0


def cmd_smtpd(args: argparse.Namespace) -> int:
    _django()
    import asyncio

    from django.conf import settings

    from postdesk.operations import smtpd_journal_path
    from postdesk.transports.smtp import Limits, serve

    # The event loop and the spool thread hand work back and forth; the default 5 ms GIL
    # switch interval would be added to a mail's 250 each time.
    sys.setswitchinterval(0.0005)
    cfg = settings.POSTDESK
    limits = Limits(max_message_size=cfg.max_message_size, desk_domain=cfg.mail_domain)
    asyncio.run(
        serve(
            host=cfg.smtp.host,
            port=cfg.smtp.port,
            lmtp_socket=args.lmtp,
            limits=limits,
            hostname=cfg.mail_domain,
            journal=smtpd_journal_path(),
        )
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    _django()
    from postdesk.jobs.worker import run_worker

    run_worker(interval=args.interval, batch=args.batch)
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    _django()
    from postdesk.jobs.scheduler import JOBS, Scheduler

    Scheduler(JOBS).run()
    return 0


def cmd_deliver(args: argparse.Namespace) -> int:
    from postdesk.transports.pipe import main

    return main(args.recipient, args.sender)


def cmd_createadmin(args: argparse.Namespace) -> int:
    _django()
    from postdesk.operations import AdminError, create_admin

    try:
        user = create_admin(args.email, args.password, args.api_token, name=args.name)
    except AdminError as exc:
        print(f"postdesk createadmin: {exc}", file=sys.stderr)
        return 2
    print(f"admin {user.email} ready")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _django()
    from postdesk.operations import format_status, status

    report = status()
    print(
        json.dumps(report, indent=None if args.json else 2) if args.json else format_status(report)
    )
    return 0


def cmd_reprocess(args: argparse.Namespace) -> int:
    _django()
    from postdesk.spool.tasks import reprocess

    missing = [message_id for message_id in args.ids if not reprocess(message_id)]
    for message_id in missing:
        print(f"inbound {message_id}: not found or already finished", file=sys.stderr)
    return 1 if missing else 0


def cmd_inbound(args: argparse.Namespace) -> int:
    _django()
    from postdesk.spool import report
    from postdesk.spool.models import InboundMessage

    if args.id is not None:
        message = InboundMessage.objects.filter(pk=args.id).first()
        if message is None:
            print(f"postdesk: no inbound mail {args.id}", file=sys.stderr)
            return 1
        found = report.record(message)
        print(json.dumps(found, indent=2) if args.json else report.format_record(found))
        return 0
    try:
        lines = [report.summary(m) for m in report.recent(args.status, args.limit)]
    except report.ReportError as error:
        print(f"postdesk: {error}", file=sys.stderr)
        return 2
    print(json.dumps(lines) if args.json else report.format_summaries(lines))
    return 0


def cmd_mailbox(args: argparse.Namespace) -> int:
    _django()
    from postdesk.mailboxes.commands import run

    return run(args)


def cmd_check_dns(args: argparse.Namespace) -> int:
    from postdesk.dns.names import InvalidDomain, normalise_domain

    try:
        domain = normalise_domain(args.domain)
    except InvalidDomain as error:
        print(f"postdesk: {args.domain!r}: {error}", file=sys.stderr)
        return 2
    _django()
    from postdesk.dns.report import all_verified, apply_report, check_domain, format_report

    report = check_domain(domain)
    if args.update:
        apply_report(report)
    print(json.dumps(report, ensure_ascii=False) if args.json else format_report(report))
    # The statuses are the answer, also for a domain that fails its checks: exit 0 whenever
    # the check ran and printed its report (scripts that read --json need no special case);
    # --strict makes anything short of all verified exit 1, for monitoring.
    return 1 if args.strict and not all_verified(report) else 0


def cmd_run(args: argparse.Namespace) -> int:
    from postdesk.supervisor import run_all

    return run_all(workers=args.workers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postdesk", description="Postdesk help desk email channel"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        return command

    run = add("run", cmd_run, "migrate, then web, SMTP, worker and scheduler as one process group")
    run.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    migrate = add("migrate", cmd_migrate, "create or upgrade the database")
    migrate.add_argument("-v", "--verbosity", type=int, default=1)
    web = add("web", cmd_web, "serve the web UI, the API and /inbound/mime")
    web.add_argument("--listen", help="host:port (default POSTDESK_HTTP)")
    web.add_argument("--threads", type=int, default=8)
    smtpd = add("smtpd", cmd_smtpd, "receive mail over SMTP (and LMTP)")
    smtpd.add_argument("--lmtp", metavar="SOCKET", help="also serve LMTP on this unix socket")
    worker = add("worker", cmd_worker, "process queued mail and other background tasks")
    worker.add_argument("--interval", type=float, default=0.2, help="idle poll interval, seconds")
    worker.add_argument("--batch", action="store_true", help="exit when the queue is empty")
    add("scheduler", cmd_scheduler, "run periodic jobs (one active scheduler at a time)")
    deliver = add("deliver", cmd_deliver, "deliver one mail from standard input (for MTA pipes)")
    deliver.add_argument("--recipient", help="envelope recipient (default $ORIGINAL_RECIPIENT)")
    deliver.add_argument("--sender", help="envelope sender (default $SENDER)")
    admin = add("createadmin", cmd_createadmin, "create an admin, or update one's password")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.add_argument("--api-token", help="also register this API token for the admin")
    admin.add_argument("--name", default="")
    status = add("status", cmd_status, "counts of mail, tickets and outbound mail")
    status.add_argument("--json", action="store_true")
    inbound = add("inbound", cmd_inbound, "recent inbound mail, or one mail's processing record")
    inbound.add_argument("id", type=int, nargs="?", help="show this mail's processing record")
    inbound.add_argument("--status", help="only mail in this state (e.g. failed)")
    inbound.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    inbound.add_argument("--json", action="store_true")
    check_dns = add(
        "check-dns", cmd_check_dns, "check a sending domain's SPF, DKIM and DMARC records live"
    )
    check_dns.add_argument("domain", metavar="DOMAIN")
    check_dns.add_argument("--json", action="store_true", help="print the SPEC §4 JSON object")
    check_dns.add_argument(
        "--strict", action="store_true", help="exit 1 unless SPF, DKIM and DMARC all verify"
    )
    check_dns.add_argument(
        "--update",
        action="store_true",
        help="also store the results: DKIM signing and the addresses' statuses follow the DNS",
    )
    reprocess = add("reprocess", cmd_reprocess, "queue failed inbound mail again")
    reprocess.add_argument("ids", type=int, nargs="+")
    mailbox = add("mailbox", cmd_mailbox, "connect and poll IMAP mailboxes (F17)")
    from postdesk.mailboxes.commands import add_arguments as mailbox_arguments

    mailbox_arguments(mailbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from postdesk.config import ConfigError

        if isinstance(exc, ConfigError):
            print(f"postdesk: configuration error: {exc}", file=sys.stderr)
            return 78  # EX_CONFIG
        raise


if __name__ == "__main__":
    sys.exit(main())
