"""``postdesk run``: the all-in-one desk for a small team, on SQLite by default.

Migrates, makes sure an admin exists, then starts web, smtpd, a worker and the scheduler as
child processes of one process group. A child that dies is started again (a crash must not
stop mail from being received); Ctrl-C or SIGTERM stops them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field

RESTART_WINDOW = 60.0
MAX_RESTARTS_IN_WINDOW = 5
STOP_GRACE = 10.0
WORKER_NICENESS = 10


@dataclass
class Child:
    name: str
    argv: list[str]
    # Background work yields the CPU to the processes people and MTAs wait on: a mail's
    # 250 and a page load come first, turning mail into tickets a moment later.
    niceness: int = 0
    process: subprocess.Popen[bytes] | None = None
    restarts: deque[float] = field(default_factory=deque)

    def start(self) -> None:
        niceness = self.niceness
        self.process = subprocess.Popen(
            self.argv, preexec_fn=(lambda: os.nice(niceness)) if niceness else None
        )

    def crashed_too_often(self, now: float) -> bool:
        self.restarts.append(now)
        while self.restarts and now - self.restarts[0] > RESTART_WINDOW:
            self.restarts.popleft()
        return len(self.restarts) > MAX_RESTARTS_IN_WINDOW


def _prepare() -> list[str]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postdesk.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from postdesk.operations import ensure_first_admin

    call_command("migrate", interactive=False, verbosity=0)
    email, password_file = ensure_first_admin()
    cfg = settings.POSTDESK
    lines = [
        "",
        "Postdesk is running.",
        f"  Web UI and API   {cfg.public_url}/",
        f"  SMTP             {cfg.smtp}  (mail to anything@{cfg.mail_domain})",
        f"  Data directory   {cfg.data_dir}",
        f"  Database         {'SQLite' if cfg.is_sqlite else 'PostgreSQL'}",
        f"  Log in as        {email}",
    ]
    if password_file is not None:
        lines.append(f"  Password         in {password_file}")
    lines.append("Press Ctrl-C to stop.")
    return lines


def _children(workers: int) -> list[Child]:
    base = [sys.executable, "-m", "postdesk.cli"]
    children = [
        Child("web", [*base, "web"]),
        Child("smtpd", [*base, "smtpd"]),
        Child("scheduler", [*base, "scheduler"]),
    ]
    children += [
        Child(f"worker-{n + 1}", [*base, "worker"], niceness=WORKER_NICENESS)
        for n in range(max(1, workers))
    ]
    return children


def _stop(children: list[Child]) -> None:
    for child in children:
        if child.process and child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


def run_all(workers: int = 1) -> int:
    banner = _prepare()
    children = _children(workers)
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for child in children:
        child.start()
    print("\n".join(banner), flush=True)
    exit_code = 0
    try:
        while not stopping:
            time.sleep(0.5)
            for child in children:
                assert child.process is not None
                code = child.process.poll()
                if code is None or stopping:
                    continue
                if child.crashed_too_often(time.monotonic()):
                    print(
                        f"postdesk: {child.name} keeps exiting (last code {code}); stopping",
                        file=sys.stderr,
                    )
                    stopping = True
                    exit_code = 1
                    break
                print(f"postdesk: {child.name} exited with {code}; restarting", file=sys.stderr)
                child.start()
    finally:
        _stop(children)
    return exit_code
