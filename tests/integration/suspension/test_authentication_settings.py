"""Admin Center → Email authentication (SPEC F11): who gets in, what the page shows, what a
save stores, which input is refused, and that the mail screening reads the saved settings."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from postdesk.mail.rules.base import AuthProfile
from postdesk.suspension import policy
from postdesk.suspension.forms import MAX_FORWARDERS
from postdesk.suspension.models import ProtectionSettings
from postdesk.tickets.models import User

pytestmark = pytest.mark.django_db

URL = "/suspended/authentication/"


@pytest.fixture
def admin_client(admin: User) -> Client:
    client = Client()
    client.force_login(admin)
    return client


def checked_profile(page: str) -> str:
    """The value of the one checked profile radio button."""
    checked = [
        tag
        for tag in re.findall(r"<input[^>]*name=\"auth_profile\"[^>]*>", page)
        if " checked" in tag
    ]
    assert len(checked) == 1, checked
    value = re.search(r'value="([^"]*)"', checked[0])
    assert value
    return value.group(1)


def test_sign_in_required_and_agents_refused(client: Client, agent: User) -> None:
    for method in (client.get, client.post):
        response = method(URL)
        assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(agent)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"auth_profile": "off"}).status_code == 403
    assert not ProtectionSettings.objects.exists()


def test_the_page_shows_the_current_profile_and_forwarders(admin_client: Client) -> None:
    # No settings row yet: the default profile is the checked one.
    page = admin_client.get(URL).content.decode()
    assert checked_profile(page) == "default"
    assert "<fieldset>" in page and "<legend>" in page
    # Every option has a real label and points at its explanation.
    for index in range(3):
        assert f'<label for="id_auth_profile_{index}">' in page
        assert f'aria-describedby="id_auth_profile_{index}-description"' in page
        assert f'id="id_auth_profile_{index}-description"' in page
    assert 'aria-current="page">Email authentication<' in page
    assert "csrfmiddlewaretoken" in page

    ProtectionSettings.objects.create(
        pk=1, auth_profile=AuthProfile.STRICT, trusted_forwarders=["google.com", "mx.a.test"]
    )
    page = admin_client.get(URL).content.decode()
    assert checked_profile(page) == "strict"
    assert re.search(r"<textarea[^>]*>\s*google.com\nmx.a.test</textarea>", page)


def test_saving_normalises_and_deduplicates(admin_client: Client) -> None:
    response = admin_client.post(
        URL,
        {
            "auth_profile": "strict",
            "trusted_forwarders": "  Google.COM \r\n\r\noutlook.com\r\ngoogle.com\r\nmx.My-Co.test\n",
        },
    )
    assert response.status_code == 302 and response["Location"] == URL
    row = ProtectionSettings.objects.get(pk=1)
    assert row.auth_profile == "strict"
    assert row.trusted_forwarders == ["google.com", "outlook.com", "mx.my-co.test"]

    page = admin_client.get(URL).content.decode()
    assert "Email authentication settings saved." in page
    assert checked_profile(page) == "strict"

    # An empty list is a valid setting, and saving again updates the same row.
    admin_client.post(URL, {"auth_profile": "off", "trusted_forwarders": ""})
    row = ProtectionSettings.objects.get()
    assert (row.pk, row.auth_profile, row.trusted_forwarders) == (1, "off", [])


def test_saving_keeps_the_other_settings(admin_client: Client) -> None:
    ProtectionSettings.objects.create(pk=1, retention_days=30, too_many_ccs_threshold=7)
    admin_client.post(URL, {"auth_profile": "strict", "trusted_forwarders": "google.com"})
    row = ProtectionSettings.objects.get(pk=1)
    assert (row.retention_days, row.too_many_ccs_threshold) == (30, 7)
    assert row.auth_profile == "strict"


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("@google.com", "without “@”"),
        ("google.com.", "remove the dot at the end"),
        ("localhost", "is not a domain name"),
        ("mail server.test", "is not a domain name"),
        ("-bad.test", "is not a domain name"),
        ("under_score.test", "is not a domain name"),
        ("a..test", "is not a domain name"),
        ("x" * 64 + ".test", "is not a domain name"),
        ("bücher.test", "is not a domain name"),
        ("xn--zz.test", "is not a domain name"),  # not a valid A-label (postdesk.dns.names)
        (("a" * 60 + ".") * 5 + "test", "longer than 253 characters"),
    ],
)
def test_a_bad_line_is_named_and_nothing_is_saved(
    admin_client: Client, line: str, words: str
) -> None:
    response = admin_client.post(
        URL, {"auth_profile": "strict", "trusted_forwarders": f"google.com\n\n{line}\n"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Line 3:" in page and words in page
    # The textarea points at its errors (Django's aria-describedby) and they are there.
    assert 'aria-describedby="id_trusted_forwarders_helptext id_trusted_forwarders_error"' in page
    assert '<div id="id_trusted_forwarders_error">' in page
    if "longer" not in words:
        assert line.lower().strip() in page
    assert not ProtectionSettings.objects.exists()
    # The form comes back with what the admin typed, to correct it.
    assert checked_profile(page) == "strict"
    assert "google.com" in page


def test_every_bad_line_is_reported_at_once(admin_client: Client) -> None:
    ProtectionSettings.objects.create(pk=1, trusted_forwarders=["outlook.com"])
    response = admin_client.post(
        URL, {"auth_profile": "off", "trusted_forwarders": "@a.test\nok.test\nb.test."}
    )
    page = response.content.decode()
    assert "Line 1:" in page and "Line 3:" in page and "Line 2:" not in page
    row = ProtectionSettings.objects.get(pk=1)
    assert (row.auth_profile, row.trusted_forwarders) == ("default", ["outlook.com"])


def test_too_many_forwarders_and_unknown_profiles_are_refused(admin_client: Client) -> None:
    domains = "\n".join(f"f{n}.test" for n in range(MAX_FORWARDERS + 1))
    page = admin_client.post(
        URL, {"auth_profile": "default", "trusted_forwarders": domains}
    ).content.decode()
    assert (
        f"At most {MAX_FORWARDERS} trusted forwarders; this list has {MAX_FORWARDERS + 1}." in page
    )
    # Repeats don't count towards the limit.
    repeated = domains.replace(f"f{MAX_FORWARDERS}.test", "f0.test")
    assert (
        admin_client.post(
            URL, {"auth_profile": "default", "trusted_forwarders": repeated}
        ).status_code
        == 302
    )
    assert len(ProtectionSettings.objects.get().trusted_forwarders) == MAX_FORWARDERS

    for bad in ({"auth_profile": "lenient"}, {}):
        response = admin_client.post(URL, bad)
        assert response.status_code == 200 and 'class="error"' in response.content.decode()
    assert ProtectionSettings.objects.get().auth_profile == "default"


def test_a_post_without_the_csrf_token_is_refused(admin: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = client.post(URL, {"auth_profile": "off", "trusted_forwarders": "google.com"})
    assert response.status_code == 403
    assert not ProtectionSettings.objects.exists()
    # With the page's token the same post goes through.
    page = client.get(URL).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    response = client.post(
        URL,
        {
            "auth_profile": "off",
            "trusted_forwarders": "google.com",
            "csrfmiddlewaretoken": token.group(1),
        },
    )
    assert response.status_code == 302
    assert ProtectionSettings.objects.get().auth_profile == "off"


def test_the_page_in_korean(admin: User) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="ko")
    client.force_login(admin)
    page = client.get(URL).content.decode()
    for korean in ("이메일 인증", "인증 프로필", "기본 (권장)", "엄격", "신뢰하는 전달자", "저장"):
        assert korean in page, korean
    page = client.post(
        URL, {"auth_profile": "off", "trusted_forwarders": "ok.test\n@a.test"}
    ).content.decode()
    assert "2번째 줄" in page and "“@” 없이" in page
    response = client.post(URL, {"auth_profile": "off", "trusted_forwarders": ""}, follow=True)
    assert "이메일 인증 설정을 저장했습니다." in response.content.decode()


def test_the_screening_reads_the_saved_settings(admin_client: Client) -> None:
    # Read once first, so that the snapshot holds the defaults when the admin saves.
    row, rules = policy.snapshot()
    assert (rules.auth_profile, row.trusted_forwarders) == (AuthProfile.DEFAULT, [])
    admin_client.post(URL, {"auth_profile": "strict", "trusted_forwarders": "google.com"})
    row, rules = policy.snapshot()
    assert rules.auth_profile == AuthProfile.STRICT
    assert row.trusted_forwarders == ["google.com"]


def test_links_to_the_page(admin_client: Client, agent: User) -> None:
    assert URL in admin_client.get("/admin/channels/email/inbound/").content.decode()
    assert URL in admin_client.get("/suspended/").content.decode()
    client = Client()
    client.force_login(agent)
    queue = client.get("/suspended/")
    assert queue.status_code == 200 and URL not in queue.content.decode()
