"""Import a mailbox's new unread mail into the spool (SPEC F17).

A poll selects the folder read-only and fetches with ``BODY.PEEK[]``, so mail stays on the
server and stays unread. It asks for messages that are UNSEEN and have a UID above
``last_uid``; each is handed to ``spool.accept`` (transport ``imap``) and ``last_uid`` moves
past it in the same transaction, so a crash between the two can't lose or skip a mail (and
``accept`` is idempotent on the raw bytes, so a repeat costs nothing). A message the server
lists but won't hand over stops the poll before it (``last_uid`` stays, the next poll asks
again); one over ``POSTDESK_MAX_MESSAGE_SIZE`` (by its ``RFC822.SIZE``, checked before the
body is fetched) is skipped with a warning, as SMTP would refuse it, and stays on the server.

When the server's ``UIDVALIDITY`` changes (the folder was recreated or rebuilt), the old UIDs
mean nothing any more: the poll starts over from the folder's highest UID instead of
importing the whole folder again, and logs it. A failed poll records ``last_error`` and is
tried again at the next poll; it never raises into the scheduler or the worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from imapclient import IMAPClient

from postdesk.jobs import leases
from postdesk.mail.envelope import Envelope, Transport
from postdesk.mailboxes import sealed
from postdesk.mailboxes.connect import (
    ConnectError,
    Credentials,
    Server,
    select,
    session,
    uidvalidity_of,
)
from postdesk.mailboxes.models import Mailbox, TlsMode
from postdesk.spool.accept import accept

logger = logging.getLogger(__name__)

# Messages fetched per FETCH command: bounds memory when many large mails wait.
FETCH_BATCH = 20
# A poll holds its mailbox's lease this long at most, so two workers never read one mailbox
# at once and a dead worker's lease runs out before long.
LEASE_TTL = 600.0


def lease_name(mailbox_pk: int) -> str:
    return f"mailbox-poll-{mailbox_pk}"


def server_of(mailbox: Mailbox) -> Server:
    return Server(
        host=mailbox.host,
        port=mailbox.port,
        tls=mailbox.tls,
        username=mailbox.username,
        folder=mailbox.folder,
    )


def credentials_of(mailbox: Mailbox) -> Credentials:
    """The mailbox's secret, unsealed; a ``ConnectError`` (reason ``secret``) when it no
    longer opens, so every poll says so plainly instead of logging a traceback."""
    try:
        secret = sealed.unseal(
            mailbox.secret_sealed,
            host=mailbox.host,
            username=mailbox.username,
            kind=mailbox.secret_kind,
        )
    except (InvalidTag, ValueError) as exc:  # ValueError: a blob too short to hold a nonce
        raise ConnectError(
            "secret",
            "the stored password or token can't be decrypted (POSTDESK_SECRET_KEY changed "
            "since the mailbox was connected?): remove the mailbox and connect it again",
        ) from exc
    return Credentials(kind=mailbox.secret_kind, secret=secret)


def highest_uid(client: IMAPClient, status: dict[bytes, object]) -> int:
    """The UID below which everything in the selected folder already exists."""
    uidnext = status.get(b"UIDNEXT")
    if isinstance(uidnext, int) and uidnext > 0:
        return uidnext - 1
    return max(client.search(["ALL"]), default=0)


def import_uids(client: IMAPClient, mailbox: Mailbox, uidvalidity: int, uids: Iterable[int]) -> int:
    """Fetch ``uids`` (ascending) without marking them read and spool each; returns how
    many were new to the spool."""
    imported = 0
    pending = sorted(uids)
    peer_ip = _peer_ip(client)
    max_size = settings.POSTDESK.max_message_size
    for start in range(0, len(pending), FETCH_BATCH):
        batch = pending[start : start + FETCH_BATCH]
        too_large = _too_large(client, batch, max_size)
        wanted = [uid for uid in batch if uid not in too_large]
        fetched = client.fetch(wanted, ["BODY.PEEK[]"]) if wanted else {}
        for uid in batch:
            raw = fetched.get(uid, {}).get(b"BODY[]")
            if isinstance(raw, bytes) and len(raw) > max_size:
                too_large[uid] = len(raw)  # the server understated its size
            if uid in too_large:
                # Refused as SMTP would refuse it; it stays on the server, unread.
                logger.warning(
                    "mailbox %s: UID %s is %d bytes, over the %d byte limit: not imported",
                    mailbox.pk, uid, too_large[uid], max_size,
                )  # fmt: skip
            elif not isinstance(raw, bytes):
                if _still_there(client, uid):
                    # The server answered FETCH without the message: last_uid stays before
                    # it and the next poll asks again.
                    raise ConnectError(
                        "protocol",
                        f"{mailbox.host} sent no message for UID {uid} of {mailbox.folder}",
                    )
                # Expunged between SEARCH and FETCH: nothing to import.
                logger.info("mailbox %s: UID %s vanished before fetch", mailbox.pk, uid)
            with transaction.atomic():
                if isinstance(raw, bytes) and uid not in too_large:
                    imported += 0 if _spool(mailbox, uidvalidity, uid, raw, peer_ip) else 1
                # last_uid moves in the spool row's own transaction: both or neither.
                Mailbox.objects.filter(
                    pk=mailbox.pk, uidvalidity=uidvalidity, last_uid__lt=uid
                ).update(last_uid=uid)
    return imported


def _too_large(client: IMAPClient, uids: list[int], max_size: int) -> dict[int, int]:
    """The UIDs whose announced size is over ``max_size``, with that size: they are never
    fetched, so one huge message can't take the worker's memory."""
    sizes = client.fetch(uids, ["RFC822.SIZE"])
    found = {}
    for uid in uids:
        size = sizes.get(uid, {}).get(b"RFC822.SIZE")
        if isinstance(size, int) and size > max_size:
            found[uid] = size
    return found


def _still_there(client: IMAPClient, uid: int) -> bool:
    return uid in client.search(["UID", str(uid)])


def _peer_ip(client: IMAPClient) -> str:
    try:
        return str(client.socket().getpeername()[0])
    except (OSError, AttributeError, IndexError):
        return ""


def _spool(mailbox: Mailbox, uidvalidity: int, uid: int, raw: bytes, peer_ip: str) -> bool:
    """Accept one mail; True when the spool already had these exact bytes."""
    envelope = Envelope(
        transport=Transport.IMAP,
        # The received-at step finds the connected address here even when the mail names
        # it nowhere in its headers (Bcc, a list).
        rcpt_tos=(mailbox.address.email,),
        peer_ip=peer_ip,
        tls=mailbox.tls != TlsMode.NONE,
        extra={
            "mailbox": mailbox.pk,
            "host": mailbox.host,
            "folder": mailbox.folder,
            "uidvalidity": uidvalidity,
            "uid": uid,
        },
    )
    return accept(raw, envelope).duplicate


def poll_mailbox(mailbox: Mailbox) -> int:
    """One poll of one mailbox; returns how many mails were spooled. Never raises: a failure
    is logged and kept in ``last_error`` until a poll succeeds."""
    # Per thread: an IDLE watcher, a worker and a "Check now" request may share a process,
    # and a holder may re-take its own lease, so a per-process holder would let two polls
    # of one mailbox run at once (and the first to finish release the other's lease).
    holder = f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"
    lease = lease_name(mailbox.pk)
    if not leases.acquire(lease, holder, LEASE_TTL):
        return 0  # another worker is reading this mailbox right now
    try:
        imported = _poll(mailbox)
    except ConnectError as exc:
        _record_error(mailbox, str(exc))
        logger.warning("mailbox %s: poll failed: %s", mailbox.pk, exc)
        return 0
    except Exception as exc:
        _record_error(mailbox, f"{type(exc).__name__}: {exc}")
        logger.exception("mailbox %s: poll failed", mailbox.pk)
        return 0
    finally:
        leases.release(lease, holder)
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_polled_at=timezone.now(), last_error="", updated_at=timezone.now()
    )
    if imported:
        logger.info("mailbox %s: imported %d mail(s)", mailbox.pk, imported)
    return imported


def _record_error(mailbox: Mailbox, error: str) -> None:
    now = timezone.now()
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_polled_at=now, last_error=error[:4000], updated_at=now
    )


def _poll(mailbox: Mailbox) -> int:
    server = server_of(mailbox)
    with session(server, credentials_of(mailbox)) as client:
        status = select(client, server)
        uidvalidity = uidvalidity_of(server, status)
        mailbox.refresh_from_db(fields=["uidvalidity", "last_uid"])
        if mailbox.uidvalidity != uidvalidity:
            highest = highest_uid(client, status)
            if mailbox.uidvalidity is not None:
                logger.warning(
                    "mailbox %s: UIDVALIDITY of %s changed from %s to %s; starting over "
                    "after UID %s without importing the folder again",
                    mailbox.pk, server.folder, mailbox.uidvalidity, uidvalidity, highest,
                )  # fmt: skip
            Mailbox.objects.filter(pk=mailbox.pk).update(uidvalidity=uidvalidity, last_uid=highest)
            return 0
        last = mailbox.last_uid
        # "n:*" always matches the highest UID even when it is below n (RFC 3501 6.4.8).
        found = client.search(["UID", f"{last + 1}:*", "UNSEEN"])
        return import_uids(client, mailbox, uidvalidity, [u for u in found if u > last])


def poll_all() -> int:
    """Poll every enabled mailbox once; returns how many mails were spooled."""
    total = 0
    for mailbox in Mailbox.objects.filter(enabled=True).select_related("address"):
        total += poll_mailbox(mailbox)
    return total
