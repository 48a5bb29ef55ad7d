"""Every page needs the right role: anonymous visitors are sent to sign in, customers get
nothing, agents get no admin pages; sign-in is rate limited and CSRF-protected."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import Client
from django.urls import reverse

from postdesk.tickets.models import Group, Role, User

from .conftest import make_ticket, make_user

pytestmark = pytest.mark.django_db

AGENT_PAGES = ["home", "profile"]
ADMIN_PAGES = ["admin-center", "admin-groups", "admin-group-new", "admin-agents"]


def test_anonymous_is_sent_to_sign_in(customer: User) -> None:
    ticket = make_ticket(customer)
    client = Client()
    urls = [reverse(name) for name in AGENT_PAGES + ADMIN_PAGES]
    urls += [reverse("ticket", args=[ticket.pk])]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/"), url
    response = client.post(reverse("ticket", args=[ticket.pk]), {"status": "solved"})
    assert response.status_code in (302, 403)
    ticket.refresh_from_db()
    assert ticket.status == "new"


def test_end_user_cannot_sign_in(customer: User) -> None:
    client = Client()
    response = client.post("/login/", {"username": customer.email, "password": "correct horse 9"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "can&#x27;t sign in here" in response.content.decode()


def test_end_user_session_gets_nothing(customer: User) -> None:
    ticket = make_ticket(customer)
    client = Client()
    client.force_login(customer)
    for url in [reverse(n) for n in AGENT_PAGES + ADMIN_PAGES] + [
        reverse("ticket", args=[ticket.pk])
    ]:
        assert client.get(url).status_code == 403, url
    attachment_url = reverse("attachment", args=[1, "x.txt"])
    assert client.get(attachment_url).status_code == 403


def test_agent_gets_no_admin_pages(agent_client: Client) -> None:
    for name in ADMIN_PAGES:
        assert agent_client.get(reverse(name)).status_code == 403, name
    response = agent_client.post(reverse("admin-group-new"), {"name": "Sneaky"})
    assert response.status_code == 403
    assert not Group.objects.exists()
    response = agent_client.post(
        reverse("admin-agents"), {"email": "new@desk.test", "role": "admin"}
    )
    assert response.status_code == 403
    assert not User.objects.filter(email="new@desk.test").exists()


def test_admin_gets_admin_pages(admin_client: Client) -> None:
    for name in ADMIN_PAGES + AGENT_PAGES:
        assert admin_client.get(reverse(name)).status_code == 200, name


def test_sign_in_and_out(agent: User) -> None:
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login/")
    token = page.context["csrf_token"]
    response = client.post(
        "/login/",
        {
            "username": "AGENT@desk.test",
            "password": "correct horse 9",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    # Sign-out is a POST with the CSRF token.
    assert client.post("/logout/").status_code == 403
    home = client.get("/")
    client.post("/logout/", {"csrfmiddlewaretoken": home.context["csrf_token"]})
    assert client.get("/").status_code == 302


def test_sign_in_without_csrf_token_is_refused(agent: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")
    response = client.post("/login/", {"username": agent.email, "password": "correct horse 9"})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_sign_in_is_rate_limited(agent: User, settings) -> None:  # type: ignore[no-untyped-def]
    settings.POSTDESK_LOGIN_FAILURES = 3
    client = Client()
    for _ in range(3):
        response = client.post("/login/", {"username": agent.email, "password": "wrong"})
        assert response.status_code == 200
    # Now even the right password is refused until the window ends.
    response = client.post("/login/", {"username": agent.email, "password": "correct horse 9"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session


def test_rate_limit_counts_per_email_across_addresses(agent: User, settings) -> None:  # type: ignore[no-untyped-def]
    settings.POSTDESK_LOGIN_FAILURES = 2
    for n in range(2):
        Client(REMOTE_ADDR=f"10.0.0.{n}").post(
            "/login/", {"username": agent.email, "password": "wrong"}
        )
    response = Client(REMOTE_ADDR="10.0.0.9").post(
        "/login/", {"username": agent.email, "password": "correct horse 9"}
    )
    assert response.status_code == 429


def test_passwords_are_hashed_with_argon2() -> None:
    from django.conf import settings

    assert os.environ.get("DJANGO_SETTINGS_MODULE") == "tests.settings"
    # The test settings swap in a fast hasher; production settings must use Argon2 first.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django,os;os.environ['DJANGO_SETTINGS_MODULE']='postdesk.settings';"
            "django.setup();from django.conf import settings as s;"
            "from django.contrib.auth.hashers import make_password;"
            "print(s.PASSWORD_HASHERS[0]);print(make_password('x')[:9])",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "POSTDESK_DATA_DIR": str(settings.DATA_DIR)},
        check=True,
    ).stdout.split()
    assert out == ["django.contrib.auth.hashers.Argon2PasswordHasher", "argon2$ar"]


def test_cookies_are_secure_behind_https(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import django,os;os.environ['DJANGO_SETTINGS_MODULE']='postdesk.settings';"
        "django.setup();from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY)"
    )
    env = {**os.environ, "POSTDESK_DATA_DIR": str(tmp_path)}
    https = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "POSTDESK_PUBLIC_URL": "https://desk.example"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert https.stdout.split() == ["True", "True", "True"]
    plain = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "POSTDESK_PUBLIC_URL": "http://127.0.0.1:8000"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert plain.stdout.split() == ["False", "False", "True"]


def test_deactivated_agent_loses_access(admin_client: Client) -> None:
    agent = make_user("leaver@desk.test", Role.AGENT)
    client = Client()
    client.force_login(agent)
    assert client.get("/").status_code == 200
    admin_client.post(reverse("admin-agent", args=[agent.pk]), {"role": "agent"})
    agent.refresh_from_db()
    assert not agent.is_active
    assert client.get("/").status_code == 302
