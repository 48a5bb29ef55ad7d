"""``postdesk mailbox add`` argument checks (exit 2), an unreachable server (exit 1), the
periodic job and a failing poll; the Dovecot-backed cases are in tests/e2e/test_imap.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from postdesk import cli
from postdesk.channels.models import SupportAddress
from postdesk.jobs.scheduler import JOBS
from postdesk.mailboxes import sealed, tasks
from postdesk.mailboxes.models import Mailbox
from postdesk.mailboxes.poll import poll_all
from postdesk.mailboxes.setup import SetupError, address_for
from tests.conftest import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text("s3cret\n")
    return path


def base(secret_file: Path, port: int | None = None) -> list[str]:
    return [
        "mailbox", "add", "--host", "127.0.0.1", "--port", str(port or free_port()),
        "--tls", "none", "--username", "help@example.com", "--password-file", str(secret_file),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "argv",
    [
        ["mailbox", "add", "--username", "u@example.com", "--password-file", "x"],  # no host
        ["mailbox", "add", "--host", "h", "--password-file", "x"],  # no username
        ["mailbox", "add", "--host", "h", "--username", "u@example.com"],  # no secret
        [
            "mailbox", "add", "--host", "h", "--username", "u@example.com",
            "--password-file", "x", "--oauth2-token-file", "y",
        ],  # both secrets
        ["mailbox", "add", "--host", "h", "--username", "u@e.com", "--password-file", "x",
         "--tls", "maybe"],
        ["mailbox", "add", "--host", "h", "--username", "u@e.com", "--password-file", "x",
         "--port", "imap"],
        ["mailbox"],
    ],
)  # fmt: skip
def test_argparse_refuses_with_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--port", "0"], "is not a TCP port"),
        (["--import-last", "-1"], "--import-last"),
        (["--address", "not an address"], "--address"),
        (["--folder", ""], "may not be empty"),
    ],
)
def test_bad_values_exit_2_before_connecting(
    extra: list[str], message: str, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([*base(secret_file), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not Mailbox.objects.exists()


def test_a_username_that_is_no_address_needs_address(
    secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = base(secret_file)
    argv[argv.index("help@example.com")] = "help"
    assert cli.main(argv) == 2
    assert "--address" in capsys.readouterr().err


@pytest.mark.parametrize("content", [None, ""])
def test_a_missing_or_empty_secret_file_exits_2(
    content: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "secret"
    if content is not None:
        path.write_text(content)
    assert cli.main(base(path)) == 2
    assert "can't read a secret" in capsys.readouterr().err


def test_an_unreachable_server_exits_1_and_saves_nothing(
    secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(base(secret_file)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "can't reach 127.0.0.1" in captured.err and "nothing was saved" in captured.err
    assert not SupportAddress.objects.filter(email="help@example.com").exists()
    assert not Mailbox.objects.exists()


def test_address_for() -> None:
    assert address_for("Help@Example.com", None) == "help@example.com"
    assert address_for("help", "Desk@Example.com") == "desk@example.com"
    with pytest.raises(SetupError):
        address_for("help", None)


def saved_mailbox(port: int) -> Mailbox:
    address = SupportAddress.objects.create(email="help@example.com", kind="external")
    return Mailbox.objects.create(
        address=address,
        host="127.0.0.1",
        port=port,
        tls="none",
        username="help@example.com",
        secret_sealed=sealed.seal(
            "s3cret", host="127.0.0.1", username="help@example.com", kind="password"
        ),
        uidvalidity=1,
    )


def test_a_failing_poll_records_its_error_and_does_not_raise() -> None:
    mailbox = saved_mailbox(free_port())
    assert poll_all() == 0
    mailbox.refresh_from_db()
    assert "can't reach 127.0.0.1" in mailbox.last_error
    assert mailbox.last_polled_at is not None
    assert mailbox.last_uid == 0


def test_poll_command_reports_a_failure_with_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    saved_mailbox(free_port())
    assert cli.main(["mailbox", "poll"]) == 1
    assert "can't reach" in capsys.readouterr().err
    assert cli.main(["mailbox", "list"]) == 0
    assert "help@example.com" in capsys.readouterr().out


def test_the_periodic_job_queues_one_poll_at_a_time(run_tasks) -> None:  # type: ignore[no-untyped-def]
    assert any(job.function == "postdesk.mailboxes.tasks.queue_poll" for job in JOBS)
    assert tasks.queue_poll() is False  # no mailbox: nothing to do
    mailbox = saved_mailbox(free_port())
    assert tasks.queue_poll() is True
    assert tasks.queue_poll() is False  # one is waiting already
    assert run_tasks() == 1
    mailbox.refresh_from_db()
    assert mailbox.last_error  # the task ran the poll, which failed quietly
    assert tasks.queue_poll() is True
