"""Debian's Chromium driven by Playwright, for browser tests of the agent UI.

``ChromiumBrowser`` starts Playwright's sync API and launches ``/usr/bin/chromium`` (the
Debian package; Playwright's own browser downloads are impossible here and never attempted)
headless, with a fresh profile: Playwright gives every ``launch()`` a new temporary
``--user-data-dir`` and deletes it on close. The flags keep Chromium from calling home, which
on a machine without internet would only produce refused connections and slow starts.

Each test gets its own ``BrowserContext`` (cookies, storage and cache isolated, like a new
incognito window) from ``new_page()``, with bounded default timeouts so a missing element
fails the test instead of hanging it.

Playwright's sync API runs an asyncio event loop on the calling thread while it is started;
Django's ORM refuses to run where a loop is running (``SynchronousOnlyOperation``). The pytest
fixture therefore keeps the browser to one test module and sets ``DJANGO_ALLOW_ASYNC_UNSAFE``
only while it is up: the loop is Playwright's and idle whenever test code runs.
"""

from __future__ import annotations

import contextlib
from typing import Any, Self

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from . import BINARIES, Lifecycle, ServerError, require_binaries

CHROMIUM_ARGS = (
    "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class ChromiumBrowser(Lifecycle):
    """A headless Chromium under Playwright; a context manager. ``new_page()`` per test."""

    def __init__(
        self,
        *,
        headless: bool = True,
        extra_args: tuple[str, ...] = (),
        launch_timeout: float = 30.0,
        default_timeout: float = 10.0,
        locale: str = "en-US",
    ) -> None:
        self.headless = headless
        self.extra_args = extra_args
        self.launch_timeout = launch_timeout
        self.default_timeout = default_timeout
        self.locale = locale
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._contexts: list[BrowserContext] = []

    @property
    def browser(self) -> Browser:
        if self._browser is None:
            raise ServerError("Chromium is not started")
        return self._browser

    def start(self) -> Self:
        require_binaries("chromium")
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=BINARIES["chromium"],
                headless=self.headless,
                args=[*CHROMIUM_ARGS, *self.extra_args],
                timeout=self.launch_timeout * 1000,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def new_context(self, **options: Any) -> BrowserContext:
        """A fresh, isolated context; closed by ``stop()`` if the caller does not."""
        options.setdefault("locale", self.locale)
        context = self.browser.new_context(**options)
        context.set_default_timeout(self.default_timeout * 1000)
        context.set_default_navigation_timeout(self.default_timeout * 1000)
        self._contexts.append(context)
        return context

    def new_page(self, **context_options: Any) -> Page:
        """A page in its own new context (``locale="ko-KR"`` for the Korean UI, etc.)."""
        return self.new_context(**context_options).new_page()

    def close_contexts(self) -> None:
        for context in self._contexts:
            # A context may already be gone with a crashed browser; closing is best effort.
            with contextlib.suppress(PlaywrightError):
                context.close()
        self._contexts.clear()

    def stop(self) -> None:
        self.close_contexts()
        if self._browser is not None:
            # Closing the browser ends the Chromium processes Playwright started.
            self._browser.close()
            self._browser = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None

    @property
    def version(self) -> str:
        return self.browser.version
