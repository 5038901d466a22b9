"""Headless Chromium for the map tests: Debian's chromium through Playwright, with every request that
is not a local file aborted and counted (the maps must work on an intranet with no network)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Page, Route, sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass
class Opened:
    """A page and what it tried that a map must not: requests beyond its file, dialogs, script errors."""

    page: Page
    external: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def clean(self) -> bool:
        return self.external == [] and self.dialogs == [] and self.errors == []


@contextmanager
def launched() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Browser, path: Path, ready: str, *, downloads: bool = False) -> Opened:
    """Open `path` in a 1200 x 800 page, offline, and wait until the script `ready` is true."""
    page = browser.new_page(viewport={"width": 1200, "height": 800}, accept_downloads=downloads)
    opened = Opened(page)

    def _route(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            opened.external.append(route.request.url)
            route.abort()

    page.route("**/*", _route)
    page.on("dialog", lambda d: (opened.dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: opened.errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_function(ready)
    return opened
