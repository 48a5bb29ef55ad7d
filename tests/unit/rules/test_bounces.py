"""`postdesk.mail.bounces` on literal mails: what is and isn't a bounce, VERP, Message-IDs."""

from __future__ import annotations

from postdesk.mail.bounces import is_bounce, parse_bounce

from .test_rules import DSN, PERSON, mail, parse

DELAYED = """\
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: bounces+ada=example.com@desk.test
Subject: Delayed Mail (still being retried)
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message could not be delivered for 4 hours. It will be retried.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; slow@example.org
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to mx.example.org[192.0.2.1]:25: Connection timed out

Final-Recipient: rfc822; fine@example.org
Action: delivered
Status: 2.0.0

--B--
"""

QMAIL = """\
From: MAILER-DAEMON@mail.example.org
To: bounces@desk.test
Subject: failure notice

Hi. This is the qmail-send program at mail.example.org.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<nobody@example.org>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Return-Path: <support@desk.test>
From: Support <support@desk.test>
To: nobody@example.org
Message-ID: <t9.1@mid.desk.test>
Subject: Your request

Thanks.
"""

READ_RECEIPT = """\
From: Ada <ada@example.com>
To: support@desk.test
Subject: Read: Your request
MIME-Version: 1.0
Content-Type: multipart/report; report-type=disposition-notification; boundary="B"

--B
Content-Type: text/plain

Your message was read.

--B
Content-Type: message/disposition-notification

Final-Recipient: rfc822; ada@example.com
Disposition: manual-action/MDN-sent-manually; displayed

--B--
"""


def test_dsn_permanent_failure() -> None:
    report = parse_bounce(parse(DSN))
    assert report is not None
    assert report.source == "dsn"
    [failed] = report.failed
    assert failed.address == "gone@example.org"
    assert not failed.temporary
    assert failed.status == "5.1.1"
    assert "User unknown" in failed.diagnostic
    assert report.original_message_id == "<abc.42@mid.desk.test>"


def test_dsn_delay_is_temporary_and_delivered_recipients_are_left_out() -> None:
    report = parse_bounce(parse(DELAYED))
    assert report is not None
    assert [(f.address, f.temporary, f.status) for f in report.failed] == [
        ("slow@example.org", True, "4.4.1")
    ]


def test_qmail_notice_and_inline_original() -> None:
    report = parse_bounce(parse(QMAIL))
    assert report is not None
    assert report.source == "notice"
    assert report.permanent_addresses == ["nobody@example.org"]
    assert report.original_message_id == "<t9.1@mid.desk.test>"


def test_verp_return_path_is_decoded_by_the_given_decoder() -> None:
    def decode(address: str) -> str | None:
        local, _, domain = address.partition("@")
        if not local.startswith("bounces+") or domain != "desk.test":
            return None
        return local.removeprefix("bounces+").replace("=", "@", 1)

    report = parse_bounce(parse(DSN), verp_decoder=decode)
    assert report is not None and report.verp_recipient == "ada@example.com"
    report = parse_bounce(
        parse(DSN), verp_decoder=decode, return_path="bounces+bob=example.net@desk.test"
    )
    assert report is not None and report.verp_recipient == "bob@example.net"
    report = parse_bounce(parse(QMAIL), verp_decoder=decode)
    assert report is not None and report.verp_recipient is None


def test_people_and_read_receipts_are_not_bounces() -> None:
    assert not is_bounce(parse(PERSON), "ada@example.com")
    assert parse_bounce(parse(PERSON)) is None
    assert not is_bounce(parse(READ_RECEIPT), "ada@example.com")


def test_a_person_replying_about_a_failed_delivery_is_not_a_bounce() -> None:
    reply = mail(
        "Subject: Re: delivery failed\nIn-Reply-To: <t9.1@mid.desk.test>",
        body="Your parcel could not be delivered to my address, please help.\n",
    )
    assert not is_bounce(parse(reply), "ada@example.com")


def test_x_failed_recipients_and_null_sender_signals() -> None:
    exim = mail("X-Failed-Recipients: gone@example.org")
    assert is_bounce(parse(exim), "")
    report = parse_bounce(parse(exim))
    assert report is not None and report.permanent_addresses == ["gone@example.org"]
    # The null sender alone is an auto-reply's too: not enough without a bounce subject.
    assert not is_bounce(parse(PERSON), "")
    undeliverable = mail("Subject: Undeliverable: Your request\nFrom: Gateway <gw@example.org>")
    assert is_bounce(parse(undeliverable), "<>")


def test_raw_bytes_find_a_delivery_status_part_below_ordinary_headers():
    """From a person, no bounce subject: only the nested part says "bounce", and its type is
    written in any case."""
    from postdesk.mail.bounces import is_bounce_bytes

    raw = (
        b"From: Ada <ada@example.com>\r\nSubject: fyi\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="X"\r\n\r\n'
        b"--X\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
        b'--X\r\nContent-Type: multipart/report; boundary="Y"\r\n\r\n'
        b"--Y\r\nContent-Type: Message/Delivery-Status\r\n\r\n"
        b"Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        b"--Y--\r\n--X--\r\n"
    )
    assert is_bounce_bytes(raw, "ada@example.com")
    assert not is_bounce_bytes(raw.replace(b"Message/Delivery-Status", b"text/plain"))


def test_raw_bytes_read_the_notice_when_the_subject_is_a_bounce_subject():
    from postdesk.mail.bounces import is_bounce_bytes

    for newline in ("\r\n", "\n", "\r"):
        raw = newline.join(
            [
                # Not a mail system's address: the notice text decides.
                "From: Mail Relay <relay@mx.example.net>",
                "Subject: Undelivered Mail Returned to Sender",
                "",
                "I'm sorry to have to inform you that your message could not",
                "be delivered to one or more recipients.",
                "",
                "<gone@example.org>: host mx.example.org said: 550 5.1.1 unknown user",
                "",
            ]
        ).encode()
        assert is_bounce_bytes(raw, "someone@example.net"), repr(newline)
        # The same words in the body of an ordinary mail's reply do not make a bounce.
        reply = raw.replace(
            b"Subject: Undelivered",
            b"In-Reply-To: <a@b>" + newline.encode() + b"Subject: Re: Undelivered",
        )
        assert not is_bounce_bytes(reply, "someone@example.net"), repr(newline)
