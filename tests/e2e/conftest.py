"""Fixtures for end-to-end tests: real Postfix, dnsmasq, Dovecot, Chromium and an SMTP sink.

Every test under ``tests/e2e/`` is marked ``e2e`` here, and every test marked ``e2e`` anywhere
runs only when ``POSTDESK_E2E=1``: without it they are skipped with the reason, so the default
``make test`` needs none of these programs (SPEC §6). With it, a missing binary is a failure
that names the binary, because CI must have them (``.ci/install-packages``).

Fixtures (function-scoped unless said otherwise; each stops its servers even when the test
fails, and prints their logs into the report when it does):

- ``smtp_sink`` / ``make_smtp_sink(**kw)``: ``SmtpSink`` capturing mail, scriptable failures;
- ``postfix`` / ``make_postfix(name, **kw)``: ``PostfixInstance``; ``postfix`` relays every
  domain to ``smtp_sink``; the factory builds any number (a customer's server, a relay...);
- ``dns_server``: ``DnsServer`` (dnsmasq) with no records; call ``set_records()``;
- ``dovecot`` / ``make_dovecot(**kw)``: ``DovecotInstance``; ``dovecot`` has the user
  ``alice@mycompany.test`` with password ``secret``;
- ``tls_ca`` (session): a ``trustme.CA`` for servers' certificates and clients' trust;
- ``chromium`` (module): ``ChromiumBrowser``; ``browser_page``: a fresh ``Page`` in its own
  context (a screenshot is saved when the test fails).

``POSTDESK_E2E_KEEP=1`` keeps the servers' directories (config, queue, logs) after the test.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from playwright.sync_api import Page

from .servers import INSTALL_HINT, MissingBinaryError, missing_binaries
from .servers.browser import ChromiumBrowser
from .servers.dns import DnsServer
from .servers.dovecot import DovecotInstance
from .servers.postfix import PostfixInstance
from .servers.sink import SmtpSink

E2E_ENV = "POSTDESK_E2E"
KEEP_ENV = "POSTDESK_E2E_KEEP"
HERE = Path(__file__).resolve().parent
SKIP_REASON = (
    f"end-to-end test with real servers: set {E2E_ENV}=1 to run it "
    f"(needs postfix, dovecot-imapd, dnsmasq, chromium; {INSTALL_HINT})"
)

_reports = pytest.StashKey[dict[str, pytest.TestReport]]()


def e2e_enabled() -> bool:
    return os.environ.get(E2E_ENV) == "1"


def keep_files() -> bool:
    return os.environ.get(KEEP_ENV) == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items, not only this directory's.
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)
        if item.get_closest_marker("e2e") is not None and not e2e_enabled():
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Keep each phase's report so fixtures can tell, at teardown, whether the test failed.
    report: pytest.TestReport = yield
    item.stash.setdefault(_reports, {})[report.when] = report
    return report


def _test_failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_reports, {})
    return any(report.failed for report in reports.values())


def _require(*binaries: str) -> None:
    missing = missing_binaries(*binaries)
    if missing:
        pytest.fail(
            f"{E2E_ENV}=1 but {', '.join(missing)} is missing: {INSTALL_HINT}", pytrace=False
        )


class _Server(Protocol):
    def stop(self) -> None: ...
    def logs(self) -> str: ...


def _teardown(request: pytest.FixtureRequest, servers: list[tuple[str, _Server]]) -> None:
    """Stop every server (last started first); show their logs if the test failed."""
    failed = _test_failed(request)
    errors: list[BaseException] = []
    for label, server in reversed(servers):
        if failed:
            # Read before stop(): stopping may remove the directory the log lives in.
            lines = server.logs().splitlines()[-60:]
            print(f"\n----- {label} log (last {len(lines)} lines) -----")
            print("\n".join(lines))
        try:
            server.stop()
        except BaseException as exc:  # stop the others before reporting
            errors.append(exc)
    if errors:
        raise errors[0]


def _start[T](start: Callable[[], T]) -> T:
    try:
        return start()
    except MissingBinaryError as exc:
        pytest.fail(f"{E2E_ENV}=1 but {exc}", pytrace=False)


# -- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tls_ca() -> Any:
    import trustme

    return trustme.CA()


# -- SMTP sink ------------------------------------------------------------------------------


@pytest.fixture
def make_smtp_sink(request: pytest.FixtureRequest) -> Iterator[Callable[..., SmtpSink]]:
    started: list[tuple[str, _Server]] = []

    def make(**options: Any) -> SmtpSink:
        sink = SmtpSink(**options).start()
        started.append((repr(sink), _SinkLog(sink)))
        return sink

    yield make
    _teardown(request, started)


class _SinkLog:
    """The sink has no log file; its transcript of attempts serves as one."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    def logs(self) -> str:
        return "\n".join(
            f"MAIL FROM:<{a.mail_from}> RCPT {list(a.rcpt_tos)} -> {a.outcome}"
            for a in self.sink.attempts
        )

    def stop(self) -> None:
        self.sink.stop()


@pytest.fixture
def smtp_sink(make_smtp_sink: Callable[..., SmtpSink]) -> SmtpSink:
    return make_smtp_sink()


# -- Postfix --------------------------------------------------------------------------------


@pytest.fixture
def make_postfix(request: pytest.FixtureRequest) -> Iterator[Callable[..., PostfixInstance]]:
    _require("postfix", "postconf", "postqueue")
    if os.geteuid() != 0:
        pytest.fail("Postfix test instances must be started as root", pytrace=False)
    started: list[tuple[str, _Server]] = []

    def make(name: str = "relay", **options: Any) -> PostfixInstance:
        options.setdefault("keep_files", keep_files())
        instance = PostfixInstance(name, **options)
        _start(instance.start)
        started.append((repr(instance), instance))
        return instance

    yield make
    _teardown(request, started)


@pytest.fixture
def postfix(make_postfix: Callable[..., PostfixInstance], smtp_sink: SmtpSink) -> PostfixInstance:
    """An outbound relay: accepts from 127.0.0.0/8 and delivers everything to ``smtp_sink``."""
    return make_postfix("relay", relayhost=smtp_sink.port)


# -- DNS ------------------------------------------------------------------------------------


@pytest.fixture
def dns_server(request: pytest.FixtureRequest) -> Iterator[DnsServer]:
    _require("dnsmasq")
    server = _start(DnsServer(keep_files=keep_files()).start)
    yield server
    _teardown(request, [(repr(server), server)])


# -- Dovecot --------------------------------------------------------------------------------


@pytest.fixture
def make_dovecot(request: pytest.FixtureRequest) -> Iterator[Callable[..., DovecotInstance]]:
    _require("dovecot", "doveconf")
    started: list[tuple[str, _Server]] = []

    def make(**options: Any) -> DovecotInstance:
        options.setdefault("keep_files", keep_files())
        instance = DovecotInstance(**options)
        _start(instance.start)
        started.append((repr(instance), instance))
        return instance

    yield make
    _teardown(request, started)


@pytest.fixture
def dovecot(make_dovecot: Callable[..., DovecotInstance]) -> DovecotInstance:
    return make_dovecot()


# -- Chromium -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator[ChromiumBrowser]:
    """Chromium for one test module (see ``servers/browser.py`` on why not the session)."""
    _require("chromium")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    # Playwright's idle event loop on this thread would make Django refuse ORM calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    browser = ChromiumBrowser()
    try:
        _start(browser.start)
        yield browser
    finally:
        browser.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_page(
    request: pytest.FixtureRequest, chromium: ChromiumBrowser, tmp_path: Path
) -> Iterator[Page]:
    """A new page in a fresh browser context; on failure its screenshot is kept, and the
    traceback of every server error the live server logged meanwhile is printed (the page
    itself only says "Server Error (500)")."""
    server_errors = _ServerErrors()
    logging.getLogger("django.request").addHandler(server_errors)
    context = chromium.new_context()
    page = context.new_page()
    try:
        yield page
    finally:
        logging.getLogger("django.request").removeHandler(server_errors)
    if _test_failed(request) and not page.is_closed():
        shot = tmp_path / "failure.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot of the page at failure: {shot} ({page.url})")
    if _test_failed(request):
        for text in server_errors.texts:
            print(f"\nserver error during the test:\n{text}")
    context.close()


class _ServerErrors(logging.Handler):
    """Keeps the formatted 5xx records (with their tracebacks) that ``django.request`` logs."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.setFormatter(logging.Formatter("%(message)s"))
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))
