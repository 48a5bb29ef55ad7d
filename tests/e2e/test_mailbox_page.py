"""Admin Center → Mailboxes (SPEC F15, F17) against a real Dovecot over STARTTLS with a
private CA: a wrong password is refused on the form and saves nothing, the right one connects
the mailbox, "Check now" imports a mail delivered into it, and the list shows the poll.

The pages are driven with Django's test client; the worker's tasks run in the test process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from postdesk.channels.models import SupportAddress
from postdesk.mailboxes.connect import CAFILE_ENV
from postdesk.mailboxes.models import Mailbox
from postdesk.tickets.models import Role, Ticket, User
from tests.conftest import make_mail, run_queued_tasks

from .servers.dovecot import DovecotInstance

pytestmark = pytest.mark.django_db

LIST = "/admin/channels/email/mailboxes/"
ADD = LIST + "add/"
USER = "alice@mycompany.test"
PASSWORD = "secret"


def mail(subject: str) -> bytes:
    return make_mail(subject=subject, to=USER, sender="Grace Hopper <grace@example.com>")


def test_connect_and_check_a_mailbox_from_the_admin_center(
    make_dovecot: Callable[..., DovecotInstance],
    tls_ca: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    translation.activate("en")
    server = make_dovecot(tls=tls_ca)
    monkeypatch.setenv(CAFILE_ENV, str(server.ca_file))
    admin = User.objects.create_user("admin@desk.test", password="admin-pass-1", role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    server.append(USER, mail("Before connecting"))
    form = {
        "host": server.host,
        "tls": "starttls",
        "port": str(server.port),
        "username": USER,
        "password": "wrong password",
        "folder": "INBOX",
        "import_last": "",
        "address": "",
    }

    # Dovecot refuses the login: the form says so, and nothing is saved.
    response = client.post(ADD, form)
    assert response.status_code == 200
    page = response.content.decode()
    assert "The mailbox could not be connected" in page and f"login as {USER}" in page
    assert "wrong password" not in page
    assert not Mailbox.objects.exists()
    assert not SupportAddress.objects.filter(email=USER).exists()

    response = client.post(ADD, {**form, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == LIST
    page = response.content.decode()
    assert f"{USER} is connected" in page
    assert PASSWORD not in page
    mailbox = Mailbox.objects.select_related("address").get()
    assert mailbox.address.email == USER and mailbox.tls == "starttls"
    assert mailbox.last_polled_at is None and mailbox.last_uid == 1
    assert "Not polled yet" in page

    server.deliver(USER, mail("Delivered after connecting"))
    response = client.post(f"{LIST}{mailbox.pk}/check", follow=True)
    page = response.content.decode()
    assert f"{USER} checked: 1 new mail imported." in page, page
    run_queued_tasks()
    assert list(Ticket.objects.values_list("subject", flat=True)) == ["Delivered after connecting"]

    mailbox.refresh_from_db()
    assert mailbox.last_error == "" and mailbox.last_polled_at is not None
    assert mailbox.last_uid == 2
    page = client.get(LIST).content.decode()
    assert mailbox.last_polled_at.strftime("%Y-%m-%d %H:%M:%S") in page
    assert "(succeeded)" in page and "Not polled yet" not in page
    assert f'id="mailbox-{mailbox.pk}-error"' not in page

    # Checked again: nothing new, and the mail stays on the server.
    page = client.post(f"{LIST}{mailbox.pk}/check", follow=True).content.decode()
    assert f"{USER} checked: 0 new mails imported." in page
    assert len(server.fetch_all(USER)) == 2
