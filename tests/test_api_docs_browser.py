"""The API docs in a real browser (Debian's chromium, driven by Playwright), offline: every
request the pages make goes to the gateway itself, the admin key is asked for, kept out of
URLs, and Swagger UI and ReDoc render every admin route. Screenshots are kept as artifacts
(``GATEWAY_TEST_ARTIFACTS``, else the test's temporary directory)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser

from gateway.api.control.app import ROUTES
from support.browser import artifacts, needs_chromium, watched_page
from support.gateway_process import GatewayProcess

pytestmark = needs_chromium


def test_swagger_ui_and_redoc_render_offline_after_signing_in(
    browser: Browser, gateway: GatewayProcess, tmp_path: Path
) -> None:
    folder = artifacts(tmp_path)
    watched = watched_page(browser, gateway.base_url)
    page, requested, foreign, errors = (
        watched.page,
        watched.requested,
        watched.foreign,
        watched.errors,
    )
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
