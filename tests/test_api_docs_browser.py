"""The API docs in a real browser (Debian's chromium, driven by Playwright), offline: every
request the pages make goes to the gateway itself, the admin key is asked for, kept out of
URLs, and Swagger UI and ReDoc render every admin route. Screenshots are kept as artifacts
(``GATEWAY_TEST_ARTIFACTS``, else the test's temporary directory)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, sync_playwright

from gateway.api.control.app import ROUTES
from support.gateway_process import GatewayProcess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
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


def watched_page(
    browser: Browser, gateway: GatewayProcess
) -> tuple[Page, list[str], list[str], list[str]]:
    """A page whose requests are all recorded (any to another origin is refused), and
    its script errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    origin = urlsplit(gateway.base_url).netloc
    requested: list[str] = []
    foreign: list[str] = []

    def route(handle: object, request: Request) -> None:
        requested.append(request.url)
        if urlsplit(request.url).netloc != origin:
            foreign.append(request.url)
            handle.abort()  # type: ignore[attr-defined]
        else:
            handle.continue_()  # type: ignore[attr-defined]

    page.route("**/*", route)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page, requested, foreign, errors


def test_swagger_ui_and_redoc_render_offline_after_signing_in(
    browser: Browser, gateway: GatewayProcess, tmp_path: Path
) -> None:
    folder = artifacts(tmp_path)
    page, requested, foreign, errors = watched_page(browser, gateway)
    response = page.goto(f"{gateway.base_url}/docs")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp
    # Without a key the page asks for one.
    page.wait_for_selector("#sign-in:not([hidden])")
    page.fill("#admin-key", "not-the-key")
    page.click("#sign-in button")
    page.wait_for_selector("#sign-in-error:has-text('Invalid API key')")
    page.fill("#admin-key", gateway.master_key or "")
    page.click("#sign-in button")
    page.wait_for_selector(".swagger-ui .opblock")
    assert not page.is_visible("#sign-in")
    summaries = page.locator(".opblock-summary-description").all_inner_texts()
    for route in ROUTES:
        assert route.summary in summaries, route.summary
    page.screenshot(path=str(folder / "docs-swagger.png"), full_page=True)

    page.goto(f"{gateway.base_url}/redoc")
    page.wait_for_selector("h2:has-text('Create a virtual key')")
    assert not page.is_visible("#sign-in")  # the tab's session still holds the key
    page.screenshot(path=str(folder / "docs-redoc.png"))

    assert foreign == [], foreign
    assert errors == [], errors
    assert all(gateway.master_key not in url for url in requested)
    assert any(url.endswith("/openapi.json") for url in requested)
    page.close()
