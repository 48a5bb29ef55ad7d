"""Admin Center → Channels → Email, through Django's test client (the browser test drives
the same pages in Chromium)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from postdesk.channels.models import (
    AddressKind,
    RoutingRule,
    SupportAddress,
    VerificationStatus,
)
from postdesk.outbound.relays import locmem
from postdesk.spool.models import InboundMessage
from postdesk.tickets.models import Group, User

from .conftest import handle, outbox_raw

pytestmark = pytest.mark.django_db


def test_pages_need_an_admin(agent: User, external: SupportAddress) -> None:
    anonymous = Client()
    page = anonymous.get(reverse("channels:addresses"))
    assert page.status_code == 302 and "/login/" in page["Location"]
    agent_client = Client()
    agent_client.force_login(agent)
    for url in (
        reverse("channels:addresses"),
        reverse("channels:address", args=[external.pk]),
        reverse("channels:add-forwarding"),
        reverse("channels:routing"),
    ):
        assert agent_client.get(url).status_code == 403
    assert agent_client.post(reverse("channels:verify", args=[external.pk])).status_code == 403


def test_forms_need_csrf(admin: User, external: SupportAddress) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post(reverse("channels:verify", args=[external.pk])).status_code == 403


def test_list_shows_statuses_at_a_glance(admin_client: Client, external: SupportAddress) -> None:
    page = admin_client.get(reverse("channels:addresses"))
    html = page.content.decode()
    assert "billing@mycompany.test" in html
    assert "support@desk.test" in html
    row = re.search(rf'<tr id="address-{external.pk}">(.*?)</tr>', html, re.S)
    assert row is not None
    assert "verify-unknown" in row.group(1)
    assert "billing@desk.test" in row.group(1)  # forwarding target


def test_wizard_from_add_address_to_waiting(
    admin_client: Client, billing_group: Group, relay: list[locmem.LocmemMail]
) -> None:
    choice = admin_client.get(reverse("channels:add"))
    assert reverse("channels:add-external").encode() in choice.content
    method = admin_client.get(reverse("channels:add-external"))
    assert reverse("channels:add-forwarding").encode() in method.content
    step1 = admin_client.post(
        reverse("channels:add-forwarding"),
        {
            "email": "billing@mycompany.test",
            "name": "Billing",
            "provider": "microsoft",
            "target_choice": "new",
            "group": billing_group.pk,
        },
    )
    address = SupportAddress.objects.get(email="billing@mycompany.test")
    assert step1.status_code == 302
    assert step1["Location"] == reverse("channels:setup", args=[address.pk])
    setup = admin_client.get(step1["Location"])
    assert b'value="billing@desk.test"' in setup.content
    assert b"Outlook" in setup.content
    gmail = admin_client.get(step1["Location"] + "?provider=gmail")
    assert b"Forwarding and POP/IMAP" in gmail.content
    verify_step = admin_client.get(reverse("channels:verify-step", args=[address.pk]))
    assert b"Verify" in verify_step.content
    started = admin_client.post(reverse("channels:verify", args=[address.pk]))
    assert started["Location"] == reverse("channels:address", args=[address.pk])
    status = admin_client.get(started["Location"])
    address.refresh_from_db()
    assert address.forwarding_status == VerificationStatus.WAITING
    assert status["Refresh"] == "5"
    assert b'http-equiv="refresh"' in status.content


def test_status_page_stops_refreshing_once_verified(
    admin_client: Client,
    external: SupportAddress,
    admin: User,
    relay: list[locmem.LocmemMail],
    returning: Callable[..., InboundMessage],
) -> None:
    from postdesk.channels import verification

    attempt = verification.start(external, requested_by=admin)
    handle(returning(outbox_raw(attempt), "billing@desk.test"))
    page = admin_client.get(reverse("channels:address", args=[external.pk]))
    assert "Refresh" not in page
    assert b"verify-verified" in page.content
    assert b"Verify again" in page.content


@pytest.mark.parametrize(
    ("email", "words"),
    [
        ("billing@desk.test", b"hosted address instead"),
        ("not-an-address", b"valid email address"),
    ],
)
def test_wizard_form_errors(admin_client: Client, email: str, words: bytes) -> None:
    before = SupportAddress.objects.count()
    page = admin_client.post(
        reverse("channels:add-forwarding"),
        {"email": email, "provider": "gmail", "target_choice": "new"},
    )
    assert page.status_code == 200
    assert words in page.content
    assert SupportAddress.objects.count() == before


def test_duplicate_external_address_is_a_form_error(
    admin_client: Client, external: SupportAddress
) -> None:
    page = admin_client.post(
        reverse("channels:add-forwarding"),
        {"email": "billing@mycompany.test", "provider": "gmail", "target_choice": "new"},
    )
    assert b"already a support address" in page.content


def test_create_hosted_and_refuse_deleting_the_default(admin_client: Client) -> None:
    created = admin_client.post(reverse("channels:add-hosted"), {"email": "orders", "name": "O"})
    address = SupportAddress.objects.get(email="orders@desk.test")
    assert address.kind == AddressKind.HOSTED and created.status_code == 302
    system = SupportAddress.objects.get(is_system=True)
    refused = admin_client.post(reverse("channels:delete", args=[system.pk]))
    assert refused.status_code == 200 and b"can&#x27;t be deleted" in refused.content
    admin_client.post(reverse("channels:default", args=[address.pk]))
    address.refresh_from_db()
    assert address.default
    deleted = admin_client.post(reverse("channels:delete", args=[system.pk]))
    assert b"can&#x27;t be deleted" in deleted.content


def test_verifying_a_hosted_address_shows_an_error(admin_client: Client) -> None:
    system = SupportAddress.objects.get(is_system=True)
    response = admin_client.post(reverse("channels:verify", args=[system.pk]), follow=True)
    assert b"needs no forwarding verification" in response.content


def test_failure_banner_and_dismissable_notice(
    admin_client: Client, external: SupportAddress
) -> None:
    SupportAddress.objects.filter(pk=external.pk).update(
        forwarding_status=VerificationStatus.FAILED, failure_reason="not_received"
    )
    page = admin_client.get(reverse("channels:addresses"))
    assert b"Forwarding verification failed" in page.content
    assert b"the test mail did not come back" in page.content


def test_routing_rule_editing(
    admin_client: Client, external: SupportAddress, billing_group: Group
) -> None:
    empty = admin_client.post(
        reverse("channels:routing"), {"received_at": external.pk, "position": 0, "active": "on"}
    )
    assert b"must set a group, a priority or tags" in empty.content
    admin_client.post(
        reverse("channels:routing"),
        {
            "received_at": external.pk,
            "group": billing_group.pk,
            "priority": "urgent",
            "tags_text": "Invoices, money",
            "position": 1,
            "active": "on",
        },
    )
    rule = RoutingRule.objects.get()
    assert (rule.group, rule.priority, rule.tags) == (
        billing_group,
        "urgent",
        ["invoices", "money"],
    )
    admin_client.post(
        reverse("channels:routing-rule", args=[rule.pk]),
        {"received_at": external.pk, "priority": "low", "tags_text": "", "position": 1},
    )
    rule.refresh_from_db()
    assert (rule.group, rule.priority, rule.tags, rule.active) == (None, "low", [], False)
    admin_client.post(reverse("channels:routing-delete", args=[rule.pk]))
    assert not RoutingRule.objects.exists()


def test_wildcard_toggle(admin_client: Client) -> None:
    from postdesk.channels.addresses import wildcard_enabled

    admin_client.post(reverse("channels:wildcard"), {})
    assert not wildcard_enabled()
    admin_client.post(reverse("channels:wildcard"), {"wildcard_enabled": "on"})
    assert wildcard_enabled()
