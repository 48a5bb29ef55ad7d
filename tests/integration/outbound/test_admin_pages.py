"""Admin pages: notification texts an admin rewrites, DKIM keys with their DNS records."""

from __future__ import annotations

import pytest

from postdesk.channels.models import AddressKind, SupportAddress
from postdesk.outbound import notifications
from postdesk.outbound.models import DkimKey, NotificationTemplate
from postdesk.tickets.models import Role, User

pytestmark = pytest.mark.django_db

EDIT_URL = "/admin/notifications/new_ticket/en/"


@pytest.fixture
def admin_client(client):
    admin = User.objects.create_user("root@desk.test", "pw-123456789", role=Role.ADMIN)
    client.force_login(admin)
    return client


def test_an_admin_rewrites_a_notification_and_can_go_back_to_the_built_in_text(admin_client):
    page = admin_client.get(EDIT_URL)
    assert page.status_code == 200
    built_in_subject, _ = notifications.built_in("new_ticket", "en")
    assert built_in_subject in page.content.decode()
    response = admin_client.post(
        EDIT_URL, {"subject": "We got it: {{ ticket.subject }}", "body": "Hi {{ requester.name }}"}
    )
    assert response.status_code == 302
    assert notifications.source("new_ticket", "en") == (
        "We got it: {{ ticket.subject }}",
        "Hi {{ requester.name }}",
    )
    admin_client.post(EDIT_URL, {"reset": "1"})
    assert not NotificationTemplate.objects.exists()


def test_unknown_placeholders_and_two_line_subjects_are_form_errors(admin_client):
    response = admin_client.post(EDIT_URL, {"subject": "Hi {{ ticket.secret }}", "body": "x"})
    assert response.status_code == 200
    assert "ticket.secret" in response.content.decode()
    response = admin_client.post(EDIT_URL, {"subject": "one\r\nBcc: x@example.com", "body": "x"})
    assert response.status_code == 200
    assert not NotificationTemplate.objects.exists()


def test_unknown_templates_are_404(admin_client):
    assert admin_client.get("/admin/notifications/nope/en/").status_code == 404
    assert admin_client.get("/admin/notifications/new_ticket/fr/").status_code == 404


def test_dkim_keys_are_generated_for_an_external_domain_and_their_records_shown(admin_client):
    SupportAddress.objects.create(email="billing@mycompany.test", kind=AddressKind.EXTERNAL)
    page = admin_client.get("/admin/dkim/").content.decode()
    assert "mycompany.test" in page and "Generate keys" in page
    response = admin_client.post(
        "/admin/dkim/generate/", {"domain": "mycompany.test", "action": "generate", "ed25519": "on"}
    )
    assert response.status_code == 302
    assert sorted(DkimKey.objects.values_list("algorithm", flat=True)) == [
        "ed25519-sha256",
        "rsa-sha256",
    ]
    page = admin_client.get("/admin/dkim/").content.decode()
    assert "postdesk1._domainkey.mycompany.test" in page
    assert "v=DKIM1; k=rsa; p=" in page


def test_keys_only_for_our_sending_domains(admin_client):
    response = admin_client.post("/admin/dkim/generate/", {"domain": "victim.example"})
    assert response.status_code == 404
    assert not DkimKey.objects.exists()


@pytest.mark.parametrize("url", ["/admin/notifications/", EDIT_URL, "/admin/dkim/"])
def test_agents_and_anonymous_are_kept_out(client, url):
    assert client.get(url).status_code == 302  # to the login page
    agent = User.objects.create_user("jane@desk.test", "pw-123456789", role=Role.AGENT)
    client.force_login(agent)
    assert client.get(url).status_code == 403
