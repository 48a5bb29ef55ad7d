"""Two Postdesk desks that acknowledge every new ticket, each relaying its mail into the
other's SMTP server (issue 6): a seed mail each way starts the exchange, and it must stop
after a bounded number of mails instead of the two robots answering each other forever.

Each desk's acknowledgement carries ``Auto-Submitted`` and the loop header, so the other desk
files it without acknowledging it: the bound is one seed and one acknowledgement each way.
"""

from __future__ import annotations

import json
import os
import smtplib
import time
from collections.abc import Iterator

import pytest

from tests.conftest import make_mail
from tests.processes.harness import Database, Desk, query, wait_for

pytestmark = pytest.mark.slow

# Seed + acknowledgement, in each direction.
MAILS_PER_DESK = 2
QUIET_SECONDS = 8


@pytest.fixture
def two_desks() -> Iterator[tuple[Desk, Desk]]:
    base = os.environ.get("POSTDESK_DATABASE_URL")
    with (
        Database(base) as db_a,
        Database(base) as db_b,
        Desk(db_a.url, domain="a.test") as desk_a,
        Desk(db_b.url, domain="b.test") as desk_b,
    ):
        desk_a.env["POSTDESK_RELAY"] = f"smtp://127.0.0.1:{desk_b.smtp_port}"
        desk_b.env["POSTDESK_RELAY"] = f"smtp://127.0.0.1:{desk_a.smtp_port}"
        for desk in (desk_a, desk_b):
            desk.migrate()
            desk.start_smtpd()
            desk.start("worker", "worker")
        yield desk_a, desk_b


def _seed(desk: Desk, sender: str, to: str) -> None:
    raw = make_mail(sender=f"Other desk <{sender}>", to=to, subject=f"Hello from {sender}")
    with smtplib.SMTP("127.0.0.1", desk.smtp_port, timeout=30) as client:
        client.sendmail(sender, [to], raw)


def _received(desk: Desk) -> int:
    return int(desk.status()["inbound"]["received"])


def _sent(desk: Desk) -> int:
    return int(desk.status()["outbound"]["sent"])


def test_two_desks_acknowledging_each_other_stop_after_a_bounded_exchange(two_desks):
    desk_a, desk_b = two_desks
    _seed(desk_a, "support@b.test", "support@a.test")
    _seed(desk_b, "support@a.test", "support@b.test")

    wait_for(
        lambda: _received(desk_a) >= MAILS_PER_DESK and _received(desk_b) >= MAILS_PER_DESK,
        90,
        "each desk's acknowledgement to reach the other",
        interval=0.5,
    )
    # Then nothing more may move, however long the desks keep running.
    deadline = time.monotonic() + QUIET_SECONDS
    while time.monotonic() < deadline:
        assert _received(desk_a) == MAILS_PER_DESK, desk_a.log("worker")
        assert _received(desk_b) == MAILS_PER_DESK, desk_b.log("worker")
        time.sleep(0.5)

    for desk in (desk_a, desk_b):
        status = desk.status()
        assert status["outbound"]["sent"] == 1  # the acknowledgement of the seed only
        assert status["inbound"]["processed"] == MAILS_PER_DESK
        assert status["comments"] == MAILS_PER_DESK
        # The acknowledgement may thread onto the seed's ticket (both are ticket #1 and the
        # subject marker names it, from the requester) or open one: never more.
        assert status["tickets"] in (1, 2)
        # The other desk's acknowledgement was filed without notifications.
        rows = query(desk, "SELECT diagnostics FROM spool_inboundmessage")
        diagnostics = [json.loads(row[0]) if isinstance(row[0], str) else row[0] for row in rows]
        notify = sorted(d["protection"]["notify"] for d in diagnostics)
        assert notify == [False, True]
