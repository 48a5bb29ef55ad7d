"""The ``outbox:`` relay: outbound mail stays on this machine, in the local outbox.

The default for a first run, before any relay is configured: Postdesk works end to end and
the admin reads every mail it would have sent (exact bytes, signature included) on the outbox
page. The mail row already holds those bytes, so accepting it is all this relay does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import ClassVar

from postdesk.outbound.relays import Relay, RelaySession, Reply

KEPT = Reply(250, "2.0.0 kept in the local outbox (POSTDESK_RELAY=outbox:)")


class _OutboxSession(RelaySession):
    def send(
        self, mail_from: str, recipients: Sequence[str], data: bytes, *, smtputf8: bool = False
    ) -> dict[str, Reply]:
        return dict.fromkeys(recipients, KEPT)


class OutboxRelay(Relay):
    scheme: ClassVar[str] = "outbox"

    @contextlib.contextmanager
    def session(self) -> Iterator[RelaySession]:
        yield _OutboxSession()
