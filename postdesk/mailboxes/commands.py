"""``postdesk mailbox add | list | poll``: the IMAP connector's command line (SPEC §4, F17).

Exit codes of ``add``: 0 with the new support address id alone on stdout; 1 when the server
can't be reached, TLS fails, the login is refused, the folder doesn't exist, or the address
is already read from a mailbox; 2 for bad arguments (argparse's own code). Nothing is saved
unless the connection was proved. The password or token file is read once, here; the desk
keeps the secret sealed in the database (``postdesk.mailboxes.sealed``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TLS_MODES = ("ssl", "starttls", "none")


def add_arguments(mailbox: argparse.ArgumentParser) -> None:
    """The ``mailbox`` subcommands; ``cli.py`` hands its ``mailbox`` parser here."""
    sub = mailbox.add_subparsers(dest="mailbox_command", required=True, metavar="ACTION")
    add = sub.add_parser(
        "add",
        help="connect an IMAP mailbox; prints the new support address id",
        description="Connect an IMAP mailbox: its new unread mail becomes tickets. Prints "
        "the id of its support address.",
    )
    add.set_defaults(mailbox_handler=cmd_add)
    add.add_argument("--host", required=True)
    add.add_argument("--port", type=int, help="default 993 with --tls ssl, else 143")
    add.add_argument("--tls", choices=TLS_MODES, default="ssl", help="default ssl")
    add.add_argument("--username", required=True)
    secret = add.add_mutually_exclusive_group(required=True)
    secret.add_argument("--password-file", metavar="F", help="file holding the password")
    secret.add_argument(
        "--oauth2-token-file", metavar="F", help="file holding an OAuth2 access token (XOAUTH2)"
    )
    add.add_argument("--folder", default="INBOX", help="default INBOX")
    add.add_argument(
        "--import-last",
        type=int,
        default=0,
        metavar="N",
        help="also import the latest N messages now (default 0: only mail arriving later)",
    )
    add.add_argument("--address", metavar="EMAIL", help="support address (default: username)")
    listing = sub.add_parser("list", help="connected mailboxes and how their polls went")
    listing.set_defaults(mailbox_handler=cmd_list)
    listing.add_argument("--json", action="store_true")
    poll = sub.add_parser("poll", help="poll the mailboxes now, once")
    poll.set_defaults(mailbox_handler=cmd_poll)
    poll.add_argument("ids", type=int, nargs="*", help="only these mailboxes")


def run(args: argparse.Namespace) -> int:
    return int(args.mailbox_handler(args))


def _usage_error(message: str) -> int:
    print(f"postdesk mailbox add: {message}", file=sys.stderr)
    return 2


def _read_secret(path: str) -> str | None:
    try:
        secret = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return None
    return secret or None


def cmd_add(args: argparse.Namespace) -> int:
    from postdesk.mailboxes.connect import ConnectError, Credentials
    from postdesk.mailboxes.models import SecretKind
    from postdesk.mailboxes.setup import SetupError, add_mailbox, address_for, server_for

    try:
        server = server_for(args.host, args.port, args.tls, args.username, args.folder)
    except SetupError as exc:
        return _usage_error(str(exc))
    if args.import_last < 0:
        return _usage_error("--import-last must be 0 or more")
    path = args.password_file or args.oauth2_token_file
    kind = SecretKind.PASSWORD if args.password_file else SecretKind.OAUTH2
    secret = _read_secret(path)
    if secret is None:
        return _usage_error(f"can't read a secret from {path} (missing, unreadable or empty)")
    try:
        email = address_for(args.username, args.address)
    except SetupError as exc:
        return _usage_error(str(exc))
    if args.tls == "none":
        print(
            "postdesk mailbox add: warning: --tls none sends the secret unencrypted",
            file=sys.stderr,
        )
    try:
        added = add_mailbox(
            server, Credentials(kind, secret), email=email, import_last=args.import_last
        )
    except (ConnectError, SetupError) as exc:
        print(f"postdesk mailbox add: {exc}; nothing was saved", file=sys.stderr)
        return 1
    if added.import_error:
        print(
            f"postdesk mailbox add: connected, but importing the latest {args.import_last} "
            f"messages failed: {added.import_error}",
            file=sys.stderr,
        )
    print(added.mailbox.address_id)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from postdesk.mailboxes.models import Mailbox

    rows = [
        {
            "id": m.pk,
            "address_id": m.address_id,
            "address": m.address.email,
            "server": f"{m.host}:{m.port} ({m.tls})",
            "username": m.username,
            "folder": m.folder,
            "enabled": m.enabled,
            "uidvalidity": m.uidvalidity,
            "last_uid": m.last_uid,
            "last_polled_at": m.last_polled_at.isoformat() if m.last_polled_at else None,
            "last_error": m.last_error,
        }
        for m in Mailbox.objects.select_related("address")
    ]
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        state = row["last_error"] or ("ok" if row["last_polled_at"] else "not polled yet")
        print(
            f"{row['id']}\t{row['address']}\t{row['username']}@{row['server']}/{row['folder']}"
            f"\tlast UID {row['last_uid']}\t{state}"
        )
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from postdesk.mailboxes.models import Mailbox
    from postdesk.mailboxes.poll import poll_mailbox

    mailboxes = Mailbox.objects.select_related("address").filter(enabled=True)
    if args.ids:
        mailboxes = mailboxes.filter(pk__in=args.ids)
    failed = False
    for mailbox in mailboxes:
        imported = poll_mailbox(mailbox)
        mailbox.refresh_from_db(fields=["last_error"])
        if mailbox.last_error:
            failed = True
            print(f"mailbox {mailbox.pk}: {mailbox.last_error}", file=sys.stderr)
        else:
            print(f"mailbox {mailbox.pk}: {imported} new mail(s)")
    return 1 if failed else 0
