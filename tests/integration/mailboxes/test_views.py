"""Admin Center → Channels → Email → Mailboxes (SPEC F15, F17): who gets in, the list and its
empty state, connecting (a refused connection saves nothing and never shows the password),
refused values, check now, disable and enable, removal that keeps the support address, CSRF,
Korean, escaping. Connecting to a real Dovecot is in tests/e2e/test_mailbox_page.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone, translation

from postdesk.channels.models import AddressKind, SupportAddress
from postdesk.mailboxes import sealed
from postdesk.mailboxes.models import Mailbox, TlsMode
from postdesk.tickets.models import User
from tests.conftest import free_port

pytestmark = pytest.mark.django_db

LIST = "/admin/channels/email/mailboxes/"
ADD = LIST + "add/"
SECRET = "Tr0ub4dor&3-never-shown"


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    # A Korean page leaves its language active on the thread; the next test reads English.
    translation.activate("en")
    yield
    translation.activate("en")


@pytest.fixture
def admin_client(admin: User) -> Client:
    client = Client()
    client.force_login(admin)
    return client


def make_mailbox(email: str = "help@mycompany.test", **fields: Any) -> Mailbox:
    address = SupportAddress.objects.create(email=email, kind=AddressKind.EXTERNAL)
    values: dict[str, Any] = {
        "host": "imap.mycompany.test",
        "port": 993,
        "tls": TlsMode.SSL,
        "username": email,
        "secret_sealed": sealed.seal(
            SECRET, host="imap.mycompany.test", username=email, kind="password"
        ),
        "uidvalidity": 7,
        "last_uid": 41,
    }
    values.update(fields)
    return Mailbox.objects.create(address=address, **values)


def form(**changes: str) -> dict[str, str]:
    data = {
        "host": "127.0.0.1",
        "tls": "none",
        "port": str(free_port()),  # nothing listens there: the connection is refused
        "username": "help@mycompany.test",
        "password": SECRET,
        "folder": "INBOX",
        "import_last": "",
        "address": "",
    }
    data.update(changes)
    return data


def test_sign_in_required_and_agents_refused(client: Client, agent: User) -> None:
    mailbox = make_mailbox()
    urls = [LIST, ADD, f"{LIST}{mailbox.pk}/remove/"]
    posts = [ADD, f"{LIST}{mailbox.pk}/check", f"{LIST}{mailbox.pk}/disable",
             f"{LIST}{mailbox.pk}/enable", f"{LIST}{mailbox.pk}/remove/"]  # fmt: skip
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"], url
    for url in posts:
        response = client.post(url, form())
        assert response.status_code == 302 and "login" in response["Location"], url
    client.force_login(agent)
    for url in urls:
        assert client.get(url).status_code == 403, url
    for url in posts:
        assert client.post(url, form()).status_code == 403, url
    assert Mailbox.objects.get().enabled
    assert Mailbox.objects.count() == 1


def test_empty_state_explains_what_a_mailbox_is_for(admin_client: Client) -> None:
    page = admin_client.get(LIST).content.decode()
    assert 'id="no-mailboxes"' in page
    assert "alternative to forwarding" in page
    assert "leaves every message on the server" in page
    assert 'aria-current="page">Mailboxes<' in page
    # The other Admin Center links stay in the navigation.
    assert ">Email authentication<" in page and ">Support addresses<" in page
    assert f'href="{ADD}"' in page


def test_the_list_shows_every_mailbox(admin_client: Client) -> None:
    polled = timezone.now()
    first = make_mailbox(last_polled_at=polled)
    second = make_mailbox(
        "sales@other.test", host="mail.other.test", port=143, tls=TlsMode.STARTTLS,
        folder="Support", enabled=False, last_uid=0, last_error="login refused",
    )  # fmt: skip
    page = admin_client.get(LIST).content.decode()
    assert 'id="no-mailboxes"' not in page
    for text in ("help@mycompany.test", "imap.mycompany.test:993", "Implicit TLS (IMAPS)",
                 ">41<", "Enabled", polled.strftime("%Y-%m-%d %H:%M:%S"),
                 "sales@other.test", "mail.other.test:143", "STARTTLS", ">Support<",
                 "Disabled", "Not polled yet", "login refused"):  # fmt: skip
        assert text in page, text
    assert f'id="mailbox-{second.pk}-error"' in page
    assert f'id="mailbox-{first.pk}-error"' not in page
    # Enabled gets Disable, disabled gets Enable; each action is a CSRF-protected form.
    assert f'action="{LIST}{first.pk}/disable"' in page
    assert f'action="{LIST}{second.pk}/enable"' in page
    assert f'action="{LIST}{first.pk}/check"' in page
    assert page.count("csrfmiddlewaretoken") >= 5
    # The sealed secret is never on the page.
    assert SECRET not in page


def test_a_last_error_is_escaped(admin_client: Client) -> None:
    make_mailbox(last_error='<script>alert("x")</script> & more')
    page = admin_client.get(LIST).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in page


def test_the_add_form_has_real_labels_and_hides_the_password(admin_client: Client) -> None:
    page = admin_client.get(ADD).content.decode()
    for name in ("host", "tls", "port", "username", "password", "folder", "import_last",
                 "address"):  # fmt: skip
        assert f'<label for="id_{name}">' in page, name
    assert 'type="password"' in page
    assert 'value="INBOX"' in page
    assert "password in clear text" in page
    assert "csrfmiddlewaretoken" in page


def test_an_unreachable_server_shows_the_error_and_saves_nothing(admin_client: Client) -> None:
    port = free_port()
    response = admin_client.post(ADD, form(port=str(port)))
    assert response.status_code == 200
    page = response.content.decode()
    assert "The mailbox could not be connected" in page
    assert f"can&#x27;t reach 127.0.0.1:{port}" in page
    assert "Nothing was saved." in page
    assert SECRET not in page
    # The other values are kept for the next try.
    assert 'value="help@mycompany.test"' in page
    assert not Mailbox.objects.exists()
    assert not SupportAddress.objects.filter(email="help@mycompany.test").exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"port": "0"}, "port"),
        ({"port": "65536"}, "port"),
        ({"port": "imap"}, "port"),
        ({"import_last": "-1"}, "import_last"),
        ({"import_last": "501"}, "import_last"),
        ({"import_last": "ten"}, "import_last"),
        ({"tls": "maybe"}, "tls"),
        ({"host": "  "}, "host"),
        ({"folder": ""}, "folder"),
        ({"password": ""}, "password"),
        ({"username": "help"}, "address"),  # no email: the address must be given
        ({"address": "not an address"}, "address"),
    ],
)
def test_bad_values_are_refused_before_connecting(
    admin_client: Client, changes: dict[str, str], field: str
) -> None:
    response = admin_client.post(ADD, form(**changes))
    assert response.status_code == 200
    page = response.content.decode()
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert "could not be connected" not in page  # refused before any connection
    assert SECRET not in page
    assert not Mailbox.objects.exists()


def test_connecting_through_add_mailbox(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The view hands the form's values to setup.add_mailbox (the Dovecot run is in e2e)."""
    from postdesk.mailboxes import views
    from postdesk.mailboxes.setup import Added

    calls: list[tuple[Any, ...]] = []

    def fake_add(server: Any, credentials: Any, *, email: str, import_last: int) -> Added:
        calls.append((server, credentials, email, import_last))
        return Added(make_mailbox(email), imported=3)

    monkeypatch.setattr(views, "add_mailbox", fake_add)
    response = admin_client.post(
        ADD, form(port="", tls="ssl", username="help", address="Help@MyCompany.test",
                  import_last="3"),
    )  # fmt: skip
    assert response.status_code == 302 and response["Location"] == LIST
    server, credentials, email, import_last = calls[0]
    assert (server.host, server.port, server.tls, server.username, server.folder) == (
        "127.0.0.1", 993, "ssl", "help", "INBOX",
    )  # fmt: skip
    assert credentials.secret == SECRET and credentials.kind == "password"
    assert email == "help@mycompany.test" and import_last == 3
    page = admin_client.get(LIST).content.decode()
    assert "help@mycompany.test is connected" in page
    assert "3 earlier messages imported." in page


def test_check_now_reports_the_error(admin_client: Client) -> None:
    mailbox = make_mailbox(host="127.0.0.1", port=free_port(), tls=TlsMode.NONE)
    mailbox.secret_sealed = sealed.seal(
        SECRET, host="127.0.0.1", username=mailbox.username, kind="password"
    )
    mailbox.save()
    response = admin_client.post(f"{LIST}{mailbox.pk}/check", follow=True)
    page = response.content.decode()
    assert "Checking help@mycompany.test failed" in page and "can&#x27;t reach" in page
    mailbox.refresh_from_db()
    assert mailbox.last_error and mailbox.last_polled_at is not None
    assert admin_client.get(f"{LIST}{mailbox.pk}/check").status_code == 405


def test_check_now_reports_the_count(admin_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from postdesk.mailboxes import views

    def fake_poll(mailbox: Mailbox) -> int:
        Mailbox.objects.filter(pk=mailbox.pk).update(last_polled_at=timezone.now())
        return 2

    monkeypatch.setattr(views, "poll_mailbox", fake_poll)
    mailbox = make_mailbox()
    page = admin_client.post(f"{LIST}{mailbox.pk}/check", follow=True).content.decode()
    assert "help@mycompany.test checked: 2 new mails imported." in page

    # A poll that did not run (another process holds the lease) says so.
    monkeypatch.setattr(views, "poll_mailbox", lambda mailbox: 0)
    page = admin_client.post(f"{LIST}{mailbox.pk}/check", follow=True).content.decode()
    assert "being checked by another process" in page


def test_disable_and_enable(admin_client: Client) -> None:
    mailbox = make_mailbox()
    response = admin_client.post(f"{LIST}{mailbox.pk}/disable")
    assert response.status_code == 302
    mailbox.refresh_from_db()
    assert not mailbox.enabled and mailbox.last_uid == 41
    admin_client.post(f"{LIST}{mailbox.pk}/enable")
    mailbox.refresh_from_db()
    assert mailbox.enabled
    assert admin_client.get(f"{LIST}{mailbox.pk}/disable").status_code == 405
    assert admin_client.post(f"{LIST}999/disable").status_code == 404


def test_remove_asks_first_and_keeps_the_support_address(admin_client: Client) -> None:
    mailbox = make_mailbox()
    address_id = mailbox.address_id
    page = admin_client.get(f"{LIST}{mailbox.pk}/remove/").content.decode()
    assert "Remove the mailbox of help@mycompany.test?" in page
    assert "its tickets are not removed" in page
    assert Mailbox.objects.exists()  # asking removes nothing

    response = admin_client.post(f"{LIST}{mailbox.pk}/remove/", follow=True)
    assert response.redirect_chain[-1][0] == LIST
    assert "was removed" in response.content.decode()
    assert not Mailbox.objects.exists()
    assert SupportAddress.objects.filter(pk=address_id, email="help@mycompany.test").exists()
    assert admin_client.post(f"{LIST}{mailbox.pk}/remove/").status_code == 404


def test_posts_without_the_csrf_token_are_refused(admin: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    mailbox = make_mailbox()
    for url in (f"{LIST}{mailbox.pk}/disable", f"{LIST}{mailbox.pk}/remove/",
                f"{LIST}{mailbox.pk}/check", ADD):  # fmt: skip
        assert client.post(url, form()).status_code == 403, url
    mailbox.refresh_from_db()
    assert mailbox.enabled and mailbox.last_polled_at is None


def test_the_pages_in_korean(admin: User) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="ko")
    client.force_login(admin)
    page = client.get(LIST).content.decode()
    for korean in ("IMAP 메일함", "메일함 연결", "연결된 메일함이 없습니다."):
        assert korean in page, korean
    make_mailbox(last_error="boom")
    page = client.get(LIST).content.decode()
    for korean in ("지금 확인", "사용 중지", "제거", "마지막 오류:", "사용 중", "메일함<"):
        assert korean in page, korean
    page = client.get(ADD).content.decode()
    for korean in ("IMAP 서버", "암호화", "포트", "비밀번호", "폴더", "연결"):
        assert korean in page, korean
    page = client.post(ADD, form(port="0")).content.decode()
    assert "포트" in page and "저장되지" not in page
