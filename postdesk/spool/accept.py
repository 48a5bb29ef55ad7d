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

from django.db import IntegrityError, transaction

from postdesk.mail.envelope import Envelope
from postdesk.spool.models import InboundMessage

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
    from postdesk.spool.tasks import process_inbound

    if max_size is not None and len(raw) > max_size:
        raise MessageTooLarge(f"{len(raw)} bytes is over the {max_size} byte limit")
    digest = hashlib.sha256(raw).hexdigest()
    try:
        with transaction.atomic():
            existing = InboundMessage.objects.filter(raw_sha256=digest).values_list("id", flat=True)
            for message_id in existing:
                return Accepted(message_id, duplicate=True)
            message = InboundMessage.objects.create(
                raw=raw,
                raw_sha256=digest,
                size=len(raw),
                transport=envelope.transport,
                peer_ip=envelope.peer_ip,
                helo=envelope.helo[:255],
                mail_from=envelope.mail_from[:998],
                rcpt_tos=list(envelope.rcpt_tos),
                tls=envelope.tls,
                envelope_extra=envelope.extra,
                received_at=envelope.received_at,
            )
            # The task row commits with the mail (a transactional outbox): no mail without
            # its processing job, no job without its mail.
            process_inbound.enqueue(message.pk)
    except IntegrityError:
        # Another process stored the same bytes between our check and our insert.
        message_id = InboundMessage.objects.values_list("id", flat=True).get(raw_sha256=digest)
        return Accepted(message_id, duplicate=True)
    logger.info("spooled inbound %s via %s (%d bytes)", message.pk, envelope.transport, len(raw))
    return Accepted(message.pk, duplicate=False)
