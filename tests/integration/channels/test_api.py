"""``/api/v2/recipient_addresses`` (SPEC F16): Zendesk's shapes, errors and auth, and a real
Zendesk client (zenpy) against a live server."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import pytest
from django.test import Client

from postdesk.channels import services
from postdesk.channels.models import SupportAddress, VerificationAttempt, VerificationStatus
from postdesk.outbound.relays import locmem
from postdesk.tickets import api_tokens
from postdesk.tickets.models import Group, User
from tests.conftest import free_port

pytestmark = pytest.mark.django_db

BASE = "/api/v2/recipient_addresses"
ZENDESK_FIELDS = {
    "id",
    "url",
    "brand_id",
    "email",
    "name",
    "default",
    "forwarding_status",
    "spf_status",
    "cname_status",
    "domain_verification_status",
    "domain_verification_code",
    "dns_results",
    "created_at",
    "updated_at",
}


def _client(user: User) -> Client:
    token = api_tokens.create(user, "test")
    auth = base64.b64encode(f"{user.email}/token:{token}".encode()).decode()
    return Client(HTTP_AUTHORIZATION=f"Basic {auth}")


@pytest.fixture
def api(admin: User) -> Client:
    return _client(admin)


def _put(client: Client, url: str, body: Any) -> Any:
    return client.put(url, json.dumps(body), content_type="application/json")


def _post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_list_has_zendesk_fields_and_pagination(api: Client, external: SupportAddress) -> None:
    services.create_hosted("orders")
    first = api.get(BASE, {"per_page": 2})
    assert first.status_code == 200
    body = first.json()
    assert body["count"] == 4  # system, billing@mycompany, its target, orders
    assert len(body["recipient_addresses"]) == 2
    assert body["next_page"] and body["previous_page"] is None
    assert set(body["recipient_addresses"][0]) >= ZENDESK_FIELDS
    second = api.get(body["next_page"])
    assert [a["email"] for a in second.json()["recipient_addresses"]] == [
        "billing@mycompany.test",
        "orders@desk.test",
    ]
    cursor = api.get(BASE, {"page[size]": 3}).json()
    assert cursor["meta"]["has_more"] is True
    shown = api.get(f"{BASE}/{external.pk}.json").json()["recipient_address"]
    assert shown["forwarding_status"] == "unknown"
    assert shown["kind"] == "external"
    assert shown["forwarding_target"] == "billing@desk.test"


def test_create_update_delete(api: Client, billing_group: Group) -> None:
    created = _post(
        api, BASE, {"recipient_address": {"email": "Help@MyCompany.test", "name": "Help"}}
    )
    assert created.status_code == 201
    address = created.json()["recipient_address"]
    assert address["email"] == "help@mycompany.test"
    assert address["forwarding_status"] == "unknown"
    updated = _put(
        api,
        f"{BASE}/{address['id']}",
        {"recipient_address": {"name": "Helpdesk", "group_id": billing_group.pk}},
    )
    assert updated.status_code == 200
    assert updated.json()["recipient_address"]["name"] == "Helpdesk"
    assert updated.json()["recipient_address"]["group_id"] == billing_group.pk
    assert api.delete(f"{BASE}/{address['id']}").status_code == 204
    assert api.get(f"{BASE}/{address['id']}").status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"recipient_address": {"email": "nope"}}, "email"),
        (
            {"recipient_address": {"email": "x@desk.test", "forwarding_target": "y@desk.test"}},
            "email",
        ),
        ({"recipient_address": {"name": "no email"}}, "email"),
        ({"email": "flat@mycompany.test"}, "recipient_address"),
        ({"recipient_address": {"email": ["a@b.test"]}}, "email"),
        ({"recipient_address": {"email": "a@b.test", "group_id": 999}}, "group_id"),
    ],
)
def test_bad_creates_answer_422_in_zendesk_format_and_create_nothing(
    api: Client, payload: dict[str, Any], field: str
) -> None:
    before = SupportAddress.objects.count()
    response = _post(api, BASE, payload)
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["error"] == "RecordInvalid"
    # Schema errors are keyed by their path inside the body ("recipient_address.email").
    keys = {key: key.rpartition(".")[2] for key in body["details"]}
    assert field in keys.values(), body
    key = next(k for k, v in keys.items() if v == field)
    assert {"description", "error"} <= set(body["details"][key][0])
    assert SupportAddress.objects.count() == before


def test_duplicates_email_changes_and_default_rules(api: Client, external: SupportAddress) -> None:
    duplicate = _post(api, BASE, {"recipient_address": {"email": "billing@mycompany.test"}})
    assert duplicate.status_code == 422
    assert duplicate.json()["details"]["email"][0]["error"] == "DuplicateValue"
    changed = _put(
        api, f"{BASE}/{external.pk}", {"recipient_address": {"email": "other@mycompany.test"}}
    )
    assert changed.status_code == 422
    unverified_default = _put(
        api, f"{BASE}/{external.pk}", {"recipient_address": {"default": True, "name": "X"}}
    )
    assert unverified_default.status_code == 422
    external.refresh_from_db()
    assert external.name == "Billing" and not external.default  # nothing half-applied
    system = SupportAddress.objects.get(is_system=True)
    refused = api.delete(f"{BASE}/{system.pk}")
    assert refused.status_code == 422
    assert "can't be deleted" in refused.json()["details"]["base"][0]["description"]


def test_verify_forwarding_spf_and_hosted(
    api: Client, external: SupportAddress, relay: list[locmem.LocmemMail], settings: Any
) -> None:
    response = _put(api, f"{BASE}/{external.pk}/verify", {"type": "forwarding"})
    assert response.status_code == 200
    assert response.json()["recipient_address"]["forwarding_status"] == "waiting"
    assert VerificationAttempt.objects.filter(address=external).count() == 1
    again = api.put(f"{BASE}/{external.pk}/verify")  # no body: forwarding, rate-limited now
    assert again.status_code == 429 and int(again["Retry-After"]) > 0
    # The SPF check is live (tests/e2e/test_check_dns.py has a real DNS server): with the DNS
    # unreachable it says nothing, so the stored status stays as it was.
    settings.POSTDESK = dataclasses.replace(
        settings.POSTDESK, dns_servers=(f"127.0.0.1:{free_port()}",)
    )
    spf = _put(api, f"{BASE}/{external.pk}/verify", {"type": "spf"})
    assert spf.status_code == 200
    assert spf.json()["recipient_address"]["spf_status"] == "unknown"
    assert VerificationAttempt.objects.count() == 1
    bad_type = _put(api, f"{BASE}/{external.pk}/verify", {"type": "carrier-pigeon"})
    assert bad_type.status_code == 422 and "type" in bad_type.json()["details"]
    system = SupportAddress.objects.get(is_system=True)
    hosted = _put(api, f"{BASE}/{system.pk}/verify", {"type": "forwarding"})
    assert hosted.status_code == 422
    assert hosted.json()["error"] == "RecordInvalid"
    # A hosted address lives on the desk's own domain: no live check, its statuses as stored.
    hosted_dns = _put(api, f"{BASE}/{system.pk}/verify", {"type": "dns"})
    assert hosted_dns.status_code == 200
    assert hosted_dns.json()["recipient_address"]["cname_status"] == "unknown"


def test_agents_read_admins_write_strangers_get_nothing(
    agent: User, external: SupportAddress
) -> None:
    agent_api = _client(agent)
    assert agent_api.get(BASE).status_code == 200
    refused = _post(agent_api, BASE, {"recipient_address": {"email": "x@mycompany.test"}})
    assert refused.status_code == 403
    assert _put(agent_api, f"{BASE}/{external.pk}/verify", {}).status_code == 403
    assert Client().get(BASE).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_zenpy_works_unchanged_against_a_live_server(
    live_server: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    from zenpy import Zenpy
    from zenpy.lib.api_objects import RecipientAddress

    admin = User.objects.create_user("admin@desk.test", role="admin")
    token = api_tokens.create(admin, "zenpy")
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", live_server.url.removeprefix("http://"))
    zenpy = Zenpy(subdomain="desk", email="admin@desk.test", token=token)

    created = zenpy.recipient_addresses.create(
        RecipientAddress(email="billing@mycompany.test", name="Billing")
    )
    assert created.email == "billing@mycompany.test"
    assert created.forwarding_status == "unknown"
    emails = [a.email for a in zenpy.recipient_addresses()]
    assert "billing@mycompany.test" in emails and "support@desk.test" in emails
    fetched = zenpy.recipient_addresses(id=created.id)
    fetched.name = "Billing team"
    updated = zenpy.recipient_addresses.update(fetched)
    assert updated.name == "Billing team"
    assert SupportAddress.objects.get(pk=created.id).name == "Billing team"
    zenpy.recipient_addresses.delete(updated)
    assert not SupportAddress.objects.filter(pk=created.id).exists()
    assert VerificationStatus.UNKNOWN == "unknown"
