"""``accept(raw, envelope)``: the one function every inbound transport ends in.

It stores the raw bytes and the envelope and enqueues their processing in a single
transaction. A transport may acknowledge the mail (SMTP ``250``, HTTP ``202``, exit 0) only
after ``accept`` has returned: from then on the mail survives any crash. Nothing is parsed
here; the SMTP process must stay fast and must never fail on content.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from postdesk.db.fast_insert import insert_rows
from postdesk.inbound import rows
from postdesk.jobs.bulk import enqueue_many
from postdesk.mail.envelope import Envelope
from postdesk.spool.models import InboundMessage, InboundStatus

logger = logging.getLogger(__name__)


class MessageTooLarge(ValueError):
    """The mail is larger than the configured limit (SMTP ``552 5.3.4``)."""


@dataclass(frozen=True)
class Accepted:
    message_id: int
    duplicate: bool


def accept(raw: bytes, envelope: Envelope, *, max_size: int | None = None) -> Accepted:
    """Make ``raw`` durable and queue it. Idempotent on the SHA-256 of the raw bytes: the
    same bytes delivered twice (an MTA retrying after a lost ``250``) give one row."""
    if max_size is not None and len(raw) > max_size:
        raise MessageTooLarge(f"{len(raw)} bytes is over the {max_size} byte limit")
    return accept_many([(raw, envelope)])[0]


def accept_many(mails: list[tuple[bytes, Envelope]]) -> list[Accepted]:
    """``accept`` for several mails in one transaction: one commit (one fsync) for all of
    them. The SMTP server gathers the mails of concurrent sessions this way (group commit).
    Either every mail of the batch is stored, or none is."""
    digests = [hashlib.sha256(raw).hexdigest() for raw, _ in mails]
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: a lost race must not end the batch
                results, created = _store_batch(mails, digests)
        except IntegrityError:
            # Another process stored some of the same bytes meanwhile (PostgreSQL); the
            # slow path settles each mail on its own.
            results, created = _store_one_by_one(mails, digests)
        _enqueue([result.message_id for result in created])
    # One line per transport and batch: under an SMTP burst a line per mail was a tenth of
    # smtpd's CPU. Each id is still on a line of its own batch, so grepping for one works.
    spooled: dict[str, tuple[list[str], int]] = {}
    for result, (raw, envelope) in zip(results, mails, strict=True):
        if not result.duplicate:
            ids, size = spooled.setdefault(envelope.transport, ([], 0))
            ids.append(str(result.message_id))
            spooled[envelope.transport] = (ids, size + len(raw))
    for transport, (ids, size) in spooled.items():
        logger.info("spooled inbound %s via %s (%d bytes)", ", ".join(ids), transport, size)
    return results


_COLUMNS = (
    "raw", "raw_sha256", "size", "transport", "peer_ip", "helo", "mail_from", "rcpt_tos",
    "tls", "envelope_extra", "received_at", "status", "attempts", "last_error", "diagnostics",
)  # fmt: skip


def _values(raw: bytes, digest: str, envelope: Envelope) -> dict[str, Any]:
    return {
        "raw": raw,
        "raw_sha256": digest,
        "size": len(raw),
        "transport": envelope.transport,
        "peer_ip": _text(envelope.peer_ip)[:64],
        "helo": _text(envelope.helo)[:255],
        "mail_from": _text(envelope.mail_from)[:998],
        "rcpt_tos": [_text(rcpt)[:998] for rcpt in envelope.rcpt_tos],
        "tls": envelope.tls,
        "envelope_extra": envelope.extra,
        "received_at": envelope.received_at,
        "status": InboundStatus.QUEUED,
        "attempts": 0,
        "last_error": "",
        "diagnostics": {},
    }


_KNOWN_DIGEST = rows.Prepared(
    InboundMessage,
    lambda digest: (
        InboundMessage.objects.filter(raw_sha256=digest).order_by().values_list("raw_sha256", "id")
    ),
    digest=str,
)


def _store_batch(
    mails: list[tuple[bytes, Envelope]], digests: list[str]
) -> tuple[list[Accepted], list[Accepted]]:
    if len(digests) == 1:  # the pipe and HTTP transports: a prepared query, not an ORM one
        known = dict(_KNOWN_DIGEST.rows(digest=digests[0]))
    else:
        known = dict(
            InboundMessage.objects.filter(raw_sha256__in=set(digests)).values_list(
                "raw_sha256", "id"
            )
        )
    new_rows: dict[str, dict[str, Any]] = {}
    for (raw, envelope), digest in zip(mails, digests, strict=True):
        if digest not in known and digest not in new_rows:
            new_rows[digest] = _values(raw, digest, envelope)
    ids = insert_rows(
        InboundMessage, _COLUMNS, [[row[c] for c in _COLUMNS] for row in new_rows.values()]
    )
    known.update(zip(new_rows, ids, strict=True))
    results: list[Accepted] = []
    created: list[Accepted] = []
    for digest in digests:
        first_time = digest in new_rows
        result = Accepted(known[digest], duplicate=not first_time)
        if first_time:
            created.append(result)
            del new_rows[digest]  # the same bytes twice in one batch: the second is a duplicate
        results.append(result)
    return results, created


def _store_one_by_one(
    mails: list[tuple[bytes, Envelope]], digests: list[str]
) -> tuple[list[Accepted], list[Accepted]]:
    results: list[Accepted] = []
    for (raw, envelope), digest in zip(mails, digests, strict=True):
        existing = InboundMessage.objects.filter(raw_sha256=digest).values_list("id", flat=True)
        message_id = next(iter(existing), None)
        if message_id is not None:
            results.append(Accepted(message_id, duplicate=True))
            continue
        try:
            with transaction.atomic():
                row = InboundMessage.objects.create(**_values(raw, digest, envelope))
            results.append(Accepted(row.pk, duplicate=False))
        except IntegrityError:
            message_id = InboundMessage.objects.values_list("id", flat=True).get(raw_sha256=digest)
            results.append(Accepted(message_id, duplicate=True))
    return results, [r for r in results if not r.duplicate]


def _enqueue(message_ids: list[int]) -> None:
    # The task rows commit with the mail (a transactional outbox): no mail without its
    # processing job, no job without its mail.
    from postdesk.spool.tasks import process_inbound, process_inbound_batch

    if len(message_ids) == 1:
        enqueue_many(process_inbound, [(message_ids[0],)])
    elif message_ids:
        # Mails stored together are processed together (fewer commits in the worker).
        enqueue_many(process_inbound_batch, [(list(message_ids),)])


def _text(value: str) -> str:
    """Envelope strings come from the network: PostgreSQL refuses NUL in text, and lone
    surrogates (undecodable bytes kept by the SMTP server) can't be encoded."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
