"""Admin Center → Channels → Email → Recent mail: the list, one mail's record, Process again."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_tasks_db.models import DBTaskResult

from postdesk.mail.envelope import Envelope
from postdesk.spool.accept import accept
from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.tickets.models import Ticket, User
from tests.integration.conftest import make_user

pytestmark = pytest.mark.django_db

LIST = "/admin/channels/email/inbound/"


def detail(message_id: int) -> str:
    return f"/admin/channels/email/inbound/{message_id}/"


def spool(raw: bytes, mail_from: str = "ada@example.com") -> int:
    envelope = Envelope(
        transport="smtp",
        rcpt_tos=("support@desk.test",),
        mail_from=mail_from,
        peer_ip="198.51.100.7",
        helo="mx.example.com",
    )
    return accept(raw, envelope).message_id


def failed_mail(mail, run_tasks) -> int:  # type: ignore[no-untyped-def]
    """A mail whose task three workers claimed and died under: failed for good."""
    message_id = spool(mail(subject="Kills workers"))
    task = DBTaskResult.objects.get(status="READY")
    task.worker_ids = ["w1", "w2", "w3"]
    task.save(update_fields=["worker_ids"])
    run_tasks()
    assert InboundMessage.objects.get(pk=message_id).status == InboundStatus.FAILED
    return message_id


def row(page: str, message_id: int) -> str:
    match = re.search(rf'<tr id="inbound-{message_id}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {message_id}"
    return match.group(1)


def test_login_required_and_agents_refused(client: Client, agent: User, mail) -> None:  # type: ignore[no-untyped-def]
    message_id = spool(mail())
    for url in (LIST, detail(message_id)):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(agent)
    assert client.get(LIST).status_code == 403
    assert client.get(detail(message_id)).status_code == 403
    assert client.post(detail(message_id)).status_code == 403


def test_nav_links_to_recent_mail(admin_client: Client) -> None:
    page = admin_client.get("/admin/channels/email/").content.decode()
    assert f'href="{LIST}"' in page and "Recent mail" in page
    listing = admin_client.get(LIST).content.decode()
    assert f'href="{LIST}" aria-current="page"' in listing
    assert "No inbound mail." in listing


def test_list_shows_processed_dropped_suspended_and_failed_mail(
    admin_client: Client, mail, run_tasks
) -> None:  # type: ignore[no-untyped-def]
    processed = spool(mail(subject="Printer on fire"))
    run_tasks()
    dropped = spool(
        mail(sender="MAILER-DAEMON@example.com", subject="Undelivered Mail Returned to Sender")
    )
    suspended = spool(mail(sender="nobody", subject="Who am I"), mail_from="")
    run_tasks()
    failed = failed_mail(mail, run_tasks)
    ticket = Ticket.objects.get()

    response = admin_client.get(LIST)
    assert response.status_code == 200
    page = response.content.decode()
    first = row(page, processed)
    assert '<span class="badge inbound-processed">Processed</span>' in first
    assert f'href="/tickets/{ticket.pk}/"' in first
    assert f'href="{detail(processed)}"' in first
    assert "Printer on fire" in first and "support@desk.test" in first
    assert "matched via To" in first
    bounce = row(page, dropped)
    assert '<span class="badge inbound-dropped">Dropped</span>' in bounce
    assert "<td>bounce</td>" in bounce and "/tickets/" not in bounce
    assert '<span class="badge inbound-suspended">Suspended</span>' in row(page, suspended)
    stopped = row(page, failed)
    assert '<span class="badge inbound-failed">Failed</span>' in stopped
    assert "processing stopped the worker" in stopped
    # Newest first.
    assert page.index(f"inbound-{failed}") < page.index(f"inbound-{processed}")


def test_filter_by_status(admin_client: Client, mail, run_tasks) -> None:  # type: ignore[no-untyped-def]
    processed = spool(mail(subject="Fine"))
    run_tasks()
    dropped = spool(mail(sender="MAILER-DAEMON@example.com", subject="Delivery failure"))
    run_tasks()
    failed = failed_mail(mail, run_tasks)
    queued = spool(mail(subject="Not yet"))

    page = admin_client.get(LIST, {"status": "failed"}).content.decode()
    assert f"inbound-{failed}" in page
    assert f"inbound-{processed}" not in page and f"inbound-{dropped}" not in page
    assert '?status=failed" aria-current="page"' in page

    page = admin_client.get(LIST, {"status": "dropped"}).content.decode()
    assert f"inbound-{dropped}" in page and f"inbound-{failed}" not in page

    page = admin_client.get(LIST, {"status": "waiting"}).content.decode()
    assert f"inbound-{queued}" in page
    assert f"inbound-{processed}" not in page and f"inbound-{failed}" not in page

    page = admin_client.get(LIST).content.decode()
    for message_id in (processed, dropped, failed, queued):
        assert f"inbound-{message_id}" in page


def test_an_unknown_status_is_a_400_with_a_notice(admin_client: Client, mail) -> None:  # type: ignore[no-untyped-def]
    message_id = spool(mail())
    response = admin_client.get(LIST, {"status": "<b>lost</b>"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="unknown-status"' in page
    assert "&lt;b&gt;lost&lt;/b&gt;" in page and "<b>lost</b>" not in page
    assert f"inbound-{message_id}" not in page  # not silently shown as "all"


def test_detail_shows_the_processing_record(admin_client: Client, mail, run_tasks) -> None:  # type: ignore[no-untyped-def]
    message_id = spool(mail(subject="Printer on fire", message_id="<fire-1@example.com>"))
    run_tasks()
    message = InboundMessage.objects.get(pk=message_id)
    ticket = Ticket.objects.get()
    response = admin_client.get(detail(message_id))
    assert response.status_code == 200
    page = response.content.decode()
    assert '<span class="badge inbound-processed" id="inbound-status">Processed</span>' in page
    assert "SMTP" in page and "198.51.100.7 (HELO mx.example.com)" in page
    assert "&lt;ada@example.com&gt;" in page
    assert "&lt;fire-1@example.com&gt;" in page
    received_at = re.search(r'id="inbound-received-at">(.*?)</dd>', page, re.S).group(1)  # type: ignore[union-attr]
    assert "support@desk.test" in received_at and "matched via To" in received_at
    requester = re.search(r'id="inbound-requester">(.*?)</dd>', page, re.S).group(1)  # type: ignore[union-attr]
    assert "ada@example.com" in requester and "(from)" in requester
    threading = re.search(r'id="inbound-threading">(.*?)</dd>', page, re.S).group(1)  # type: ignore[union-attr]
    assert threading == message.diagnostics["threading"] == "new-ticket"
    verdict = re.search(r'id="inbound-verdict">(.*?)</dd>', page, re.S).group(1)  # type: ignore[union-attr]
    assert message.diagnostics["verdict"] in verdict
    timings = re.search(r'id="inbound-timings">(.*?)</dd>', page, re.S).group(1)  # type: ignore[union-attr]
    assert message.diagnostics["timings_ms"]
    for step in message.diagnostics["timings_ms"]:
        assert f"{step} " in timings
    assert f'href="/tickets/{ticket.pk}/"' in page
    assert "All details" in page and "&quot;matched_via&quot;: &quot;To&quot;" in page
    # Finished mail is not processed again: no button.
    assert 'id="process-again"' not in page
    assert admin_client.get(detail(message_id + 1000)).status_code == 404


def test_detail_of_a_dropped_bounce_shows_the_rule(admin_client: Client, mail, run_tasks) -> None:  # type: ignore[no-untyped-def]
    message_id = spool(
        mail(sender="MAILER-DAEMON@example.com", subject="Undelivered Mail Returned to Sender")
    )
    run_tasks()
    page = admin_client.get(detail(message_id)).content.decode()
    assert '<span class="badge inbound-dropped" id="inbound-status">Dropped</span>' in page
    verdict = re.search(r'id="inbound-verdict">(.*?)</dd>', page, re.S).group(1)  # type: ignore[union-attr]
    assert verdict.startswith("bounce") and "bounce: delivery status notification" in verdict
    assert 'id="process-again"' not in page


def test_html_in_subject_and_from_is_escaped(admin_client: Client, mail, run_tasks) -> None:  # type: ignore[no-untyped-def]
    message_id = spool(
        mail(
            sender='"<img src=x onerror=alert(2)>" <eve@example.com>',
            subject="<script>alert(1)</script>",
        )
    )
    run_tasks()
    for url in (LIST, detail(message_id)):
        page = admin_client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<img src=x" not in page
        assert "&lt;img src=x onerror=alert(2)&gt;" in page


def test_process_again_requeues_a_failed_mail(admin_client: Client, mail, run_tasks) -> None:  # type: ignore[no-untyped-def]
    message_id = failed_mail(mail, run_tasks)
    page = admin_client.get(detail(message_id)).content.decode()
    assert 'id="process-again"' in page and "Process again" in page
    assert "processing stopped the worker 3 times" in page

    response = admin_client.post(detail(message_id), follow=True)
    assert response.redirect_chain == [(detail(message_id), 302)]
    page = response.content.decode()
    assert "The mail is queued to be processed again." in page
    assert '<span class="badge inbound-queued" id="inbound-status">Queued</span>' in page
    assert 'id="process-again"' not in page

    run_tasks()
    message = InboundMessage.objects.get(pk=message_id)
    assert message.status == InboundStatus.PROCESSED
    assert message.ticket is not None

    # Pressing it again on a finished mail (a second tab) changes nothing.
    response = admin_client.post(detail(message_id), follow=True)
    assert "Only mail that failed or waits for a retry can be processed again." in (
        response.content.decode()
    )
    assert InboundMessage.objects.get(pk=message_id).status == InboundStatus.PROCESSED


def test_process_again_needs_the_csrf_token(admin: User, mail, run_tasks) -> None:  # type: ignore[no-untyped-def]
    message_id = failed_mail(mail, run_tasks)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post(detail(message_id)).status_code == 403
    assert InboundMessage.objects.get(pk=message_id).status == InboundStatus.FAILED
    # With the token from the page's form it goes through.
    page = client.get(detail(message_id)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post(detail(message_id), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert InboundMessage.objects.get(pk=message_id).status == InboundStatus.QUEUED


def test_pages_in_korean(mail, run_tasks) -> None:  # type: ignore[no-untyped-def]
    admin = make_user("root@desk.test", role="admin")
    client = Client(HTTP_ACCEPT_LANGUAGE="ko")
    client.force_login(admin)
    message_id = failed_mail(mail, run_tasks)
    listing = client.get(LIST).content.decode()
    assert "최근 수신 메일" in listing and "최근 메일" in listing
    assert "Recent inbound mail" not in listing
    page = client.get(detail(message_id)).content.decode()
    assert "다시 처리" in page and "전체 정보" in page
    assert "Process again" not in page


def test_process_again_is_offered_for_a_retrying_mail_not_a_queued_one(
    admin_client: Client, mail
) -> None:  # type: ignore[no-untyped-def]
    from postdesk.spool import tasks

    retrying = spool(mail(subject="Hiccup"))
    tasks.record_failure(retrying, "database hiccup")
    assert InboundMessage.objects.get(pk=retrying).status == InboundStatus.RETRYING
    queued = spool(mail(subject="Waiting"))

    page = admin_client.get(detail(retrying)).content.decode()
    assert 'id="process-again"' in page and "database hiccup" in page
    assert 'id="process-again"' not in admin_client.get(detail(queued)).content.decode()
    assert admin_client.post(detail(retrying)).status_code == 302
    assert InboundMessage.objects.get(pk=retrying).status == InboundStatus.QUEUED
    # A queued mail posted to anyway (a stale form) is left alone.
    response = admin_client.post(detail(queued), follow=True)
    assert "Only mail that failed or waits for a retry" in response.content.decode()


def test_junk_diagnostics_of_an_old_row_still_show(admin_client: Client, mail) -> None:  # type: ignore[no-untyped-def]
    message_id = spool(mail(subject="Old row"))
    InboundMessage.objects.filter(pk=message_id).update(
        status="archived",  # a status this version doesn't know
        diagnostics={"protection": "spam", "authentication": "pass", "timings_ms": [1]},
    )
    listed = admin_client.get(LIST)
    assert listed.status_code == 200 and "archived" in row(listed.content.decode(), message_id)
    page = admin_client.get(detail(message_id))
    assert page.status_code == 200 and "Old row" in page.content.decode()
    assert admin_client.get(detail(424242)).status_code == 404
