"""One app per test module for the device, tools and open-data page tests: a migrated SQLite
registry and store, and a browser per role signed in through the real sign-in form.

Module-scoped because migrating a registry and signing in cost most of a page test's
time; the tests using it give every device they create an id of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.roles import Role
from api.services import Services
from tests.api_support import make_app, make_key, make_services

NOW = datetime(2026, 1, 15, 8, 15, tzinfo=UTC)
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
NOW_NS = int(NOW.timestamp()) * SECOND


@dataclass
class World:
    services: Services
    app: FastAPI
    browsers: dict[Role, TestClient]
    anonymous: TestClient


def world(directory: Path) -> Iterator[World]:
    """The app at a fixed NOW, and a signed-in browser for every role."""
    services = make_services(directory)
    services.clock = lambda: NOW
    app = make_app(services)
    browsers: dict[Role, TestClient] = {}
    for role in Role:
        browser = TestClient(app)
        token = make_key(services, role, f"{role} person")
        signed = browser.post("/signin", data={"api_key": token, "next": "/"},
                              follow_redirects=False)  # fmt: skip
        assert signed.status_code == 303, signed.text
        browsers[role] = browser
    anonymous = TestClient(app)
    yield World(services, app, browsers, anonymous)
    for browser in [*browsers.values(), anonymous]:
        browser.close()
    services.registry.close()
    services.store.close()


class _Wiring(HTMLParser):
    """Collects ids, the ids labels and ARIA attributes point at, and heading levels."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.references: list[tuple[str, str]] = []
        self.headings: list[int] = []
        self.unlabelled: list[str] = []
        self._labels: set[str] = set()
        self._controls: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.append(str(found["id"]))
        for name in ("aria-describedby", "aria-labelledby"):
            for target in (found.get(name) or "").split():
                self.references.append((name, target))
        if tag == "label" and found.get("for"):
            self.references.append(("for", str(found["for"])))
            self._labels.add(str(found["for"]))
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag in {"input", "select", "textarea"} and found.get("type") != "hidden":
            self._controls.append((tag, found))

    def close(self) -> None:
        super().close()
        for tag, found in self._controls:
            if "hidden" in found:
                continue
            if found.get("id") not in self._labels and not found.get("aria-label"):
                self.unlabelled.append(f"{tag} {found.get('name')}")


def assert_well_wired(page: str) -> None:
    """Every id once; every label, aria-describedby and aria-labelledby points at an id;
    every visible control has a label; headings start at h1 and never skip a level."""
    wiring = _Wiring()
    wiring.feed(page)
    wiring.close()
    repeated = sorted({each for each in wiring.ids if wiring.ids.count(each) > 1})
    assert not repeated, f"ids used more than once: {repeated}"
    dangling = [ref for ref in wiring.references if ref[1] not in wiring.ids]
    assert not dangling, f"references to no id: {dangling}"
    assert not wiring.unlabelled, f"controls without a label: {wiring.unlabelled}"
    assert wiring.headings and wiring.headings[0] == 1, wiring.headings
    skips = [
        (before, after)
        for before, after in zip(wiring.headings, wiring.headings[1:], strict=False)
        if after > before + 1
    ]
    assert not skips, f"heading levels skipped: {skips} in {wiring.headings}"
