"""The DKIM keys page's "Check DNS now" against a real DNS server (dnsmasq).

A customer's zone is published right; the admin presses the button and the page shows SPF,
DKIM and DMARC verified, and the key it checked is now the one that signs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.test import Client

from postdesk.channels.models import AddressKind, SupportAddress, VerificationStatus
from postdesk.outbound import dkim_keys
from postdesk.outbound.models import DkimKey
from postdesk.tickets.models import Role, User

from .servers.dns import DnsServer

pytestmark = pytest.mark.django_db

DOMAIN = "mycompany.test"
DESK_SPF = "_spf.desk.test"


def test_check_dns_now_shows_a_correct_setup_verified(settings: Any, dns_server: DnsServer) -> None:
    settings.POSTDESK = dataclasses.replace(
        settings.POSTDESK, dns_servers=(dns_server.address,), spf_include=DESK_SPF
    )
    address = SupportAddress.objects.create(
        email=f"billing@{DOMAIN}", name="Billing", kind=AddressKind.EXTERNAL
    )
    dkim_keys.ensure_keys(DOMAIN)
    [key] = dkim_keys.dns_records(DOMAIN)
    dns_server.set_records(
        {
            DOMAIN: {"TXT": [f"v=spf1 include:{DESK_SPF} ~all"]},
            DESK_SPF: {"TXT": ["v=spf1 ip4:127.0.0.1 -all"]},
            key.name: {"TXT": [key.value]},
            f"_dmarc.{DOMAIN}": {"TXT": [f"v=DMARC1; p=none; rua=mailto:dmarc@{DOMAIN}"]},
        }
    )
    admin = User.objects.create_user("admin@desk.test", password="admin-pass-1", role=Role.ADMIN)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    page = client.get("/admin/dkim/")
    token = page.context["csrf_token"]
    response = client.post("/admin/dkim/check/", {"domain": DOMAIN, "csrfmiddlewaretoken": token})
    assert response.status_code == 302

    last_check = client.get("/admin/dkim/").content.decode().split("Last DNS check")[1]
    assert last_check.count('class="badge status-verified"') == 4  # SPF, DKIM, selector, DMARC
    assert "status-unknown" not in last_check and "status-failed" not in last_check
    assert f"v=spf1 include:{DESK_SPF} ~all" in last_check and "p=none" in last_check
    assert "postdesk1" in last_check
    assert '<ul class="problems">' not in last_check

    stored = DkimKey.objects.get(domain=DOMAIN)
    assert stored.status == VerificationStatus.VERIFIED and stored.active
    assert [k.selector for k in dkim_keys.signing_keys(DOMAIN)] == ["postdesk1"]
    address.refresh_from_db()
    assert address.spf_status == VerificationStatus.VERIFIED
