"""Property: whatever bytes arrive, the worker ends the mail as processed, suspended,
dropped or a recorded failure, and never stores a NUL (hypothesis, through spool and worker)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.tickets.models import Comment

from .conftest import spool_mail
from .hostile import HEAD

HEADER_NAMES = [
    "Subject",
    "From",
    "Reply-To",
    "Cc",
    "Content-Type",
    "Content-Transfer-Encoding",
    "References",
    "In-Reply-To",
    "Message-ID",
    "Received",
    "ARC-Seal",
]

header = st.tuples(st.sampled_from(HEADER_NAMES), st.binary(max_size=80)).map(
    lambda pair: pair[0].encode() + b": " + pair[1].replace(b"\n", b" ") + b"\r\n"
)
mails = st.one_of(
    st.binary(max_size=400),
    st.builds(
        lambda headers, body: HEAD + b"".join(headers) + b"\r\n" + body,
        st.lists(header, max_size=6),
        st.binary(max_size=400),
    ),
)


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=mails)
def test_any_bytes_end_processed_dropped_or_recorded_as_failed(raw, run_tasks):
    if not raw:
        return  # the transports never spool an empty mail
    message_id = spool_mail(raw)
    run_tasks()
    message = InboundMessage.objects.get(pk=message_id)
    assert not message.last_error, message.last_error
    assert message.attempts == 1
    if message.status == InboundStatus.FAILED:
        assert message.diagnostics["parse_error"]
    elif message.status == InboundStatus.PROCESSED:
        assert message.ticket_id is not None
    else:
        assert message.status in (InboundStatus.DROPPED, InboundStatus.SUSPENDED)
        assert message.diagnostics["verdict"]
    for comment in Comment.objects.filter(inbound=message):
        assert "\x00" not in comment.body + comment.html_body + comment.quoted_text
