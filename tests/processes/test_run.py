"""``postdesk run``: the all-in-one desk a newcomer starts with ``make run``."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import make_mail
from tests.processes.harness import ROOT, Desk, wait_for

pytestmark = pytest.mark.slow


def children_of(pid: int) -> list[int]:
    result = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    )
    return [int(p) for p in result.stdout.split()]


def test_run_serves_web_and_smtp_and_stops_everything_on_ctrl_c():
    desk = Desk()
    process = subprocess.Popen(
        [sys.executable, "-m", "postdesk.cli", "run"],
        env=desk.env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        banner = b""
        deadline = time.monotonic() + 60
        while b"Press Ctrl-C" not in banner and time.monotonic() < deadline:
            banner += process.stdout.readline()
        text = banner.decode()
        assert f"http://127.0.0.1:{desk.http_port}/" in text
        assert f"127.0.0.1:{desk.smtp_port}" in text
        assert "Log in as        admin@desk.test" in text
        password_file = desk.data_dir / "initial-admin.txt"
        assert str(password_file) in text
        assert oct(password_file.stat().st_mode & 0o777) == "0o600"

        wait_for(desk.http_ok, 30, "the web server")
        wait_for(desk.smtp_listening, 30, "the SMTP server")
        with urllib.request.urlopen(f"http://127.0.0.1:{desk.http_port}/") as response:
            assert response.url.endswith("/login/?next=/")  # the UI asks for a login first

        sent_at = time.monotonic()
        with smtplib.SMTP("127.0.0.1", desk.smtp_port) as client:
            client.sendmail("ada@example.com", ["support@desk.test"], make_mail())
        wait_for(lambda: desk.status()["tickets"] == 1, 30, "the ticket", interval=0.2)
        assert time.monotonic() - sent_at < 30

        # A child that dies is started again.
        children = children_of(process.pid)
        assert len(children) == 4
        os.kill(children[1], signal.SIGKILL)
        wait_for(
            lambda: (
                len(children_of(process.pid)) == 4 and children[1] not in children_of(process.pid)
            ),
            30,
            "the killed child to be restarted",
        )
    finally:
        children = children_of(process.pid)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        for pid in children:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
