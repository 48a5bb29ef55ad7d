"""The forwarding wizard in a real browser (Playwright + Debian Chromium, headless): an admin
signs in, adds billing@mycompany.test from *Add address* through *Email forwarding*, copies
the target, presses "Yes, I've finished setup" and Verify, and watches the status page update
itself until the real Postfix has forwarded the test mail back: *verified*."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from postdesk.channels.models import SupportAddress, VerificationStatus
from postdesk.tickets.models import Group, Role, User
from tests.conftest import LiveSMTP, run_queued_tasks

from .servers.postfix import PostfixInstance
from .servers.sink import SmtpSink

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def desk_smtp(transactional_db: None) -> Iterator[LiveSMTP]:
    with LiveSMTP() as server:
        yield server


class Worker:
    """Runs queued tasks (outbound sends, inbound processing) in the background, as
    ``postdesk worker`` would, while the browser waits on the status page."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        from django.db import OperationalError, connection

        try:
            while not self.stop.is_set():
                try:
                    run_queued_tasks()
                except OperationalError as exc:
                    # The in-memory test database's shared-cache table locks fail at once
                    # where a file database would wait; the next round tries again.
                    if "locked" not in str(exc):
                        raise
                time.sleep(0.2)
        finally:
            connection.close()

    def __enter__(self) -> Worker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def test_wizard_from_add_address_to_verified(
    browser_page: Page,
    live_server: Any,
    make_postfix: Callable[..., PostfixInstance],
    smtp_sink: SmtpSink,
    desk_smtp: LiveSMTP,
    settings: Any,
) -> None:
    server = make_postfix(
        "mycompany",
        transports={"desk.test": desk_smtp.port},
        virtual_aliases={"billing@mycompany.test": "billing@desk.test"},
        relayhost=smtp_sink.port,
    )
    settings.POSTDESK = dataclasses.replace(settings.POSTDESK, relay=server.relay_url)
    User.objects.create_user("admin@desk.test", "admin-pass-1", role=Role.ADMIN)
    Group.objects.create(name="Billing")
    page = browser_page

    page.goto(f"{live_server.url}/admin/channels/email/")
    page.fill("#id_username", "admin@desk.test")
    page.fill("#id_password", "admin-pass-1")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_have_text("Support addresses")

    page.click("#add-address")
    page.click("text=Connect external address")
    page.click("text=Email forwarding")
    page.fill("#id_email", "billing@desk.test")  # a desk-domain address: refused in the form
    page.check("input[name=provider][value=gmail]")
    page.click("main button.primary")
    expect(page.locator("#field-email .error")).to_contain_text("hosted address instead")
    page.fill("#id_email", "billing@mycompany.test")
    page.fill("#id_name", "Billing")
    page.select_option("#id_group", label="Billing")
    page.click("main button.primary")

    # Step 2: provider steps with the exact target to copy.
    expect(page.locator("#forwarding-target")).to_have_value("billing@desk.test")
    expect(page.locator("#provider-steps")).to_contain_text("Forwarding and POP/IMAP")
    page.click("text=Microsoft 365 / Outlook")
    expect(page.locator("#provider-steps")).to_contain_text("Enable forwarding")
    copy = page.locator("button[data-copy-target=forwarding-target]")
    expect(copy).to_be_visible()  # the script enabled it
    page.click("text=Yes, I've finished setup")

    # Step 3: Verify.
    page.click("main button.primary:has-text('Verify')")
    expect(page.locator("#forwarding-status .badge")).to_have_text("Waiting")
    address = SupportAddress.objects.get(email="billing@mycompany.test")
    assert address.forwarding_status == VerificationStatus.WAITING

    with Worker():
        # No reload by the test: the page refreshes itself while waiting.
        expect(page.locator("#forwarding-status .badge")).to_have_text("Verified", timeout=60_000)
    expect(page.locator("#verify-button")).to_have_text("Verify again")
    page.click("text=Support addresses")
    row = page.locator(f"#address-{address.pk}")
    expect(row.locator(".forwarding-status .badge")).to_have_text("Verified")
