"""The ops console at /ui in a real browser (Debian's chromium, driven by Playwright).

One gateway for the module, on the session's Postgres, with a mock upstream per
deployment. The console is used as the engineer on call would: sign in, watch a
failing deployment cool down and its requests get rescued, redirect a group
through the override form and end it, create a key and block it, and read the
spend charts. Every effect is checked from outside the browser too (the official
OpenAI SDK, the control API), and each page is kept as a screenshot.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from playwright.sync_api import Browser, Page, expect

from support.browser import Watched, artifacts, needs_chromium, watched_page
from support.clients import CLIENT_TIMEOUT_S, sdk_client
from support.configs import MASTER_KEY
from support.control import CONTROL_TABLES, wait_for
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess
from support.ledger import SPEND_TABLES, execute, fetchval
from support.mock_upstream import Fail

pytestmark = needs_chromium

MESSAGES = [{"role": "user", "content": "hello"}]
PRICES = {"input_cost_per_token": 1e-4, "output_cost_per_token": 2e-4}
# The page refreshes every 4 s; a change shows within two refreshes.
SHOWN_WITHIN_MS = 15_000


def blocking(work: Coroutine[Any, Any, Any]) -> Any:
    """Run ``work`` to its end on a thread of its own (Playwright's sync API keeps an event
    loop in this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def priced(deployment: dict[str, Any]) -> dict[str, Any]:
    deployment["model_info"].update(PRICES)
    return deployment


def console_config(fleet: UpstreamFleet) -> dict[str, Any]:
    return {
        "model_list": [
            priced(fleet.deployment("primary", "primary-a")),
            priced(fleet.deployment("primary", "primary-b")),
            priced(fleet.deployment("backup", "backup-a")),
            priced(fleet.deployment("routed", "routed-a")),
            priced(fleet.deployment("third", "third-a")),
        ],
        "router_settings": {
            "num_retries": 0,
            "allowed_fails": 0,
            "cooldown_time": 300,
            "fallbacks": [{"primary": ["backup"]}, {"routed": ["backup"]}],
        },
        "general_settings": {"proxy_batch_write_at": 0.2},
    }


@pytest.fixture(scope="module")
def upstreams() -> Iterator[UpstreamFleet]:
    fleet = UpstreamFleet()
    yield fleet
    fleet.stop()


@pytest.fixture(scope="module")
def console(
    upstreams: UpstreamFleet, ledger_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    blocking(execute(ledger_database, f"TRUNCATE {', '.join((*CONTROL_TABLES, *SPEND_TABLES))}"))
    process = GatewayProcess(
        tmp_path_factory.mktemp("console"),
        console_config(upstreams),
        master_key=MASTER_KEY,
        env={"DATABASE_URL": ledger_database},
    )
    with process:
        yield process
        print(f"--- log of the console's gateway ---\n{process.log_tail(200)}")


@pytest.fixture
def api(console: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=console.base_url, headers=console.auth_headers(), timeout=CLIENT_TIMEOUT_S
    ) as client:
        yield client


@pytest.fixture
def signed_in(browser: Browser, console: GatewayProcess) -> Iterator[Watched]:
    watched = watched_page(browser, console.base_url)
    sign_in(watched.page, console)
    yield watched
    assert watched.foreign == [], watched.foreign
    assert watched.errors == [], watched.errors
    assert all(MASTER_KEY not in url for url in watched.requested)
    watched.page.close()


def sign_in(page: Page, console: GatewayProcess) -> None:
    page.goto(f"{console.base_url}/ui")
    page.fill("#admin-key", MASTER_KEY)
    page.click("#sign-in button")
    page.wait_for_selector("#board-groups article")


def tab(page: Page, view: str) -> None:
    page.click(f"nav button[data-view={view}]")
    expect(page.locator(f"#view-{view}")).to_be_visible()


def served_by(console: GatewayProcess, model: str, api_key: str = MASTER_KEY) -> str:
    with sdk_client(console, api_key=api_key) as client:
        raw = client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES)
    return raw.headers["x-gateway-deployment"]


def test_signing_in_refuses_bad_and_user_keys_and_keeps_the_key_out_of_urls(
    browser: Browser, console: GatewayProcess, api: httpx.Client, tmp_path: Path
) -> None:
    user_key = api.post("/key/generate", json={"key_alias": "console-user"}).json()["key"]
    watched = watched_page(browser, console.base_url)
    page = watched.page
    response = page.goto(f"{console.base_url}/ui")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    page.wait_for_selector("#sign-in:not([hidden])")
    page.fill("#admin-key", "sk-not-a-key")
    page.click("#sign-in button")
    expect(page.locator("#sign-in-error")).to_have_text("Invalid API key.")
    page.fill("#admin-key", user_key)
    page.click("#sign-in button")
    expect(page.locator("#sign-in-error")).to_contain_text("may not call the admin API")
    assert page.is_hidden("#tabs")
    page.fill("#admin-key", MASTER_KEY)
    page.click("#sign-in button")
    page.wait_for_selector("#board-groups article[data-group=primary]")
    assert page.is_hidden("#sign-in")
    # Kept for the tab's session only: a reload stays signed in, signing out forgets it.
    page.reload()
    page.wait_for_selector("#board-groups article")
    assert page.evaluate("sessionStorage.getItem('gateway.adminKey')") == MASTER_KEY
    page.screenshot(path=str(artifacts(tmp_path) / "console-board.png"), full_page=True)
    page.click("#sign-out")
    page.wait_for_selector("#sign-in:not([hidden])")
    assert page.evaluate("sessionStorage.getItem('gateway.adminKey')") is None
    assert all(MASTER_KEY not in url and user_key not in url for url in watched.requested)
    assert watched.foreign == [] and watched.errors == []
    page.close()


def test_a_failing_deployment_shows_cooling_with_its_reason_and_the_rescue(
    signed_in: Watched,
    console: GatewayProcess,
    upstreams: UpstreamFleet,
    api: httpx.Client,
    tmp_path: Path,
) -> None:
    page = signed_in.page
    cooling = page.locator("tr[data-deployment=primary-a][data-state=cooling]")
    expect(cooling).to_have_count(0)
    upstreams["primary-a"].default = Fail(500, "primary-a is out of service")
    # Until the shuffle has picked primary-a once; each request is still answered.
    for _ in range(40):
        served_by(console, "primary")
        if upstreams["primary-a"].calls():
            break
    assert upstreams["primary-a"].calls() == 1
    board = api.get("/admin/board").json()
    primary = next(g for g in board["groups"] if g["name"] == "primary")
    failing = next(d for d in primary["deployments"] if d["id"] == "primary-a")
    assert failing["state"] == "cooling" and failing["failures"] == 1
    assert primary["state"] == "degraded"
    # The page shows it by itself (no reload), with the reason the router gave.
    expect(cooling).to_have_count(1, timeout=SHOWN_WITHIN_MS)
    expect(cooling.locator(".reason")).to_have_text(failing["cooling_reason"])
    expect(page.locator("article[data-group=primary]")).to_have_attribute("data-state", "degraded")
    page.screenshot(path=str(artifacts(tmp_path) / "console-board-cooling.png"), full_page=True)

    tab(page, "failures")
    row = page.locator("#failure-list tr[data-deployment=primary-a]")
    expect(row).to_have_count(1)
    failure = api.get("/admin/failures").json()["data"][0]
    assert failure["deployment"] == "primary-a" and failure["rescued"] is True
    expect(row).to_contain_text(failure["request_id"])
    expect(row).to_contain_text(f"rescued by {failure['served_by']}")
    assert failure["served_by"] in ("primary-b", "backup-a")
    page.screenshot(path=str(artifacts(tmp_path) / "console-failures.png"), full_page=True)


def test_an_override_set_in_the_form_is_served_and_ending_it_restores_the_chain(
    signed_in: Watched, console: GatewayProcess, api: httpx.Client, tmp_path: Path
) -> None:
    page = signed_in.page
    assert served_by(console, "routed") == "routed-a"
    tab(page, "overrides")
    page.select_option("#override-group", "routed")
    page.select_option("#override-mode", "redirect")
    page.fill("#override-target", "third")
    page.fill("#override-ttl", "600")
    page.fill("#override-reason", "INC-4242 routed-a answers slowly")
    page.click("#override-form button[type=submit]")
    expect(page.locator("#override-notice")).to_contain_text("Override set on routed")
    # The next request through the SDK goes where the form said.
    assert served_by(console, "routed") == "third-a"
    expect(page.locator("#override-list tr[data-override=routed]")).to_contain_text(
        "redirect to third"
    )
    expect(page.locator("#audit-list")).to_contain_text("INC-4242 routed-a answers slowly")
    page.screenshot(path=str(artifacts(tmp_path) / "console-overrides.png"), full_page=True)
    tab(page, "board")
    expect(page.locator("article[data-group=routed] .chain")).to_contain_text(
        "all traffic redirected to third"
    )

    tab(page, "overrides")
    page.fill("#override-end-reason", "INC-4242 resolved")
    page.click("#override-list button[data-end=routed]")
    expect(page.locator("#override-list-notice")).to_contain_text("ended")
    expect(page.locator("#override-list")).to_contain_text("No override is in force.")
    assert served_by(console, "routed") == "routed-a"
    audit = api.get("/admin/audit", params={"target_kind": "override"}).json()["data"]
    assert [a["reason"] for a in audit[:2]] == [
        "INC-4242 resolved",
        "INC-4242 routed-a answers slowly",
    ]
    tab(page, "board")
    chain = page.locator("article[data-group=routed] .chain")
    expect(chain).to_contain_text("fallbacks: backup")
    expect(chain).to_contain_text("(config)")


def test_a_key_created_in_the_console_works_until_blocked_there(
    signed_in: Watched, console: GatewayProcess, api: httpx.Client, tmp_path: Path
) -> None:
    page = signed_in.page
    tab(page, "keys")
    page.fill("#team-id", "console-team")
    page.fill("#team-budget", "20")
    page.click("#team-form button[type=submit]")
    expect(page.locator("#team-notice")).to_have_text("Team console-team created.")
    expect(page.locator("#team-list tr[data-team=console-team]")).to_contain_text("$20.00")

    page.fill("#key-alias", "console-made")
    page.fill("#key-team", "console-team")
    page.fill("#key-budget", "5")
    page.fill("#key-duration", "30d")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-notice")).to_have_text("Key console-made created.")
    secret = page.locator("#key-secret-value").inner_text()
    assert secret.startswith("sk-")
    assert served_by(console, "third", api_key=secret) == "third-a"

    page.fill("#key-search", "console-made")
    row = page.locator("#key-list tr[data-blocked]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("console-team")
    expect(row).to_contain_text("of $5.00")
    page.click("#key-list button[data-block]")
    expect(page.locator("#key-list-notice")).to_contain_text("is blocked")
    expect(page.locator("#key-list tr[data-blocked=true]")).to_have_count(1)
    with pytest.raises(openai.AuthenticationError) as refused:
        served_by(console, "third", api_key=secret)
    assert "is blocked" in str(refused.value)
    page.screenshot(path=str(artifacts(tmp_path) / "console-keys.png"), full_page=True)

    page.click("#key-list button[data-block]")  # unblock
    expect(page.locator("#key-list-notice")).to_contain_text("is unblocked")
    assert served_by(console, "third", api_key=secret) == "third-a"


def test_the_spend_charts_add_up_to_the_spend_report(
    signed_in: Watched, console: GatewayProcess, ledger_database: str, api: httpx.Client,
    tmp_path: Path,
) -> None:  # fmt: skip
    with sdk_client(console) as client:
        for _ in range(3):
            raw = client.chat.completions.with_raw_response.create(model="third", messages=MESSAGES)
    last = raw.headers["x-request-id"]

    def report(group_by: str) -> list[dict[str, Any]]:
        answer = api.get("/spend/report", params={"group_by": group_by})
        assert answer.status_code == 200, answer.text
        data: list[dict[str, Any]] = answer.json()["data"]
        return data

    def all_written() -> bool:
        """The last request is in the ledger, and so in the roll-ups (same transaction)."""
        found = blocking(
            fetchval(ledger_database, "SELECT count(*) FROM spend_log WHERE request_id = $1", last)
        )
        return bool(found)

    wait_for(all_written, "the ledger's roll-ups to hold every request")
    by_day, by_model, by_key = report("day"), report("model"), report("key")
    requests = sum(r["requests"] for r in by_day)
    cost = sum(r["cost_usd"] for r in by_day)
    assert cost > 0
    assert requests == sum(r["requests"] for r in by_model)

    page = signed_in.page
    tab(page, "spend")
    page.select_option("#spend-days", "30")
    total = page.locator("#spend-total")
    expect(total).to_have_attribute("data-days", "30", timeout=SHOWN_WITHIN_MS)
    expect(total).to_have_attribute("data-requests", str(requests), timeout=SHOWN_WITHIN_MS)
    assert math.isclose(float(total.get_attribute("data-cost") or "nan"), cost, rel_tol=1e-9)
    day_bars = page.locator("#chart-day g.bar")
    assert day_bars.count() == 30
    shown_days = {
        bar.get_attribute("data-label"): float(bar.get_attribute("data-cost") or "nan")
        for bar in day_bars.all()
    }
    for row in by_day:
        assert math.isclose(shown_days[row["day"]], row["cost_usd"], rel_tol=1e-9)
    assert math.isclose(sum(shown_days.values()), cost, rel_tol=1e-9)
    for chart, rows_of, label in (
        ("#chart-model", by_model, lambda r: r["model_group"] or "(none)"),
        ("#chart-key", by_key, key_label),
    ):
        bars = {
            bar.get_attribute("data-label"): (
                float(bar.get_attribute("data-cost") or "nan"),
                int(bar.get_attribute("data-requests") or -1),
            )
            for bar in page.locator(f"{chart} g.bar").all()
        }
        assert bars == {label(r): (r["cost_usd"], r["requests"]) for r in rows_of}, chart
    page.screenshot(path=str(artifacts(tmp_path) / "console-spend.png"), full_page=True)


def key_label(row: dict[str, Any]) -> str:
    """As the console names a key: its alias, else the start of its hash."""
    if row["key_alias"]:
        return str(row["key_alias"])
    return f"{row['key_hash'][:12]}…" if row["key_hash"] else "(no key)"


def test_every_page_fits_a_phone_width(
    browser: Browser, console: GatewayProcess, tmp_path: Path
) -> None:
    watched = watched_page(browser, console.base_url, width=390, height=844)
    page = watched.page
    sign_in(page, console)
    for view in ("board", "overrides", "keys", "spend", "failures"):
        tab(page, view)
        page.wait_for_selector("#status:has-text('Updated')")
        # Wide tables scroll inside their card; the page itself never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, view
        page.screenshot(path=str(artifacts(tmp_path) / f"console-phone-{view}.png"))
    assert watched.foreign == [] and watched.errors == []
    page.close()
