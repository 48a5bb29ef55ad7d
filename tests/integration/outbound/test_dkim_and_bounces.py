"""DKIM keys and signing state; bounces matched back through VERP; the outbox pages."""

from __future__ import annotations

import dkim as dkimpy
import pytest
from django.test import Client

from postdesk.channels.models import AddressKind, SupportAddress, VerificationStatus
from postdesk.outbound import bounces, dkim_keys, services
from postdesk.outbound.models import DkimKey, OutboundStatus, RecipientStatus
from postdesk.tickets.models import Comment, Role, User, UserIdentity

pytestmark = pytest.mark.django_db


def dnsfunc_for(domain: str):  # type: ignore[no-untyped-def]
    """A dkimpy resolver serving exactly the records Postdesk tells the admin to publish."""
    zone = {r.name: "".join(r.strings).encode() for r in dkim_keys.dns_records(domain)}

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return zone.get(name.decode().rstrip(".").lower())

    return dnsfunc


@pytest.fixture
def company_address() -> SupportAddress:
    hosted = SupportAddress.objects.create(email="billing@desk.test", name="Billing")
    return SupportAddress.objects.create(
        email="billing@mycompany.test",
        name="Billing",
        kind=AddressKind.EXTERNAL,
        forwarding_target=hosted,
        forwarding_status=VerificationStatus.VERIFIED,
    )


def test_mail_is_signed_only_once_the_record_checks_out(locmem_relay, run_tasks, company_address):
    [key] = dkim_keys.ensure_keys("mycompany.test")
    assert key.selector == "postdesk1" and key.status == VerificationStatus.UNKNOWN
    services.send_system_mail(
        to="a@example.com", subject="s", text="t", from_address=company_address
    )
    run_tasks()
    assert b"DKIM-Signature" not in locmem_relay[-1].data

    dkim_keys.mark_dkim_verified("mycompany.test", "postdesk1")
    company_address.refresh_from_db()
    assert company_address.dkim_status == VerificationStatus.VERIFIED
    outbound = services.send_system_mail(
        to="a@example.com", subject="s", text="t", from_address=company_address
    )
    run_tasks()
    sent = locmem_relay[-1].data
    assert sent.startswith(b"DKIM-Signature:")
    assert dkimpy.verify(sent, dnsfunc=dnsfunc_for("mycompany.test"))
    outbound.refresh_from_db()
    assert outbound.sent_bytes() == sent  # the stored signature is the one that was sent

    dkim_keys.mark_dkim_failed("mycompany.test", "postdesk1", "record not found")
    services.send_system_mail(
        to="a@example.com", subject="s", text="t", from_address=company_address
    )
    run_tasks()
    assert b"DKIM-Signature" not in locmem_relay[-1].data


def test_rotation_publishes_the_next_key_before_it_signs(locmem_relay, run_tasks, company_address):
    dkim_keys.ensure_keys("mycompany.test")
    dkim_keys.mark_dkim_verified("mycompany.test", "postdesk1")
    new = dkim_keys.rotate_key("mycompany.test")
    assert new.selector == "postdesk2" and not new.active
    assert [r.selector for r in dkim_keys.dns_records("mycompany.test")] == [
        "postdesk1",
        "postdesk2",
    ]
    [signing] = dkim_keys.signing_keys("mycompany.test")
    assert signing.selector == "postdesk1"
    dkim_keys.mark_dkim_verified("mycompany.test", "postdesk2")
    [signing] = dkim_keys.signing_keys("mycompany.test")
    assert signing.selector == "postdesk2"


def test_private_keys_are_encrypted_at_rest_and_records_are_exact(company_address):
    keys = dkim_keys.ensure_keys("mycompany.test", ed25519=True)
    assert {k.algorithm for k in keys} == {"rsa-sha256", "ed25519-sha256"}
    for key in keys:
        assert b"PRIVATE KEY" not in bytes(key.private_key_encrypted)
    record = next(r for r in dkim_keys.dns_records("mycompany.test") if r.algorithm == "rsa-sha256")
    assert record.name == "postdesk1._domainkey.mycompany.test"
    assert record.value.startswith("v=DKIM1; k=rsa; p=MIIB")
    assert all(len(s) <= 255 for s in record.strings) and "".join(record.strings) == record.value
    # Copying a sealed key to another selector does not give a usable key.
    rsa = DkimKey.objects.get(domain="mycompany.test", selector="postdesk1")
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
        dkim_keys.decrypt_private_key(rsa.private_key_encrypted, "mycompany.test", "postdesk2")


def dsn(return_path: str, failed: str, status: str = "5.1.1", action: str = "failed") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.com\r\n"
        f"To: {return_path}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} user unknown\r\n"
        "--b--\r\n"
    ).encode()


def test_a_hard_bounce_marks_the_identity_undeliverable(locmem_relay, new_ticket, run_tasks):
    ticket = new_ticket()
    agent = User.objects.create_user("jane@desk.test", "pw-123456789", role=Role.AGENT)
    reply = Comment.objects.create(ticket=ticket, author=agent, body="Hi", public=True)
    outbound = services.send_public_reply(reply)
    run_tasks()
    recipient = outbound.recipients.get()

    assert bounces.handle_bounce(
        dsn(recipient.return_path, "ada@example.com"), [recipient.return_path]
    )
    recipient.refresh_from_db()
    assert recipient.status == RecipientStatus.BOUNCED
    assert "5.1.1" in recipient.reply_text
    identity = UserIdentity.objects.get(email="ada@example.com")
    assert identity.undeliverable and "5.1.1" in identity.undeliverable_reason
    # No more mail to it.
    second = Comment.objects.create(ticket=ticket, author=agent, body="Hello?", public=True)
    assert services.send_public_reply(second).status == OutboundStatus.FAILED


def test_a_delay_warning_changes_nothing_but_the_note(locmem_relay, new_ticket, run_tasks):
    ticket = new_ticket()
    outbound = services.notify_new_ticket(ticket, ticket.comments.get())
    run_tasks()
    recipient = outbound.recipients.get()
    report = dsn(recipient.return_path, "ada@example.com", status="4.4.1", action="delayed")
    assert bounces.handle_bounce(report, [recipient.return_path])
    recipient.refresh_from_db()
    assert recipient.status == RecipientStatus.SENT and recipient.reply_text.startswith("delayed")
    assert not UserIdentity.objects.get(email="ada@example.com").undeliverable


def test_forged_verp_paths_and_strangers_bounces_match_nothing(locmem_relay, new_ticket, run_tasks):
    ticket = new_ticket()
    outbound = services.notify_new_ticket(ticket, ticket.comments.get())
    run_tasks()
    forged = outbound.recipients.get().return_path[:-12] + "aaaaaaaaaaaa@desk.test"
    assert not bounces.handle_bounce(dsn(forged, "ada@example.com"), [forged])
    assert not bounces.handle_bounce(dsn("x@desk.test", "ada@example.com"), ["x@desk.test"])
    assert not UserIdentity.objects.get(email="ada@example.com").undeliverable


def test_the_outbox_page_needs_an_agent_and_shows_the_mail(locmem_relay, run_tasks, client: Client):
    outbound = services.send_system_mail(to="a@example.com", subject="<b>Hi</b>", text="t")
    run_tasks()
    assert client.get("/outbox/").status_code == 302  # to the login page
    User.objects.create_user("eve@example.com", "pw-123456789")  # an end user
    client.login(email="eve@example.com", password="pw-123456789")
    assert client.get("/outbox/").status_code == 403
    User.objects.create_user("jane@desk.test", "pw-123456789", role=Role.AGENT)
    client.login(email="jane@desk.test", password="pw-123456789")
    page = client.get("/outbox/").content.decode()
    assert "a@example.com" in page and "&lt;b&gt;Hi&lt;/b&gt;" in page and "<b>Hi</b>" not in page
    detail = client.get(f"/outbox/{outbound.pk}/").content.decode()
    assert outbound.message_id.replace("<", "&lt;").replace(">", "&gt;") in detail


def test_the_outbox_page_in_korean(locmem_relay, client: Client):
    User.objects.create_user("jane@desk.test", "pw-123456789", role=Role.AGENT)
    client.login(email="jane@desk.test", password="pw-123456789")
    page = client.get("/outbox/", headers={"accept-language": "ko"}).content.decode()
    assert "보낼 편지함" in page and "아직 발신 메일이 없습니다." in page
