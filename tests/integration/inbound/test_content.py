"""What a mail's content becomes on the comment: new part and quoted history, the inert
original HTML, ``cid:`` images linked to their parts, and the processing record."""

from __future__ import annotations

import pytest

from postdesk.inbound.content import inline_html
from postdesk.spool.models import InboundStatus
from postdesk.tickets import blobs
from postdesk.tickets.models import Attachment, Comment, Ticket

pytestmark = pytest.mark.django_db

REPLY = (
    "Thanks, that fixed it.\r\n"
    "\r\n"
    "On Thu, 26 Nov 2026 at 09:00, Support <support@desk.test> wrote:\r\n"
    "> Please restart the printer.\r\n"
    "> It should stop burning.\r\n"
)

HTML_WITH_IMAGE = (
    b"From: Ada <ada@example.com>\r\nTo: support@desk.test\r\nSubject: screenshot\r\n"
    b"Message-ID: <html-cid@example.com>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/related; boundary="rel"\r\n\r\n'
    b"--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b'<p onclick="steal()">See <img src="cid:shot@ada"> and <b>this</b></p>'
    b"<script>alert(1)</script>\r\n"
    b"--rel\r\nContent-Type: image/png\r\nContent-ID: <shot@ada>\r\n"
    b'Content-Disposition: attachment; filename="shot.png"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
    b"--rel\r\nContent-Type: image/png\r\nContent-ID: <unused@ada>\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
    b"--rel--\r\n"
)


def test_the_new_part_is_the_body_and_the_quoted_history_is_kept_apart(mail, deliver):
    deliver(mail(body=REPLY))
    comment = Comment.objects.get()
    assert comment.body == "Thanks, that fixed it."
    assert comment.quoted_text.startswith("On Thu, 26 Nov 2026 at 09:00, Support")
    assert "> It should stop burning." in comment.quoted_text


def test_a_bare_forward_keeps_all_its_text_as_the_body(mail, deliver):
    body = "---------- Forwarded message ---------\r\nFrom: Bob <bob@example.com>\r\n\r\nHelp!\r\n"
    deliver(mail(body=body))
    comment = Comment.objects.get()
    assert "Help!" in comment.body
    assert comment.quoted_text == ""


def test_the_html_is_sanitized_and_the_original_kept_as_an_inert_attachment(deliver):
    deliver(HTML_WITH_IMAGE)
    comment = Comment.objects.get()
    assert "<script" not in comment.html_body and "onclick" not in comment.html_body
    original = Attachment.objects.get(filename="original.html")
    assert original.content_type.startswith("text/plain")  # never rendered as a page
    assert not original.inline
    assert b"<script>alert(1)</script>" in blobs.read(original.sha256)


def test_cid_images_are_linked_to_their_attachments(deliver):
    message = deliver(HTML_WITH_IMAGE)
    comment = Comment.objects.get()
    shot = Attachment.objects.get(filename="shot.png")
    # Marked attachment by its sender, but the HTML shows it: it is an inline image.
    assert shot.inline and shot.content_id == "shot@ada"
    unused = comment.attachments.get(content_id="unused@ada")
    assert not unused.inline  # shown nowhere in the body: listed as an attachment
    assert message.diagnostics["cid_images"] == {"linked": 1, "missing": []}
    shown = inline_html(comment.html_body, {a.content_id: f"/a/{a.pk}" for a in [shot]})
    assert f'src="/a/{shot.pk}"' in shown and "cid:" not in shown


def test_a_missing_cid_image_is_recorded(deliver):
    raw = HTML_WITH_IMAGE.replace(b'src="cid:shot@ada"', b'src="cid:gone%40ada"')
    message = deliver(raw)
    assert message.diagnostics["cid_images"] == {"linked": 0, "missing": ["gone@ada"]}


def test_the_processing_record_says_how_the_mail_was_handled(mail, deliver):
    message = deliver(mail(message_id="<record@example.com>"))
    record = message.diagnostics
    assert record["transport"] == "smtp"
    assert record["envelope"]["rcpt_tos"] == ["support@desk.test"]
    assert record["envelope"]["mail_from"] == "ada@example.com"
    assert record["envelope"]["peer_ip"] == "192.0.2.7"
    assert record["matched_via"] == "To"
    assert record["received_at"] == "support@desk.test"
    assert record["requester_rule"] == "from"
    assert record["threading"] == "new-ticket"
    assert record["verdict"] == "accept"
    assert record["message_id"] == "record@example.com"
    assert record["ticket_created"] is True
    assert record["ticket_id"] == Ticket.objects.get().pk
    assert record["forwarding"]["hops"] == 0
    for step in ("parse", "received_at", "requester", "threading", "store", "total"):
        assert record["timings_ms"][step] >= 0


def test_a_mail_that_is_no_mail_is_a_visible_failure_with_its_reason(deliver):
    message = deliver(b"\r\n\r\n   \r\n")
    assert message.status == InboundStatus.FAILED
    assert message.diagnostics["parse_error"] == "empty input"
    assert message.diagnostics["transport"] == "smtp"
    assert bytes(message.raw) == b"\r\n\r\n   \r\n"  # kept for reprocessing
