"""The worker's side of the outbox: claim mail, sign it, hand it to the relay, record.

One task drains the outbox (``deliver``): its own mail and every other due one, in batches
of ``BATCH_SIZE``, each batch in three steps:

1. **claim** (one short transaction): lock the rows, skip finished ones and those another
   worker holds, count the attempt and set ``claimed_at``; collect the pending recipients.
2. **send** (no transaction, no lock held while talking to the network): DKIM-sign each
   mail's stored bytes with its domain's current keys, then one SMTP transaction per
   recipient, because each has its own VERP return path (``bounces+<id>-<tag>@<desk domain>``),
   all over one connection per batch.
3. **record** (one short transaction): each recipient's reply: 2xx ``sent``, 4xx or no reply
   ``deferred`` (tried again with backoff, ``failed`` after the last attempt), 5xx ``failed``.
   A mail is ``sent`` when nobody is pending any more and somebody got it, ``failed`` when
   nobody did; the exact signature that was prepended is stored beside the bytes.

Batching is what makes a worker fast: the per-mail cost is signing and SMTP, not a task and
four commits (``bench/outbound.py``).

Duplicates. A worker killed with ``kill -9`` after the relay accepted a mail but before step
3 committed leaves the mail claimed and its recipients pending; once ``CLAIM_LEASE`` has
passed, the next drain sends it once more. That is at most one duplicate per crash, the same
window SMTP itself has when a ``250`` is lost (RFC 1047), and it carries the same signed
Message-ID, so the receiving side can drop it. A live claim is respected, so two workers
never send the same mail at the same time.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from postdesk.jobs.retry import RetryPolicy
from postdesk.mail import dkim
from postdesk.outbound import dkim_keys
from postdesk.outbound.models import (
    OutboundMessage,
    OutboundRecipient,
    OutboundStatus,
    RecipientStatus,
)
from postdesk.outbound.relays import Relay, RelayUnavailable, Reply, relay_from_url

logger = logging.getLogger(__name__)

# Temporary failures are retried for about a day: 1, 2, 4 … minutes, then every two hours.
RETRY = RetryPolicy(max_attempts=16, base_delay=60.0, max_delay=7200.0)
CLAIM_LEASE = timedelta(seconds=120)
# Small batches: recording a batch's outcome holds the database (on SQLite, its one write
# lock) for the whole batch, and a batch of 50 kept smtpd's 250s waiting over 100 ms.
# Ten still shares one SMTP connection and measured faster (328 signed mails/s).
BATCH_SIZE = 10
# One task drains the outbox for this long, then hands over to a fresh task so a worker
# also gets to the other queues.
DRAIN_SECONDS = 20.0
NO_REPLY_CODE = 421  # what a lost connection counts as: RFC 5321's "service not available"

_relays: dict[str, Relay] = {}


def current_relay() -> Relay:
    """The relay ``POSTDESK_RELAY`` names (one instance per URL and process)."""
    url = settings.POSTDESK.relay
    relay = _relays.get(url)
    if relay is None:
        relay = _relays[url] = relay_from_url(url)
    return relay


@dataclass(frozen=True)
class Claim:
    message_id: int
    from_address: str
    raw: bytes
    smtputf8: bool
    recipients: tuple[tuple[int, str, str], ...]  # (row id, address, return path)


@dataclass(frozen=True)
class Outcome:
    """What one attempt ended with: ``status`` of the message and when it is tried next."""

    status: str
    retry_at: datetime | None = None


class BatchFailed(RuntimeError):
    """An attempt failed on our side; its claims were released for a later retry."""


def _due() -> Q:
    now = timezone.now()
    return (
        Q(status=OutboundStatus.QUEUED)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        & (Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_LEASE))
    )


def claim_batch(
    first_id: int | None, limit: int = BATCH_SIZE, exclude: Collection[int] = ()
) -> tuple[list[Claim], str]:
    """Step 1 for up to ``limit`` mails: ``first_id`` (the task's own mail, due or not) and
    other due mails nobody holds (but not ``exclude``: those this drain already tried). Returns the claims and, when ``first_id`` could not be
    claimed, why (``"claimed"``, ``"already-sent"``...)."""
    now = timezone.now()
    with transaction.atomic():
        first_reason = ""
        ids: list[int] = []
        if first_id is not None:
            first = OutboundMessage.objects.select_for_update().filter(pk=first_id).first()
            if first is None:
                first_reason = "missing"
            elif first.status != OutboundStatus.QUEUED:
                first_reason = f"already-{first.status}"
            elif first.claimed_at is not None and now - first.claimed_at < CLAIM_LEASE:
                first_reason = "claimed"
            else:
                ids.append(first.pk)
        if limit > len(ids):
            # skip_locked: workers draining at the same time take different mails (PostgreSQL).
            others = (
                OutboundMessage.objects.select_for_update(skip_locked=True)
                .filter(_due())
                .exclude(pk__in=[*ids, *exclude])
                .order_by("id")
                .values_list("pk", flat=True)[: limit - len(ids)]
            )
            ids.extend(others)
        if not ids:
            return [], first_reason or "nothing-pending"
        messages = {m.pk: m for m in OutboundMessage.objects.filter(pk__in=ids)}
        pending: dict[int, list[tuple[int, str, str]]] = {}
        for message_id, row_id, address, path in OutboundRecipient.objects.filter(
            message_id__in=ids, status__in=RecipientStatus.pending()
        ).values_list("message_id", "id", "address", "return_path"):
            pending.setdefault(message_id, []).append((row_id, address, path))
        # A mail that has used up its attempts and is still queued was claimed by workers
        # that died before recording (kill -9, or a mail that crashes the worker): give up.
        for message_id in ids:
            if message_id in pending and messages[message_id].attempts >= RETRY.max_attempts:
                _fail_pending(messages[message_id], "claimed by workers that never finished")
                del pending[message_id]
        claimed = [messages[i] for i in ids if i in pending]
        for message in claimed:
            message.attempts += 1
            message.claimed_at = now
        OutboundMessage.objects.filter(pk__in=[m.pk for m in claimed]).update(
            attempts=F("attempts") + 1, claimed_at=now
        )
    if first_id is not None and not first_reason and first_id not in pending:
        first_reason = "nothing-pending"
    return [
        Claim(
            message_id=m.pk,
            from_address=m.from_address,
            raw=bytes(m.raw),
            smtputf8=m.smtputf8,
            recipients=tuple(pending[m.pk]),
        )
        for m in claimed
    ], first_reason


def claim(outbound_id: int) -> Claim | str:
    """Step 1 for one mail only: its :class:`Claim`, or why there is nothing to send now."""
    claims, reason = claim_batch(outbound_id, limit=1)
    return claims[0] if claims else reason


def sign(from_address: str, raw: bytes, keys: list[dkim.SigningKey] | None = None) -> bytes:
    """The ``DKIM-Signature`` fields for mail From ``from_address`` (empty: unsigned)."""
    signing = keys if keys is not None else dkim_keys.signing_keys(_domain(from_address))
    if not signing:
        return b""
    signed = dkim.sign_message(raw, signing)
    return signed[: len(signed) - len(raw)]


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def send_batch(
    claims: list[Claim], relay: Relay
) -> tuple[dict[int, bytes], dict[int, dict[int, Reply]]]:
    """Step 2 for several mails over as few connections as possible. Returns each mail's
    signature and a reply for every pending recipient. A connection lost in the middle is
    opened again once for the rest; a relay that can't be reached answers for everybody."""
    keys_by_domain: dict[str, list[dkim.SigningKey]] = {}
    signatures: dict[int, bytes] = {}
    for claimed in claims:
        domain = _domain(claimed.from_address)
        if domain not in keys_by_domain:
            keys_by_domain[domain] = dkim_keys.signing_keys(domain)
        signatures[claimed.message_id] = sign(
            claimed.from_address, claimed.raw, keys_by_domain[domain]
        )
    replies: dict[int, dict[int, Reply]] = {c.message_id: {} for c in claims}
    todo = deque((c, row) for c in claims for row in c.recipients)
    reconnects = 1
    failure = Reply(NO_REPLY_CODE, "no reply")
    while todo:
        try:
            with relay.session() as session:
                while todo:
                    claimed, (row_id, address, return_path) = todo[0]
                    data = signatures[claimed.message_id] + claimed.raw
                    try:
                        answer = session.send(
                            return_path, [address], data, smtputf8=claimed.smtputf8
                        )
                    except RelayUnavailable as error:
                        # No final reply to this transaction: it counts as not accepted.
                        replies[claimed.message_id][row_id] = Reply(
                            NO_REPLY_CODE, f"no reply: {error}"
                        )
                        todo.popleft()
                        raise
                    replies[claimed.message_id][row_id] = answer[address]
                    todo.popleft()
        except RelayUnavailable as error:
            failure = Reply(NO_REPLY_CODE, f"no reply: {error}")
            if reconnects == 0:
                break
            reconnects -= 1
    for claimed, (row_id, _address, _path) in todo:
        replies[claimed.message_id][row_id] = failure
    return signatures, replies


def send(claimed: Claim, relay: Relay) -> tuple[bytes, dict[int, Reply]]:
    """Step 2 for one mail: the signature used and a reply for every pending recipient."""
    signatures, replies = send_batch([claimed], relay)
    return signatures[claimed.message_id], replies[claimed.message_id]


def _recipient_status(reply: Reply, last_attempt: bool) -> str:
    if reply.accepted:
        return RecipientStatus.SENT
    if reply.permanent or last_attempt:
        return RecipientStatus.FAILED
    return RecipientStatus.DEFERRED


_RECORDED_FIELDS = (
    "claimed_at",
    "relay",
    "last_error",
    "next_attempt_at",
    "status",
    "sent_at",
)


def _update_grouped[M: models.Model](
    model: type[M], objects: Sequence[M], fields: Sequence[str]
) -> None:
    """Save ``fields`` of ``objects`` with one UPDATE per distinct set of values.

    A batch's rows mostly end alike (``sent``, ``250 2.0.0 Ok``), so this is one or two
    statements, where ``bulk_update``'s CASE expression per field and row costs more to
    build and plan than the whole batch takes to send.
    """
    groups: dict[tuple[object, ...], list[int]] = {}
    for obj in objects:
        groups.setdefault(tuple(getattr(obj, f) for f in fields), []).append(obj.pk)
    for values, pks in groups.items():
        model._default_manager.filter(pk__in=pks).update(**dict(zip(fields, values, strict=True)))


def _update_signatures(signatures: dict[int, bytes]) -> None:
    # One statement per mail, sent as one batch (executemany): each signature is different.
    table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET dkim_signature = %s WHERE id = %s",  # noqa: S608 - our table
            [(sig.decode("ascii"), pk) for pk, sig in signatures.items()],
        )


def record_batch(
    claims: list[Claim],
    relay_name: str,
    signatures: dict[int, bytes],
    replies: dict[int, dict[int, Reply]],
) -> dict[int, Outcome]:
    """Step 3 for several mails in one transaction: store every reply, decide what next."""
    from postdesk.outbound.tasks import send_outbound

    now = timezone.now()
    ids = [c.message_id for c in claims]
    outcomes: dict[int, Outcome] = {}
    with transaction.atomic():
        messages = {
            m.pk: m
            for m in OutboundMessage.objects.select_for_update().filter(pk__in=ids).defer("raw")
        }
        rows_by_message: dict[int, list[OutboundRecipient]] = {}
        for row in OutboundRecipient.objects.filter(message_id__in=ids):
            rows_by_message.setdefault(row.message_id, []).append(row)
        changed: list[OutboundRecipient] = []
        for message_id in ids:
            message = messages[message_id]
            retry_at = RETRY.next_attempt_at(message.attempts, now)
            answered = replies.get(message_id, {})
            problems = []
            for row in rows_by_message.get(message_id, []):
                reply = answered.get(row.pk)
                if reply is None:
                    continue
                row.status = _recipient_status(reply, last_attempt=retry_at is None)
                row.reply_code = reply.code
                row.reply_text = reply.text[:2000]
                row.attempts += 1
                row.updated_at = now
                changed.append(row)
                if not reply.accepted:
                    problems.append(f"{row.address}: {reply}")
            statuses = [row.status for row in rows_by_message.get(message_id, [])]
            message.claimed_at = None
            message.relay = relay_name
            message.dkim_signature = signatures.get(message_id, b"").decode("ascii")
            message.last_error = "\n".join(problems)[:8000]
            if any(s in RecipientStatus.pending() for s in statuses):
                message.next_attempt_at = retry_at
                send_outbound.using(run_after=retry_at).enqueue(message.pk)
            else:
                delivered = any(
                    s in (RecipientStatus.SENT, RecipientStatus.BOUNCED) for s in statuses
                )
                message.status = OutboundStatus.SENT if delivered else OutboundStatus.FAILED
                message.next_attempt_at = None
                if delivered:
                    message.sent_at = now
            outcomes[message_id] = Outcome(message.status, message.next_attempt_at)
        _update_grouped(
            OutboundRecipient,
            changed,
            ("status", "reply_code", "reply_text", "attempts", "updated_at"),
        )
        _update_grouped(OutboundMessage, list(messages.values()), _RECORDED_FIELDS)
        _update_signatures(signatures)
    for message_id, outcome in outcomes.items():
        if outcome.status == OutboundStatus.FAILED:
            logger.warning("outbound %s failed: %s", message_id, messages[message_id].last_error)
    return outcomes


def record(claimed: Claim, relay_name: str, signature: bytes, replies: dict[int, Reply]) -> Outcome:
    """Step 3 for one mail."""
    return record_batch(
        [claimed], relay_name, {claimed.message_id: signature}, {claimed.message_id: replies}
    )[claimed.message_id]


def deliver(
    outbound_id: int | None = None, relay: Relay | None = None, *, batch_size: int = BATCH_SIZE
) -> str:
    """Send ``outbound_id`` and every other due mail, batch after batch, for up to
    ``DRAIN_SECONDS``; returns what became of ``outbound_id``.

    One task thus empties the outbox: a burst of mail costs one task, a few transactions per
    batch and one SMTP connection per batch instead of all of that per mail.
    """
    from postdesk.outbound.tasks import send_outbound

    relay = relay or current_relay()
    deadline = time.monotonic() + DRAIN_SECONDS
    first: int | None = outbound_id
    first_reason = ""
    first_outcome = ""
    tried: set[int] = set()
    while True:
        claims, reason = claim_batch(first, batch_size, exclude=tried)
        if first is not None:
            first_reason = reason
            if reason == "claimed" and outbound_id is not None:
                # Another worker holds it, or one died holding it: look again after the lease.
                send_outbound.using(run_after=timezone.now() + CLAIM_LEASE).enqueue(outbound_id)
        first = None
        if not claims:
            break
        tried.update(c.message_id for c in claims)
        try:
            signatures, replies = send_batch(claims, relay)
            outcomes = record_batch(claims, relay.name, signatures, replies)
        except Exception as error:
            for claimed in claims:
                release(claimed.message_id, "".join(traceback.format_exception(error)))
            raise BatchFailed(str(error)) from error
        if outbound_id in outcomes:
            first_outcome = outcomes[outbound_id].status
        if time.monotonic() > deadline:
            if OutboundMessage.objects.filter(_due()).exists():
                send_outbound.enqueue(outbound_id or 0)
            break
    return first_outcome or first_reason


def wake_if_due() -> bool:
    """Periodic job: make sure a task will send mail that is due (one stored while the last
    task was finishing, or released after a crash). True when a task was queued."""
    from django_tasks_db.models import DBTaskResult

    from postdesk.outbound.tasks import send_outbound

    if not OutboundMessage.objects.filter(_due()).exists():
        return False
    waiting = DBTaskResult.objects.filter(
        task_path=send_outbound.module_path, queue_name="outbound"
    )
    if waiting.ready().exists() or waiting.running().exists():
        return False
    send_outbound.enqueue(0)
    return True


def give_up(outbound_id: int, reason: str) -> None:
    """Mark a mail failed for every pending recipient (it keeps crashing the worker)."""
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().filter(pk=outbound_id).first()
        if message is None or message.status != OutboundStatus.QUEUED:
            return
        _fail_pending(message, reason)


def _fail_pending(message: OutboundMessage, reason: str) -> None:
    message.recipients.filter(status__in=RecipientStatus.pending()).update(
        status=RecipientStatus.FAILED, reply_text=reason[:2000]
    )
    delivered = message.recipients.filter(status=RecipientStatus.SENT).exists()
    message.status = OutboundStatus.SENT if delivered else OutboundStatus.FAILED
    message.last_error = reason
    message.claimed_at = None
    message.next_attempt_at = None
    message.save()


def release(outbound_id: int, error: str) -> None:
    """An attempt failed on our side (not the relay's): free the claim and try again later,
    or give up after the last attempt."""
    from postdesk.outbound.tasks import send_outbound

    now = timezone.now()
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().filter(pk=outbound_id).first()
        if message is None or message.status != OutboundStatus.QUEUED:
            return
        retry_at = RETRY.next_attempt_at(max(message.attempts, 1), now)
        if retry_at is None:
            _fail_pending(message, error[-8000:])
            return
        message.claimed_at = None
        message.last_error = error[-8000:]
        message.next_attempt_at = retry_at
        message.save(update_fields=["claimed_at", "last_error", "next_attempt_at"])
        send_outbound.using(run_after=retry_at).enqueue(outbound_id)
