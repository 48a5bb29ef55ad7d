"""The profile page (API tokens shown once, stored hashed, revocable), the Admin Center's
groups and agents (one-time sign-in links), and the interface in Korean."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.test import Client
from django.urls import reverse

from postdesk.tickets.models import ApiToken, Group, Role, Ticket, User

from .conftest import make_ticket

pytestmark = pytest.mark.django_db


def input_value(html: str, element_id: str) -> str | None:
    tag = re.search(rf'<input[^>]*id="{element_id}"[^>]*>', html)
    value = re.search(r'value="([^"]+)"', tag.group(0)) if tag else None
    return value.group(1) if value else None


def test_api_token_is_shown_once_and_stored_hashed(agent_client: Client, agent: User) -> None:
    response = agent_client.post(reverse("profile"), {"action": "token", "name": "zapier"})
    html = response.content.decode()
    token = input_value(html, "new-token")
    assert token is not None
    assert response["Cache-Control"] == "no-store"
    row = ApiToken.objects.get(user=agent)
    assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in agent_client.get(reverse("profile")).content.decode()
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v2/users/me").status_code == 200
    agent_client.post(reverse("revoke-token", args=[row.pk]))
    assert api.get("/api/v2/users/me").status_code == 401


def test_agent_cannot_revoke_someone_elses_token(agent_client: Client, admin: User) -> None:
    from postdesk.tickets import api_tokens

    api_tokens.create(admin, "admin's")
    row = ApiToken.objects.get(user=admin)
    assert agent_client.post(reverse("revoke-token", args=[row.pk])).status_code == 404
    row.refresh_from_db()
    assert row.revoked_at is None


def test_groups_crud(admin_client: Client, agent: User, customer: User) -> None:
    response = admin_client.post(
        reverse("admin-group-new"),
        {"name": "Billing", "description": "Money", "members": [agent.pk]},
    )
    assert response.status_code == 302
    group = Group.objects.get(name="Billing")
    assert list(group.members.all()) == [agent]
    duplicate = admin_client.post(reverse("admin-group-new"), {"name": "Billing"})
    assert duplicate.status_code == 200 and Group.objects.count() == 1
    admin_client.post(reverse("admin-group", args=[group.pk]), {"name": "Finance"})
    group.refresh_from_db()
    assert group.name == "Finance"
    ticket = make_ticket(customer)
    Ticket.objects.filter(pk=ticket.pk).update(group=group)
    admin_client.post(reverse("admin-group-delete", args=[group.pk]))
    assert not Group.objects.exists()
    ticket.refresh_from_db()
    assert ticket.group is None


def test_invite_an_agent_with_a_one_time_link(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin-agents"), {"email": "New.Agent@desk.test", "name": "New", "role": "agent"}
    )
    link = input_value(response.content.decode(), "invite-link")
    assert link is not None
    agent = User.objects.get(email="new.agent@desk.test")
    assert agent.role == Role.AGENT and not agent.has_usable_password()
    client = Client()
    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"]
    client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a long passphrase 7", "new_password2": "a long passphrase 7"},
    )
    assert Client().login(username="new.agent@desk.test", password="a long passphrase 7")
    # Used once: the link is dead now.
    assert not Client().get(link, follow=True).context["validlink"]


def test_customer_promoted_to_agent_keeps_their_account(
    admin_client: Client, customer: User
) -> None:
    admin_client.post(
        reverse("admin-agents"),
        {"email": customer.email, "role": "admin", "password": "another passphrase 8"},
    )
    customer.refresh_from_db()
    assert customer.role == Role.ADMIN
    assert User.objects.filter(email=customer.email).count() == 1


def test_admin_cannot_demote_themselves(admin_client: Client, admin: User) -> None:
    response = admin_client.post(
        reverse("admin-agent", args=[admin.pk]), {"role": "agent", "active": "on"}
    )
    assert response.status_code == 200
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN


def test_korean_from_the_browser(agent: User) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9")
    client.force_login(agent)
    html = client.get("/").content.decode()
    assert '<html lang="ko">' in html
    assert "티켓" in html and "나에게 할당됨" in html


def test_user_setting_beats_the_browser(agent: User) -> None:
    User.objects.filter(pk=agent.pk).update(locale="ko")
    client = Client(HTTP_ACCEPT_LANGUAGE="en-US")
    client.force_login(agent)
    assert "로그아웃" in client.get("/").content.decode()


def test_language_switch_is_remembered(agent_client: Client, agent: User) -> None:
    response = agent_client.post(reverse("set-language"), {"language": "ko", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    agent.refresh_from_db()
    assert agent.locale == "ko"
    assert "보기" in agent_client.get("/").content.decode()
    evil = agent_client.post(
        reverse("set-language"), {"language": "en", "next": "https://evil.example/"}
    )
    assert evil["Location"] == "/"


def test_sign_in_page_in_korean() -> None:
    html = Client(HTTP_ACCEPT_LANGUAGE="ko").get("/login/").content.decode()
    assert "로그인" in html and "비밀번호" in html
