"""One real `wherry run` (SQLite, alerts on, a real Mosquitto) and one headless Chromium for
all of tests/e2e; pages are opened in fresh browser contexts signed in through /signin.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from api.keys import issue_key
from api.roles import Role
from storage.registry import NewApiKey, Registry
from tests import servers
from tests.e2e import story
from tests.e2e.browser import ARTIFACTS, VIEWPORTS, launch
from tests.ingest_support import wait_for_http, wait_until
from tests.wherry_process import WherryRun
from wherry.imports import import_devices_file, import_routes_file
from wherry.settings import Settings

E2E = "e2e"
SWEEP = "test_accessibility.py"
LABELS = {
    Role.admin: "Sam Okafor (admin)",
    Role.engineer: "Priya Shah",
    Role.highways: "Night duty officer",
    Role.reader: "Derwent Rivers Trust",
}


@dataclass
class Site:
    """The running wherry: its address, broker port, and a key for each role."""

    url: str
    mqtt_port: int
    env: dict[str, str]
    tokens: dict[Role, str]
    run: WherryRun
    directory: Path
    states: dict[Role, Any] = field(default_factory=dict)

    def api(self, path: str, role: Role = Role.admin) -> Any:
        response = httpx.get(
            f"{self.url}/api/v1{path}", headers={"X-API-Key": self.tokens[role]}, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.run.log.splitlines()[-lines:])

    def recommendations(self) -> dict[str, str]:
        return {r["route_id"]: r["recommendation"] for r in self.api("/board")["routes"]}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every e2e test, and run the accessibility sweep after the other e2e tests, so
    its screenshots show the story they told (a route turned to TREAT, a device added)."""
    for item in items:
        if E2E in item.path.parts:
            item.add_marker(pytest.mark.e2e)
    sweep = [item for item in items if E2E in item.path.parts and item.path.name == SWEEP]
    if not sweep:
        return
    others = [item for item in items if item not in sweep]
    e2e = [i for i, item in enumerate(others) if E2E in item.path.parts]
    at = e2e[-1] + 1 if e2e else items.index(sweep[0])
    items[:] = others[:at] + sweep + others[at:]


@pytest.fixture(scope="package", autouse=True)
def fresh_artifacts() -> None:
    """Screenshots of this run only in tests/e2e/artifacts."""
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()


@pytest.fixture(scope="package")
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    mosquitto_server: servers.ServerProcess,
) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp("e2e-wherry")
    port = servers.free_port()
    env = {
        "WHERRY_DATA_DIR": str(directory / "data"),
        "WHERRY_REGISTRY_URL": f"sqlite:///{directory / 'registry.db'}",
        "WHERRY_STORE_URL": f"sqlite:///{directory / 'readings.db'}",
        "WHERRY_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto_server.port}",
        "WHERRY_MQTT_TOPICS": f"v3/{story.APPLICATION}@ttn/devices/+/up",
        "WHERRY_MQTT_QOS": "1",
        "WHERRY_MQTT_CLIENT_ID": f"wherry-e2e-{uuid.uuid4().hex[:8]}",
        "WHERRY_API_PORT": str(port),
        "WHERRY_FLUSH_INTERVAL": "0.2",
        "WHERRY_ALERTS": "true",
        # One browser loads many pages a second; a person does not.
        "WHERRY_RATE_LIMIT_PER_MINUTE": "100000",
        "WHERRY_RATE_LIMIT_BURST": "100000",
    }
    tokens = _register(directory, env)
    run = WherryRun(env, directory / "wherry.log")
    try:
        request.getfixturevalue("browser")  # Chromium starts while wherry does
        run.wait_for_log("subscribed", timeout=60)
        site = Site(f"http://127.0.0.1:{port}", mosquitto_server.port, env, tokens, run, directory)
        wait_for_http(f"{site.url}/healthz")
        story.seed_evening(site.mqtt_port, time.time_ns())
        wait_until(
            lambda: site.recommendations() == story.SEEDED_RECOMMENDATIONS,
            30,
            f"the board at {story.SEEDED_RECOMMENDATIONS} after the seeded day",
        )
        yield site
    finally:
        status = run.terminate(timeout=30)
    assert status == 0, f"wherry run exited {status} on SIGTERM:\n{run.log[-4000:]}"


def _register(directory: Path, env: dict[str, str]) -> dict[Role, str]:
    """Routes and devices as `wherry routes/devices import` registers them, and a key per role."""
    settings = Settings(
        data_dir=Path(env["WHERRY_DATA_DIR"]), registry_url=env["WHERRY_REGISTRY_URL"]
    )
    routes, devices = story.write_fleet(directory)
    for do, path in ((import_routes_file, routes), (import_devices_file, devices)):
        messages: list[str] = []
        assert do(settings, path, dry_run=False, echo=messages.append) == 0, messages
    tokens = {}
    with Registry(env["WHERRY_REGISTRY_URL"]) as registry:
        for role in Role:
            key = issue_key()
            registry.create_api_key(
                NewApiKey(key.key_id, LABELS[role], role.value, key.secret_hash, None),
                actor="e2e",
            )
            tokens[role] = key.token
    return tokens


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


def sign_in(page: Page, site: Site, token: str, next_path: str = "/") -> None:
    """Through the /signin form, as a person does: paste the key, press the button."""
    page.goto(f"{site.url}/signin?next={next_path}")
    page.get_by_label("API key").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}{next_path}")
    assert page.get_by_role("link", name="Sign out").is_visible()


def storage_state(browser: Browser, site: Site, role: Role) -> Any:
    """A session cookie for `role`, signed in once through the form and kept for the session."""
    if role not in site.states:
        context = browser.new_context()
        try:
            sign_in(context.new_page(), site, site.tokens[role])
            site.states[role] = context.storage_state()
        finally:
            context.close()
    return site.states[role]


def new_context(
    browser: Browser,
    site: Site,
    role: Role | None,
    scheme: str = "light",
    viewport: str = "desktop",
    bypass_csp: bool = False,
) -> BrowserContext:
    """A fresh browser context: a phone or a desktop, light or dark, signed in as `role`."""
    context = browser.new_context(
        base_url=site.url,
        viewport=VIEWPORTS[viewport],  # type: ignore[arg-type]
        color_scheme=scheme,  # type: ignore[arg-type]
        storage_state=storage_state(browser, site, role) if role else None,
        bypass_csp=bypass_csp,
        locale="en-GB",
        timezone_id="Europe/London",
    )
    context.set_default_timeout(10_000)
    return context


def load(page: Page, path: str) -> None:
    """Go to `path` and insist on a 200 (after redirects)."""
    response = page.goto(path)
    assert response is not None and response.status == 200, (
        f"{path}: {response and response.status} {response and response.status_text}"
    )


OpenPage = Callable[..., Page]


@pytest.fixture
def open_page(browser: Browser, site: Site) -> Iterator[OpenPage]:
    """`open_page(path, role=None, scheme="light", viewport="desktop", bypass_csp=False)`:
    a new context (signed in as `role`, or anonymous) with the page loaded (status 200). A
    script error on any page fails the test."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def opener(
        path: str,
        role: Role | None = None,
        scheme: str = "light",
        viewport: str = "desktop",
        bypass_csp: bool = False,
    ) -> Page:
        context = new_context(browser, site, role, scheme, viewport, bypass_csp)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        if path:
            load(page, path)
        return page

    yield opener
    for context in contexts:
        context.close()
    assert not errors, "script errors in the page:\n" + "\n".join(errors)
