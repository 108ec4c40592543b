"""A real browser for the web pages: Debian's chromium driven by Playwright (its own
browser download cannot reach the internet here), one per test module.

``watched_page`` records every request a page makes and refuses any to another
origin (the pages must work offline), and collects script errors. Screenshots go
to ``GATEWAY_TEST_ARTIFACTS`` when set, else the test's temporary directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, Route, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="chromium is not installed (.ci/run installs it)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


def artifacts(tmp_path: Path) -> Path:
    base = os.environ.get("GATEWAY_TEST_ARTIFACTS")
    folder = Path(base) if base else tmp_path / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Watched:
    page: Page
    requested: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def watched_page(
    browser: Browser, base_url: str, *, width: int = 1280, height: int = 800
) -> Watched:
    """A page whose requests are all recorded (any to another origin is refused), and
    its script errors."""
    watched = Watched(browser.new_page(viewport={"width": width, "height": height}))
    origin = urlsplit(base_url).netloc

    def route(handle: Route, request: Request) -> None:
        watched.requested.append(request.url)
        if urlsplit(request.url).netloc != origin:
            watched.foreign.append(request.url)
            handle.abort()
        else:
            handle.continue_()

    watched.page.route("**/*", route)
    watched.page.on("pageerror", lambda error: watched.errors.append(str(error)))
    return watched
