"""Debian's Chromium driven by Playwright, axe-core's checks, and screenshots.

Never `playwright install`: the browser is the machine's own /usr/bin/chromium, and
axe-core comes from tests/e2e/node_modules (installed by scripts/test from the lock file),
so nothing is downloaded while the tests run (docs/decisions/0014).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = HERE / "artifacts"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
FAILING_IMPACTS = ("serious", "critical")

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}


def launch(playwright: Playwright) -> Browser:
    """Headless Chromium with a fresh, temporary profile (Playwright makes one per launch)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/test does)")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def start_axe(page: Page) -> None:
    """Inject axe-core and start its WCAG 2.0/2.1/2.2 A and AA checks without waiting, so
    several pages (each in its own renderer process) are checked at once."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run scripts/test, or npm ci --prefix tests/e2e")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    page.evaluate(
        """tags => { window.wherryAxe = axe.run(document, {
            runOnly: {type: 'tag', values: tags},
            resultTypes: ['violations'],
        }); }""",
        WCAG_TAGS,
    )


def finish_axe(page: Page) -> list[dict[str, Any]]:
    """The serious and critical violations the checks started by `start_axe` found."""
    result: dict[str, Any] = page.evaluate("() => window.wherryAxe")
    return [v for v in result["violations"] if v.get("impact") in FAILING_IMPACTS]


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical WCAG 2.0/2.1/2.2 A and AA violations on `page`."""
    start_axe(page)
    return finish_axe(page)


def describe(violations: list[dict[str, Any]]) -> str:
    """One paragraph per violation: rule, impact, what it means, and where."""
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        lines.append(f"  {violation['helpUrl']}")
        for node in violation["nodes"][:8]:
            target = " > ".join(str(t) for t in node["target"])
            summary = " ".join(str(node.get("failureSummary", "")).split())
            lines.append(f"    at {target}: {summary[:300]}")
        if len(violation["nodes"]) > 8:
            lines.append(f"    … and {len(violation['nodes']) - 8} more")
    return "\n".join(lines)


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG under tests/e2e/artifacts (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def readme_screenshot(page: Page, name: str) -> Path | None:
    """Also into $WHERRY_SCREENSHOTS_DIR when it is set (docs/screenshots, for the README)."""
    folder = os.environ.get("WHERRY_SCREENSHOTS_DIR")
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = Path(folder) / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
