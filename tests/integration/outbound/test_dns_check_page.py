"""The DKIM keys page's DNS part: the SPF and DMARC records to publish and "Check DNS now".

The live check against records that are right runs in ``tests/e2e/test_dns_check_page.py``
with a real DNS server; here DNS is a closed local port, which is what an outage looks like.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.test import Client

from postdesk.channels.models import AddressKind, SupportAddress, VerificationStatus
from postdesk.outbound import dkim_keys
from postdesk.outbound.models import DkimKey
from postdesk.tickets.models import User
from tests.conftest import free_port

pytestmark = pytest.mark.django_db

DOMAIN = "mycompany.test"
PAGE = "/admin/dkim/"
CHECK = "/admin/dkim/check/"
DESK_SPF = "_spf.desk.test"


@pytest.fixture
def company(settings: Any) -> SupportAddress:
    """An external address of mycompany.test with a DKIM key; DNS is a closed port."""
    settings.POSTDESK = dataclasses.replace(
        settings.POSTDESK, dns_servers=(f"127.0.0.1:{free_port()}",), spf_include=DESK_SPF
    )
    address = SupportAddress.objects.create(
        email=f"billing@{DOMAIN}", name="Billing", kind=AddressKind.EXTERNAL
    )
    dkim_keys.ensure_keys(DOMAIN)
    return address


def signed_in(user: User, language: str = "en") -> Client:
    client = Client(headers={"accept-language": language})
    client.force_login(user)
    return client


def test_the_page_shows_the_spf_include_and_dmarc_advice(
    admin: User, company: SupportAddress
) -> None:
    page = signed_in(admin).get(PAGE).content.decode()
    assert f"<code>include:{DESK_SPF}</code>" in page
    assert f"v=spf1 include:{DESK_SPF} ~all" in page
    assert f"_dmarc.{DOMAIN}" in page
    assert f"v=DMARC1; p=none; rua=mailto:dmarc@{DOMAIN}" in page
    assert "p=reject" in page and "p=quarantine" in page
    assert "Check DNS now" in page
    assert "Last DNS check" not in page  # nothing checked yet


def test_agents_are_refused(agent: User, company: SupportAddress) -> None:
    response = signed_in(agent).post(CHECK, {"domain": DOMAIN})
    assert response.status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(company: SupportAddress) -> None:
    response = Client().post(CHECK, {"domain": DOMAIN})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_only_our_sending_domains_are_checked(admin: User, company: SupportAddress) -> None:
    client = signed_in(admin)
    assert client.post(CHECK, {"domain": "victim.example"}).status_code == 404
    assert client.post(CHECK, {}).status_code == 404
    assert client.get(CHECK, {"domain": DOMAIN}).status_code == 405


def test_a_post_without_csrf_token_is_refused(admin: User, company: SupportAddress) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post(CHECK, {"domain": DOMAIN}).status_code == 403
    assert "Last DNS check" not in client.get(PAGE).content.decode()


def test_an_unreachable_dns_shows_unknown_and_changes_nothing(
    admin: User, company: SupportAddress
) -> None:
    client = signed_in(admin)
    response = client.post(CHECK, {"domain": DOMAIN})
    assert response.status_code == 302 and response["Location"] == PAGE
    page = client.get(PAGE).content.decode()
    assert "Last DNS check" in page
    last_check = page.split("Last DNS check")[1]
    assert last_check.count('class="badge status-unknown"') == 4  # SPF, DKIM, selector, DMARC
    assert "status-verified" not in last_check and "status-failed" not in last_check
    assert "no answer in time" in last_check or "failed or refused" in last_check
    assert f"Could not look up TXT {DOMAIN}" in page
    assert f"Could not look up CNAME postdesk1._domainkey.{DOMAIN}" in page
    assert f"Could not look up TXT _dmarc.{DOMAIN}" in page
    # An outage changes nothing stored.
    key = DkimKey.objects.get(domain=DOMAIN)
    assert key.status == VerificationStatus.UNKNOWN and not key.active
    company.refresh_from_db()
    assert company.spf_status == VerificationStatus.UNKNOWN


def test_each_domain_keeps_its_own_last_check(admin: User, company: SupportAddress) -> None:
    SupportAddress.objects.create(email="help@other.test", kind=AddressKind.EXTERNAL)
    client = signed_in(admin)
    client.post(CHECK, {"domain": "other.test"})
    page = client.get(PAGE).content.decode()
    assert page.count("Last DNS check") == 1
    assert "no DKIM key for other.test" in page
    assert "Could not look up TXT other.test" in page
    assert f"Could not look up TXT {DOMAIN}" not in page


def test_the_korean_page_translates_the_advice_and_the_problems(
    admin: User, company: SupportAddress
) -> None:
    client = signed_in(admin, "ko")
    client.post(CHECK, {"domain": DOMAIN})
    page = client.get(PAGE).content.decode()
    assert "지금 DNS 확인" in page
    assert "마지막 DNS 확인" in page
    assert f"TXT {DOMAIN}을(를) 조회할 수 없습니다" in page
    assert "알 수 없음" in page
    assert "Could not look up" not in page
    assert "Last DNS check" not in page


def test_a_last_check_of_another_shape_in_the_session_is_ignored(
    admin: User, company: SupportAddress
) -> None:
    client = signed_in(admin)
    session = client.session
    session[f"postdesk.dns_check.{DOMAIN}"] = {"report": {"spf": "old"}, "checked_at": "x"}
    session.save()
    response = client.get(PAGE)
    assert response.status_code == 200
    assert "Last DNS check" not in response.content.decode()
