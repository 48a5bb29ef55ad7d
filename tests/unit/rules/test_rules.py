"""Each rule against literal RFC 822 mails, and the verdict table that combines them."""

from __future__ import annotations

import email
import email.message
from email import policy
from email.header import decode_header, make_header
from email.utils import getaddresses, parseaddr
from typing import Any

import pytest

from postdesk.mail.bounces import is_bounce
from postdesk.mail.ratelimit import MailRateLimiter
from postdesk.mail.rules import DEFAULT_RULES
from postdesk.mail.rules.autoreply import AutomatedMail
from postdesk.mail.rules.base import (
    AuthProfile,
    MailFacts,
    RuleContext,
    RuleSettings,
    headers_from_message,
    list_entry_matches,
)
from postdesk.mail.rules.blocklist import Blocklist, BlocklistReject
from postdesk.mail.rules.bounce import Bounce
from postdesk.mail.rules.loop import LoopHeader
from postdesk.mail.rules.mailing_list import MailingList
from postdesk.mail.rules.malformed import Malformed
from postdesk.mail.rules.out_of_office import OutOfOffice
from postdesk.mail.rules.own_address import OwnAddress
from postdesk.mail.rules.own_message_id import OwnMessageId
from postdesk.mail.rules.spoof import FailedAuthentication
from postdesk.mail.rules.system_sender import SystemSender
from postdesk.mail.rules.too_large import TooLarge
from postdesk.mail.rules.too_many_ccs import TooManyCcs
from postdesk.mail.verdict import POLICY, Action, decide

# Literal mails become `MailFacts` with the stdlib alone, as the integrator's adapter will
# (the tests must not depend on the project's parser).
DESK: dict[str, Any] = {
    "own_addresses": frozenset({"support@desk.test", "help@acme.test"}),
    "own_domains": frozenset({"desk.test"}),
    "loop_header_name": "X-Postdesk-Loop",
    "instance_id": "desk-7f3a",
    "own_message_id_domain": "mid.desk.test",
    "agent_emails": frozenset({"agent@acme.test"}),
}


def parse(raw: str | bytes) -> email.message.Message:
    if isinstance(raw, str):
        # Literal test mails may carry UTF-8 headers (RFC 6532); keep them as text.
        return email.message_from_string(raw, policy=policy.compat32)
    return email.message_from_bytes(raw, policy=policy.compat32)


def _text(value: object) -> str:
    try:
        text = str(make_header(decode_header(str(value))))
    except (LookupError, ValueError):
        text = str(value)
    return " ".join(text.split())


def _addresses(message: email.message.Message, name: str) -> tuple[str, ...]:
    values = [str(value) for value in message.get_all(name, [])]
    return tuple(address.lower() for _, address in getaddresses(values) if "@" in address)


def facts(raw: str | bytes, *, mail_from: str | None = None, **overrides: Any) -> MailFacts:
    """Facts of a literal mail; ``mail_from`` defaults to the Return-Path header."""
    message = parse(raw)
    name, from_email = parseaddr(str(message.get("From", "")))
    if mail_from is None:
        mail_from = parseaddr(str(message.get("Return-Path", "")))[1]
    data = raw.encode() if isinstance(raw, str) else raw
    values: dict[str, Any] = {
        "headers": headers_from_message(message),
        "mail_from": mail_from,
        "from_email": from_email.lower() if "@" in from_email else "",
        "from_name": name,
        "reply_to": _addresses(message, "Reply-To"),
        "to": _addresses(message, "To"),
        "cc": _addresses(message, "Cc"),
        "subject": _text(message.get("Subject", "")),
        "content_type": message.get_content_type(),
        "size": len(data),
        "message_id": str(message.get("Message-ID", "")).strip(),
        "in_reply_to": str(message.get("In-Reply-To", "")).strip(),
        "references": tuple(str(message.get("References", "")).split()),
        "is_bounce": is_bounce(message, mail_from),
        **DESK,
    }
    values.update(overrides)
    return MailFacts(**values)


CONTEXT = RuleContext()

PERSON = """\
Return-Path: <ada@example.com>
From: Ada Lovelace <ada@example.com>
To: support@desk.test
Subject: Printer on fire
Message-ID: <1@example.com>
Date: Mon, 02 Mar 2026 10:00:00 +0000

Hello, my printer is on fire.
"""


def mail(headers: str, body: str = "Hello.\n", *, base: str = PERSON) -> str:
    """PERSON with some headers replaced or added."""
    head, _, _ = base.partition("\n\n")
    lines = head.splitlines()
    for line in headers.strip().splitlines():
        name = line.split(":", 1)[0].lower()
        lines = [old for old in lines if old.split(":", 1)[0].lower() != name]
        lines.append(line)
    return "\n".join(lines) + "\n\n" + body


def test_a_person_writing_is_accepted_with_notifications() -> None:
    verdict = decide(facts(PERSON))
    assert verdict.action == Action.ACCEPT
    assert verdict.hits == ()
    assert verdict.notify and verdict.reopen
    assert verdict.cause is None


def test_every_rule_has_a_name_a_description_and_a_policy() -> None:
    names = [rule.name for rule in DEFAULT_RULES]
    assert len(set(names)) == len(names)
    assert all(rule.description for rule in DEFAULT_RULES)
    assert set(names) == {entry.rule for entry in POLICY}


@pytest.mark.parametrize(
    ("header", "reason_part"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted"),
        ("Auto-Submitted: auto-generated; owner-email=x@example.com", "auto-generated"),
        ("Precedence: bulk", "Precedence: bulk"),
        ("Precedence: junk", "junk"),
        ("Precedence: list", "list"),
        ("Precedence: auto_reply", "auto_reply"),
        ("X-Autoreply: yes", "X-Autoreply"),
        ("X-Autorespond: Thanks", "X-Autorespond"),
        ("X-Mail-Autoreply: yes", "X-Mail-Autoreply"),
        ("X-Autogenerated: Reply", "X-Autogenerated"),
        ("X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress"),
        ("X-AMAZON-MAIL-RELAY-TYPE: notification", "AMAZON"),
        ("X-MS-Exchange-Inbox-Rules-Loop: someone@example.com", "inbox rule"),
    ],
)
def test_automated_mail_headers(header: str, reason_part: str) -> None:
    hit = AutomatedMail().check(facts(mail(header)), CONTEXT)
    assert hit is not None
    assert reason_part in hit.reason
    verdict = decide(facts(mail(header)))
    assert verdict.action == Action.ACCEPT_WITHOUT_NOTIFICATIONS
    assert not verdict.notify
    assert verdict.cause == "auto_mailer" and verdict.cause_id == 3


def test_auto_submitted_no_is_a_person() -> None:
    assert AutomatedMail().check(facts(mail("Auto-Submitted: no")), CONTEXT) is None


def test_exchange_inbox_rule_of_our_own_forwarding_is_not_automation() -> None:
    raw = mail("X-MS-Exchange-Inbox-Rules-Loop: help@acme.test")
    assert AutomatedMail().check(facts(raw), CONTEXT) is None


def test_null_return_path_is_automated() -> None:
    hit = AutomatedMail().check(facts(PERSON, mail_from=""), CONTEXT)
    assert hit is not None and "null return path" in hit.reason


def test_mailing_list_headers() -> None:
    raw = mail("List-Id: Printers <printers.lists.example.com>")
    assert MailingList().check(facts(raw), CONTEXT) is not None
    raw = mail("List-Unsubscribe: <mailto:leave@lists.example.com>")
    assert MailingList().check(facts(raw), CONTEXT) is not None
    assert MailingList().check(facts(PERSON), CONTEXT) is None


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Printer on fire",
        "Automatic reply: Printer on fire",
        "Re: Autoreply",
        "[부재중] Re: 프린터 문의",
        "부재중 자동응답 메일입니다",
        "Abwesenheitsnotiz: Drucker",
        "Réponse automatique : Imprimante",
        "Respuesta automática: Impresora",
        "自動応答: プリンター",
        "自动回复: 打印机",
        "Автоматический ответ: принтер",
    ],
)
def test_out_of_office_subjects(subject: str) -> None:
    raw = mail(f"Subject: {subject}\nAuto-Submitted: auto-replied")
    verdict = decide(facts(raw))
    assert verdict.action == Action.ACCEPT_WITHOUT_NOTIFICATIONS
    assert verdict.cause == "auto_vacation"
    assert verdict.reopen is False


def test_out_of_office_needs_the_subject_to_start_with_it() -> None:
    raw = mail("Subject: Our office printer ran out of toner")
    assert OutOfOffice().check(facts(raw), CONTEXT) is None


def test_configured_out_of_office_subject() -> None:
    settings = RuleSettings(out_of_office_subjects=(r"je\s+suis\s+en\s+cong[ée]",))
    raw = mail("Subject: Je suis en congé")
    assert OutOfOffice().check(facts(raw), RuleContext(settings=settings)) is not None


DSN = """\
Return-Path: <>
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: bounces+ada=example.com@desk.test
Subject: Undelivered Mail Returned to Sender
Message-ID: <20260302@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<gone@example.org>: host mx.example.org said: 550 5.1.1 User unknown

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; gone@example.org
Original-Recipient: rfc822; gone@example.org
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <gone@example.org>: User unknown

--B
Content-Type: text/rfc822-headers

From: Support <support@desk.test>
To: gone@example.org
Subject: [#42] Your request
Message-ID: <abc.42@mid.desk.test>

--B--
"""


def test_a_dsn_goes_to_the_bounce_handler() -> None:
    mail_facts = facts(DSN, mail_from="")
    assert mail_facts.is_bounce
    verdict = decide(mail_facts)
    assert verdict.action == Action.BOUNCE
    assert verdict.cause == "auto_delivery_failure" and verdict.cause_id == 7
    # The null sender and the daemon's address were seen too, and recorded.
    assert {"bounce", "system_sender", "automated"} <= {hit.rule for hit in verdict.hits}


def test_bounce_rule_reads_headers_when_the_body_was_not_checked() -> None:
    rule = Bounce()
    assert rule.check(facts(DSN, mail_from="", is_bounce=None), CONTEXT) is not None
    exim = mail("X-Failed-Recipients: gone@example.org")
    assert rule.check(facts(exim, is_bounce=None), CONTEXT) is not None
    assert rule.check(facts(PERSON, is_bounce=None), CONTEXT) is None
    assert rule.check(facts(DSN, mail_from="", is_bounce=False), CONTEXT) is None


def test_our_loop_header_drops_the_mail() -> None:
    raw = mail("X-Postdesk-Loop: desk-7f3a")
    hit = LoopHeader().check(facts(raw), CONTEXT)
    assert hit is not None
    verdict = decide(facts(raw))
    assert verdict.action == Action.DROP and verdict.cause == "loop" and verdict.cause_id == 4


def test_another_desks_loop_header_is_not_ours() -> None:
    raw = mail("X-Postdesk-Loop: other-desk")
    assert LoopHeader().check(facts(raw), CONTEXT) is None


def test_our_own_message_id_coming_back_is_dropped() -> None:
    raw = mail("Message-ID: <t42.c7.9f2@mid.desk.test>")
    assert OwnMessageId().check(facts(raw), CONTEXT) is not None
    assert decide(facts(raw)).action == Action.DROP
    assert OwnMessageId().check(facts(PERSON), CONTEXT) is None


@pytest.mark.parametrize(
    "headers",
    [
        "From: Support <support@desk.test>",
        "From: Acme Help <HELP@acme.test>",
        "Reply-To: help@acme.test",
    ],
)
def test_mail_from_our_own_addresses_is_dropped(headers: str) -> None:
    raw = mail(headers)
    assert OwnAddress().check(facts(raw), CONTEXT) is not None
    verdict = decide(facts(raw))
    assert verdict.action == Action.DROP
    assert verdict.cause == "from_support_address" and verdict.cause_id == 22


@pytest.mark.parametrize(
    "sender",
    [
        "no-reply@shop.example",
        "noreply@shop.example",
        "postmaster@example.org",
        "donotreply@x.example",
    ],
)
def test_system_senders_are_suspended(sender: str) -> None:
    raw = mail(f"From: Robot <{sender}>\nReturn-Path: <{sender}>")
    verdict = decide(facts(raw, is_bounce=False))
    assert verdict.action == Action.SUSPEND
    assert verdict.cause == "system_user" and verdict.cause_id == 9


def test_a_no_reply_tool_with_a_person_in_reply_to_is_a_person() -> None:
    raw = mail("From: Shop <no-reply@shop.example>\nReply-To: Bob <bob@example.com>")
    assert SystemSender().check(facts(raw), CONTEXT) is None


def test_too_many_ccs() -> None:
    many = ", ".join(f"person{i}@example.com" for i in range(400))
    raw = mail(f"Cc: {many}")
    hit = TooManyCcs().check(facts(raw), CONTEXT)
    assert hit is not None and "400 recipients" in hit.reason
    assert decide(facts(raw)).cause == "too_many_ccs"
    some = ", ".join(f"person{i}@example.com" for i in range(60))
    assert TooManyCcs().check(facts(mail(f"Cc: {some}")), CONTEXT) is None


def test_too_large() -> None:
    settings = RuleSettings(max_message_size=1000)
    big = mail("", body="x" * 2000 + "\n")
    assert TooLarge().check(facts(big), RuleContext(settings=settings)) is not None
    verdict = decide(facts(big), settings=settings)
    assert verdict.action == Action.SUSPEND and verdict.cause == "too_large"
    assert verdict.cause_id is None
    assert TooLarge().check(facts(PERSON), RuleContext(settings=settings)) is None


def test_malformed_without_any_address() -> None:
    raw = mail("From: undisclosed-sender:;")
    hit = Malformed().check(facts(raw), CONTEXT)
    assert hit is not None
    assert decide(facts(raw)).cause == "malformed"
    no_from = PERSON.replace("From: Ada Lovelace <ada@example.com>\n", "")
    assert Malformed().check(facts(no_from), CONTEXT) is not None
    assert Malformed().check(facts(PERSON), CONTEXT) is None


@pytest.mark.parametrize(
    ("entry", "address", "matches"),
    [
        ("ada@example.com", "ADA@example.com", True),
        ("example.com", "ada@example.com", True),
        ("@example.com", "ada@mail.example.com", True),
        ("example.com", "ada@badexample.com", False),
        ("bob@example.com", "ada@example.com", False),
        ("", "ada@example.com", False),
    ],
)
def test_list_entries(entry: str, address: str, matches: bool) -> None:
    assert list_entry_matches(entry, address) is matches


def test_blocklist_suspends_and_reject_entries_drop() -> None:
    settings = RuleSettings(blocklist=("example.com", "reject:spam.example"))
    context = RuleContext(settings=settings)
    assert Blocklist().check(facts(PERSON), context) is not None
    assert BlocklistReject().check(facts(PERSON), context) is None
    verdict = decide(facts(PERSON), settings=settings)
    assert verdict.action == Action.SUSPEND and verdict.cause == "blocklisted"
    assert verdict.cause_id == 13
    spam = mail("From: Win <winner@spam.example>\nReturn-Path: <winner@spam.example>")
    verdict = decide(facts(spam), settings=settings)
    assert verdict.action == Action.DROP and verdict.rule == "blocklist_reject"


def test_allowlist_wins_over_blocklist() -> None:
    settings = RuleSettings(blocklist=("example.com",), allowlist=("ada@example.com",))
    assert decide(facts(PERSON), settings=settings).action == Action.ACCEPT


AGENT = mail("From: Agent <agent@acme.test>\nReturn-Path: <agent@acme.test>")


def test_failed_authentication_of_an_agent_is_suspended() -> None:
    verdict = decide(facts(AGENT, authentication="fail"))
    assert verdict.action == Action.SUSPEND
    assert verdict.cause == "failed_authentication" and verdict.cause_id == 26
    assert decide(facts(AGENT, authentication="pass")).action == Action.ACCEPT


def test_authentication_profiles() -> None:
    rule = FailedAuthentication()
    failing_customer = facts(PERSON, authentication="fail")
    assert rule.check(failing_customer, CONTEXT) is None
    strict = RuleContext(settings=RuleSettings(auth_profile=AuthProfile.STRICT))
    assert rule.check(failing_customer, strict) is not None
    off = RuleContext(settings=RuleSettings(auth_profile=AuthProfile.OFF))
    assert rule.check(facts(AGENT, authentication="fail"), off) is None


def test_an_agent_claim_the_dns_left_undecided_waits_in_the_queue() -> None:
    rule = FailedAuthentication()
    hit = rule.check(facts(AGENT, authentication="temperror"), CONTEXT)
    assert (
        hit is not None and hit.reason == "claims agent agent@acme.test, could not be authenticated"
    )
    # Anyone else's undecided check holds nothing, not even under the strict profile.
    strict = RuleContext(settings=RuleSettings(auth_profile=AuthProfile.STRICT))
    assert rule.check(facts(PERSON, authentication="temperror"), strict) is None
    assert rule.check(facts(AGENT, authentication="none"), CONTEXT) is None


def test_action_overrides_from_settings() -> None:
    settings = RuleSettings(actions=(("automated", "suspend"),))
    verdict = decide(facts(mail("Precedence: bulk")), settings=settings)
    assert verdict.action == Action.SUSPEND and verdict.cause == "auto_mailer"


def test_the_strongest_action_wins_and_all_hits_are_kept() -> None:
    raw = mail(
        "From: Support <support@desk.test>\nPrecedence: bulk\nSubject: Out of office: hi\n"
        "X-Postdesk-Loop: desk-7f3a"
    )
    verdict = decide(facts(raw))
    assert verdict.action == Action.DROP
    # Among drops, the table's first entry gives the cause.
    assert verdict.rule == "loop_header"
    assert [hit.rule for hit in verdict.hits] == [
        "loop_header",
        "own_address",
        "out_of_office",
        "automated",
    ]
    assert verdict.reopen is False


def test_sender_flood_rule_uses_the_limiter() -> None:
    now = [1_000_000.0]
    limiter = MailRateLimiter(clock=lambda: now[0])
    for _ in range(20):
        assert decide(facts(PERSON), limiter=limiter).action == Action.ACCEPT
        limiter.record_ticket_opened("ada@example.com")
    verdict = decide(facts(PERSON), limiter=limiter)
    assert verdict.action == Action.SUSPEND
    assert verdict.rule == "sender_flood" and verdict.cause == "loop"


def test_headers_adapter() -> None:
    headers = headers_from_message(parse("X-A: one\nX-A: two\nSubject: folded\n  line\n\nbody\n"))
    assert headers.get_all("x-a") == ["one", "two"]
    assert headers.get("Subject") == "folded line"
    assert headers.get("Missing", "none") == "none"
    assert "x-a" in headers and "X-B" not in headers
