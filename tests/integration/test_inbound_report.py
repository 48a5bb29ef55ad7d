"""``postdesk inbound``: recent inbound mail and one mail's processing record
(``postdesk.spool.report``)."""

from __future__ import annotations

import json

import pytest

from postdesk import cli
from postdesk.spool import report
from postdesk.spool.models import InboundMessage, InboundStatus
from postdesk.spool.tasks import record_failure
from tests.integration.test_processing import spool

pytestmark = pytest.mark.django_db

AUTO_REPLY = "Auto-Submitted: auto-replied\r\n"


def test_a_processed_mail_shows_how_it_was_handled(mail, run_tasks, capsys):
    message_id = spool(
        mail(subject="Printer on fire", to="Support <support@desk.test>"),
        mail_from="bounce@example.com",
    )
    run_tasks()
    message = InboundMessage.objects.get(pk=message_id)

    assert cli.main(["inbound"]) == 0
    listing = capsys.readouterr().out
    assert listing.splitlines()[0].split()[:5] == ["ID", "RECEIVED", "STATUS", "VERDICT", "TICKET"]
    assert f"#{message.ticket_id}" in listing and "Printer on fire" in listing

    assert cli.main(["inbound", str(message_id)]) == 0
    shown = capsys.readouterr().out
    lines = dict(line.split("  ", 1) for line in shown.splitlines())
    assert lines["Inbound"].strip().startswith(f"{message_id}  processed")
    assert lines["Envelope from"].strip() == "<bounce@example.com>"
    assert lines["Received at"].strip() == "support@desk.test (matched via To)"
    assert lines["Requester"].strip() == "ada@example.com (from)"
    assert lines["Threading"].strip() == "new-ticket"
    assert lines["Verdict"].strip() == "accept"
    assert lines["Ticket"].strip().startswith(f"#{message.ticket_id} (new), comment ")
    assert "parse " in lines["Timings"] and " ms" in lines["Timings"]


def test_a_reply_shows_the_threading_rule_that_matched(mail, run_tasks):
    first = spool(mail(message_id="<first@example.com>"))
    run_tasks()
    reply = spool(
        mail(
            subject="Re: Printer on fire",
            extra_headers="In-Reply-To: <first@example.com>\r\n",
            body="Still burning.\r\n",
        )
    )
    run_tasks()
    found = report.record(InboundMessage.objects.get(pk=reply))
    assert found["threading"] not in (None, "new-ticket")
    assert found["ticket_id"] == InboundMessage.objects.get(pk=first).ticket_id
    assert found["ticket_created"] is False


def test_a_dropped_auto_reply_says_why(mail, run_tasks, capsys):
    message_id = spool(
        mail(sender="MAILER-DAEMON@example.com", subject="Out of office", extra_headers=AUTO_REPLY)
    )
    run_tasks()
    message = InboundMessage.objects.get(pk=message_id)
    assert message.status in (InboundStatus.DROPPED, InboundStatus.SUSPENDED)
    found = report.record(message)
    assert found["verdict"] not in (None, "accept")
    assert found["cause"]  # the protection rule and its reason, in words
    assert found["protection_hits"]
    assert cli.main(["inbound", str(message_id)]) == 0
    assert "Because" in capsys.readouterr().out


def test_failed_mail_is_listed_with_its_error_and_filtered_by_status(mail, run_tasks, capsys):
    good = spool(mail(subject="Fine"))
    run_tasks()
    bad = spool(mail(subject="Broken"))
    record_failure(bad, "RuntimeError: database hiccup", retry=False)

    assert cli.main(["inbound", "--status", "failed", "--json"]) == 0
    lines = json.loads(capsys.readouterr().out)
    assert [line["id"] for line in lines] == [bad]
    assert lines[0]["status"] == "failed"
    assert lines[0]["error"] == "RuntimeError: database hiccup"
    assert lines[0]["subject"] == "Broken"

    assert cli.main(["inbound", "--json", "--limit", "1"]) == 0
    assert [line["id"] for line in json.loads(capsys.readouterr().out)] == [bad]
    assert cli.main(["inbound", "--json"]) == 0
    assert [line["id"] for line in json.loads(capsys.readouterr().out)] == [bad, good]

    assert cli.main(["inbound", str(bad), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["error"] == "RuntimeError: database hiccup"
    assert found["attempts"] == 1
    assert found["verdict"] is None  # never processed: no verdict to show


def test_a_queued_mail_has_a_record_before_processing(mail):
    message_id = spool(mail(subject="Waiting"))
    found = report.record(InboundMessage.objects.get(pk=message_id))
    assert found["status"] == "queued"
    assert found["envelope"]["rcpt_tos"] == ["support@desk.test"]
    assert found["timings_ms"] == {} and found["verdict"] is None
    assert "Waiting" in report.format_record(found)


def test_bad_requests_get_a_clear_error(capsys):
    assert cli.main(["inbound", "424242"]) == 1
    assert "no inbound mail 424242" in capsys.readouterr().err
    assert cli.main(["inbound", "--status", "lost"]) == 2
    assert "unknown status 'lost'" in capsys.readouterr().err
    assert cli.main(["inbound", "--limit", "0"]) == 2
    assert "limit must be between" in capsys.readouterr().err
    assert cli.main(["inbound"]) == 0
    assert capsys.readouterr().out.strip() == "no inbound mail"


def test_junk_headers_still_list(run_tasks):
    raw = (
        b"From: \xc1\xa4\xba\xb8 <kim@example.kr>\r\n"
        b"Subject: =?utf-8?q?broken=ZZ?= \xff\r\n"
        b"\r\nbody\r\n"
    )
    message_id = spool(raw)
    line = report.summary(InboundMessage.objects.get(pk=message_id))
    assert "kim@example.kr" in line["from"]
    assert "broken" in line["subject"]  # decoded as far as it goes, never an exception
    long_subject = spool(b"Subject: " + b"x" * 500 + b"\r\n\r\nbody\r\n")
    line = report.summary(InboundMessage.objects.get(pk=long_subject))
    assert len(line["subject"]) == report.SUMMARY_TEXT_LIMIT and line["subject"].endswith("…")
    assert line["from"] == "ada@example.com"  # no From header: the envelope sender


def test_the_listing_reads_only_the_start_of_each_mail(django_assert_num_queries):
    big = spool(
        b"From: Kim <kim@example.kr>\r\nSubject: Big attachment\r\n\r\n"
        + b"x" * (report.HEADER_PREFIX * 3)
        + b"\r\nSubject: not a header\r\n"
    )
    with django_assert_num_queries(1):
        lines = [report.summary(m) for m in report.recent()]
    assert [line["id"] for line in lines] == [big]
    assert lines[0]["subject"] == "Big attachment" and "kim@example.kr" in lines[0]["from"]
    [listed] = report.recent()
    assert "raw" in listed.get_deferred_fields()
    assert len(bytes(listed.raw_head)) == report.HEADER_PREFIX
    # The record of the same row reads the whole mail, as stored.
    found = report.record(listed)
    assert found["subject"] == "Big attachment" and found["size"] > report.HEADER_PREFIX * 3


def test_junk_in_old_diagnostics_still_reports(mail):
    message_id = spool(mail(subject="Old row"))
    InboundMessage.objects.filter(pk=message_id).update(
        diagnostics={
            "verdict": "accept",
            "protection": "spam",
            "authentication": {"verdict": "fail", "spf": "fail", "dkim": ["x"], "arc": 1},
            "forwarding": [2],
            "flags": ["spoofed", 3],
            "defects": "one",
            "timings_ms": {"parse": "slow", "rules": 1.5},
        }
    )
    found = report.record(InboundMessage.objects.get(pk=message_id))
    assert found["flags"] == ["spoofed", "3"] and found["defects"] == []
    assert found["timings_ms"] == {"rules": 1.5} and found["forwarding_hops"] is None
    assert found["cause"] is None and found["protection_hits"] == []
    shown = report.format_record(found)
    assert "Authentication  fail" in shown and "rules 1.5 ms" in shown
    InboundMessage.objects.filter(pk=message_id).update(diagnostics=["not", "a", "dict"])
    found = report.record(InboundMessage.objects.get(pk=message_id))
    assert found["verdict"] is None and "Old row" in report.format_record(found)
    assert cli.main(["inbound"]) == 0
