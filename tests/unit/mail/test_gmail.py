"""Gmail forwarding confirmations are recognised from literal mails (SPEC F4)."""

from __future__ import annotations

import pytest

from postdesk.mail.gmail import recognise
from postdesk.mail.parse import parse

ENGLISH = b"""\
From: Gmail Team <forwarding-noreply@google.com>\r
To: billing@desk.test\r
Subject: (#412345678) Gmail Forwarding Confirmation - Receive Mail from ada.billing@gmail.com\r
Message-ID: <0000000000001@google.com>\r
Content-Type: text/plain; charset=UTF-8\r
\r
ada.billing@gmail.com has requested to automatically forward mail to your email\r
address billing@desk.test.\r
Confirmation code: 412345678\r
\r
To allow ada.billing@gmail.com to automatically forward mail to your address,\r
please click the link below to confirm the request:\r
\r
https://mail-settings.google.com/mail/vf-%5BANGjdJ9x%5D-Q2xKZ3lQbWk1c0t0cUg2c0E\r
\r
If you click the link and it appears to be broken, please copy and paste it\r
into a new browser window.\r
"""

KOREAN = (
    "From: forwarding-noreply@google.com\r\n"
    "To: billing@desk.test\r\n"
    "Subject: =?UTF-8?B?"
    + __import__("base64")
    .b64encode("(#598765432) Gmail 전달 확인 - ada@gmail.com의 메일 받기".encode())
    .decode()
    + "?=\r\n"
    "Content-Type: text/plain; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "ada@gmail.com님이 billing@desk.test(으)로 메일을 자동 전달하도록 요청했습니다.\r\n"
    "확인 코드: 598765432\r\n"
    "https://mail.google.com/mail/u/0/vf-%5BANGjdJ8%5D-abc\r\n"
).encode("utf-8")

WORKSPACE = b"""\
From: forwarding-noreply@google.com\r
To: sales@desk.test\r
Subject: (#700000001) Acme Corp Mail Forwarding Confirmation - Receive Mail from sales@acme.example\r
Content-Type: text/html; charset=UTF-8\r
\r
<p>sales@acme.example has requested to automatically forward mail to sales@desk.test.</p>\r
<p>Confirmation code: 700000001</p>\r
<p><a href="https://isolated.mail.google.com/mail/vf-%5BX%5D-Y">confirm</a></p>\r
"""


def _recognise(raw: bytes):
    parsed = parse(raw)
    sender = parsed.from_address.email if parsed.from_address else None
    recipients = tuple(a.email for a in parsed.to)
    return recognise(sender, parsed.subject, parsed.text, recipients, html=parsed.html)


def test_english_confirmation_gives_code_link_and_requester() -> None:
    found = _recognise(ENGLISH)
    assert found is not None
    assert found.code == "412345678"
    assert found.confirmation_url == (
        "https://mail-settings.google.com/mail/vf-%5BANGjdJ9x%5D-Q2xKZ3lQbWk1c0t0cUg2c0E"
    )
    assert found.requested_by == "ada.billing@gmail.com"


def test_korean_subject_with_particle_glued_to_the_address() -> None:
    found = _recognise(KOREAN)
    assert found is not None
    assert found.code == "598765432"
    assert found.requested_by == "ada@gmail.com"
    assert found.confirmation_url == "https://mail.google.com/mail/u/0/vf-%5BANGjdJ8%5D-abc"


def test_workspace_branded_html_confirmation() -> None:
    found = _recognise(WORKSPACE)
    assert found is not None
    assert found.code == "700000001"
    assert found.requested_by == "sales@acme.example"
    assert found.confirmation_url == "https://isolated.mail.google.com/mail/vf-%5BX%5D-Y"


@pytest.mark.parametrize(
    "subject",
    [
        "(#123456789) Gmail-Weiterleitungsbestätigung - Nachrichten von a@gmail.com empfangen",
        "(#123456789) Confirmation de transfert Gmail - Recevoir des messages de a@gmail.com",
        "(#123456789) Gmail の転送の確認 - a@gmail.com からメールを受信",
        "( # 123456789 ) Gmail Forwarding Confirmation - Receive Mail from a@gmail.com",
    ],
)
def test_localized_subjects(subject: str) -> None:
    found = recognise("forwarding-noreply@google.com", subject, "", ("x@desk.test",))
    assert found is not None and found.code == "123456789"
    assert found.requested_by == "a@gmail.com"


def test_other_senders_are_not_confirmations() -> None:
    subject = "(#412345678) Gmail Forwarding Confirmation - Receive Mail from a@gmail.com"
    assert recognise("forwarding-noreply@google.com.evil.example", subject, "") is None
    assert recognise("noreply@google.com", subject, "") is None
    assert recognise(None, subject, "") is None


def test_a_mail_from_google_without_the_code_marker_is_not_one() -> None:
    assert recognise("forwarding-noreply@google.com", "Gmail Forwarding Confirmation", "") is None
    assert recognise("forwarding-noreply@google.com", "Re: (#123) hi", "") is None


@pytest.mark.parametrize(
    "link",
    [
        "https://mail-settings.google.com.evil.example/mail/vf-abc",
        "http://mail-settings.google.com/mail/vf-abc",
        "https://evil.example/mail/vf-abc?google.com",
        "https://mail.google.com/phish",
    ],
)
def test_only_https_google_confirmation_links_are_reported(link: str) -> None:
    found = recognise(
        "forwarding-noreply@google.com",
        "(#412345678) Gmail Forwarding Confirmation - Receive Mail from a@gmail.com",
        f"Click {link} now",
    )
    assert found is not None
    assert found.confirmation_url is None
