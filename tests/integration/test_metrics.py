"""GET /metrics: Prometheus text with the desk's counts, for loopback or admin tokens."""

from __future__ import annotations

import pytest

from postdesk.operations import create_admin

pytestmark = pytest.mark.django_db


def test_metrics_count_mail_by_status_queue_depth_and_latency(client, mail, run_tasks):
    from tests.integration.test_processing import spool

    spool(mail())
    spool(mail())
    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'postdesk_inbound_messages{status="queued"} 2' in body
    assert 'postdesk_queue_depth{queue="inbound",state="ready"} 2' in body
    assert "postdesk_processing_latency_seconds_count 0" in body
    run_tasks()
    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'postdesk_inbound_messages{status="processed"} 2' in body
    assert "postdesk_processing_latency_seconds_count 2" in body
    assert 'postdesk_processing_latency_seconds{quantile="0.99"}' in body


def test_metrics_need_loopback_or_an_admin_token(client):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    create_admin("root@desk.test", "long enough pw", api_token="m" * 32)
    response = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", headers={"Authorization": "Bearer " + "m" * 32}
    )
    assert response.status_code == 200


def test_suspended_and_dropped_mail_are_counted_by_cause_and_rule(client, mail, run_tasks):
    from tests.integration.test_processing import spool

    spool(mail(sender="nobody"), mail_from="")  # no sender at all: held as malformed
    spool(mail(sender="MAILER-DAEMON@example.com", subject="Undelivered Mail Returned to Sender"))
    run_tasks()
    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'postdesk_suspended_pending{cause="malformed"} 1' in body
    assert 'postdesk_dropped{rule="bounce"} 1' in body
    from postdesk.operations import status

    protection = status()["protection"]
    assert protection["suspended_pending_by_cause"] == {"malformed": 1}
    assert protection["dropped_by_rule"] == {"bounce": 1}


def test_mail_waiting_in_smtpds_journal_is_a_gauge_and_counts_as_received(
    client, mail, monkeypatch, tmp_path
):
    from postdesk import operations
    from postdesk.mail.envelope import Envelope, Transport
    from postdesk.transports.smtp_journal import Journal

    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert "postdesk_smtpd_journalled 0" in body  # in-memory test database: no journal

    path = tmp_path / "postdesk.sqlite3-smtpd-journal"
    journal = Journal(path)
    envelope = Envelope(transport=Transport.SMTP, rcpt_tos=("support@desk.test",))
    journal.append([(mail(), envelope), (mail(), envelope)])
    journal.close()
    monkeypatch.setattr(operations, "smtpd_journal_path", lambda: path)

    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert "postdesk_smtpd_journalled 2" in body
    inbound = operations.status()["inbound"]
    assert (inbound["journalled"], inbound["received"]) == (2, 2)
