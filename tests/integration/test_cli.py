"""The ``postdesk`` command: status, createadmin, reprocess, deliver."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from postdesk import cli
from postdesk.spool.models import InboundMessage
from postdesk.tickets.api_tokens import authenticate
from postdesk.tickets.models import Role, User
from postdesk.transports import pipe
from tests.conftest import free_port

SPEC_STATUS_KEYS = {"inbound", "tickets", "comments", "outbound"}
SPEC_INBOUND_KEYS = {"received", "processed", "failed", "suspended", "dropped", "last_finished_at"}


@pytest.mark.django_db
def test_status_json_has_the_spec_keys_and_counts(capsys, mail, run_tasks):
    from tests.integration.test_processing import spool

    spool(mail())
    spool(mail())
    assert cli.main(["status", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before.keys() >= SPEC_STATUS_KEYS
    assert before["inbound"].keys() >= SPEC_INBOUND_KEYS
    assert before["inbound"]["received"] == 2
    assert before["inbound"]["processed"] == 0
    assert before["inbound"]["last_finished_at"] is None
    assert before["outbound"] == {"queued": 0, "sent": 0, "failed": 0}
    run_tasks()
    cli.main(["status", "--json"])
    after = json.loads(capsys.readouterr().out)
    assert after["inbound"]["processed"] == 2
    assert after["tickets"] == 2 and after["comments"] == 2
    assert after["inbound"]["last_finished_at"].endswith("Z")
    assert cli.main(["status"]) == 0
    assert "tickets:  2" in capsys.readouterr().out


@pytest.mark.django_db
def test_createadmin_creates_and_updates_with_a_hashed_token(capsys):
    assert (
        cli.main(
            [
                "createadmin",
                "--email",
                "Root@Desk.Test",
                "--password",
                "s3cret-pass",
                "--api-token",
                "tok-" + "x" * 28,
            ]
        )
        == 0
    )
    admin = User.objects.get(email="root@desk.test")
    assert admin.role == Role.ADMIN and admin.check_password("s3cret-pass")
    assert authenticate("tok-" + "x" * 28) == admin
    assert not admin.api_tokens.filter(token_sha256__contains="tok-").exists()
    assert cli.main(["createadmin", "--email", "root@desk.test", "--password", "another-pass"]) == 0
    admin.refresh_from_db()
    assert admin.check_password("another-pass")
    assert cli.main(["createadmin", "--email", "nobody", "--password", "s3cret-pass"]) == 2
    assert "not an email address" in capsys.readouterr().err


@pytest.mark.django_db
def test_reprocess_reports_unknown_ids(capsys):
    assert cli.main(["reprocess", "999"]) == 1
    assert "999" in capsys.readouterr().err


@pytest.fixture
def smtpd_env(live_smtp, monkeypatch):
    monkeypatch.setenv("POSTDESK_SMTP", f"127.0.0.1:{live_smtp.port}")
    monkeypatch.setenv("POSTDESK_MAIL_DOMAIN", "desk.test")
    return live_smtp


def test_deliver_hands_the_mail_to_smtpd_as_the_pipe_transport(smtpd_env, mail):
    raw = mail().replace(b"\r\n", b"\n")  # what a pipe gets
    code, message = pipe.deliver(
        io.BytesIO(raw), recipient="billing@desk.test", sender="ada@example.com"
    )
    assert code == pipe.EX_OK, message
    stored = InboundMessage.objects.get()
    assert stored.rcpt_tos == ["billing@desk.test"]
    assert stored.mail_from == "ada@example.com"
    assert stored.envelope_extra == {"proto": "PIPE"}
    assert bytes(stored.raw) == raw.replace(b"\n", b"\r\n")


def test_deliver_exit_67_for_an_unknown_recipient(smtpd_env, mail):
    code, message = pipe.deliver(io.BytesIO(mail()), recipient="victim@example.org")
    assert code == 67
    assert "victim@example.org" in message
    assert InboundMessage.objects.count() == 0


def test_deliver_exit_75_when_smtpd_is_down(monkeypatch, mail):
    monkeypatch.setenv("POSTDESK_SMTP", f"127.0.0.1:{free_port()}")
    code, message = pipe.deliver(io.BytesIO(mail()), recipient="support@desk.test")
    assert code == 75
    assert "unavailable" in message


def test_deliver_refuses_empty_input(monkeypatch):
    monkeypatch.setenv("POSTDESK_SMTP", f"127.0.0.1:{free_port()}")
    assert pipe.deliver(io.BytesIO(b"\n"))[0] == pipe.EX_DATAERR


def test_deliver_starts_without_django(tmp_path):
    """An MTA runs deliver once per mail: it must not pay for Django's start-up."""
    env = {
        **os.environ,
        "POSTDESK_SMTP": f"127.0.0.1:{free_port()}",
        "POSTDESK_DATA_DIR": str(tmp_path),
    }
    code = (
        "import sys, io; from postdesk.cli import main; sys.stdin = io.TextIOWrapper(io.BytesIO(b'Subject: x\\n\\nhi\\n'));"
        "rc = main(['deliver', '--recipient', 'support@desk.test']);"
        "print('django' in sys.modules, rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["False", "75"], result.stderr
