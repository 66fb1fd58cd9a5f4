"""Every page, light and dark, on a phone and a desktop: axe-core finds no serious or
critical WCAG 2.0/2.1/2.2 A or AA violation, the first Tab reaches the skip link and it
moves focus to the main content, nothing is wider than a phone, and a screenshot of each
(light scheme) is kept in tests/e2e/artifacts (and the board, a route and open data in
$WHERRY_SCREENSHOTS_DIR when it is set, for the README)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page

from api.roles import Role
from tests.e2e import story
from tests.e2e.browser import (
    PHONE,
    describe,
    finish_axe,
    readme_screenshot,
    screenshot,
    serious_violations,
    start_axe,
)
from tests.e2e.conftest import OpenPage, Site, load, new_context, storage_state

PAGES: dict[str, tuple[str, Role | None]] = {
    # name: (path, who looks at it)
    "home": ("/", None),
    "signin": ("/signin", None),
    "board": ("/board", Role.highways),
    "route": ("/routes/matlock-bank", Role.highways),
    "devices": ("/devices", Role.engineer),
    "device": ("/devices/rst-bank-road-lower", Role.engineer),
    "register": ("/devices/new", Role.engineer),
    "import": ("/devices/import", Role.engineer),
    "sightings": ("/sightings", Role.engineer),
    "decoder": ("/tools/decoder", Role.engineer),
    "open-data": ("/open", None),
    "open-sensor": (f"/open/{story.CLASSROOM}", None),  # beyond the list: for pupils
}
FOR_THE_README = {"board", "route", "open-data"}

Tab = Callable[[Role | None, str, str], tuple[Page, list[str]]]


@pytest.fixture(scope="module")
def tab(browser: Browser, site: Site) -> Iterator[Tab]:
    """One page per (scheme, viewport), reused from page to page with the role's session
    cookie put in (or taken out) before each: a context is costly to make, a page loaded
    afresh is checked afresh. axe-core is injected as an inline script, which a
    Content-Security-Policy would stop: these contexts bypass it."""
    tabs: dict[tuple[str, str], tuple[Page, list[str]]] = {}

    def get(role: Role | None, scheme: str, viewport: str) -> tuple[Page, list[str]]:
        if (scheme, viewport) not in tabs:
            context = new_context(browser, site, None, scheme, viewport, bypass_csp=True)
            page, errors = context.new_page(), []
            page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
            tabs[(scheme, viewport)] = (page, errors)
        page, errors = tabs[(scheme, viewport)]
        page.context.clear_cookies()
        if role is not None:
            page.context.add_cookies(storage_state(browser, site, role)["cookies"])
        return page, errors

    yield get
    for page, _ in tabs.values():
        page.context.close()


SCHEMES = ("light", "dark")
VIEWPORT_NAMES = ("phone", "desktop")


@pytest.mark.parametrize("name", list(PAGES))
def test_page_is_accessible(tab: Tab, name: str) -> None:
    """The page in all four tabs (light and dark, phone and desktop), checked at once."""
    path, role = PAGES[name]
    tabs = {
        (scheme, viewport): tab(role, scheme, viewport)
        for scheme in SCHEMES
        for viewport in VIEWPORT_NAMES
    }
    for (scheme, viewport), (page, errors) in tabs.items():
        errors.clear()
        load(page, path)
        assert page.url.split("?")[0].endswith(path), f"{path} went to {page.url}"
        signed_in_as = page.locator("header").inner_text()
        assert (f", {role})" in signed_in_as) if role else ("Sign in" in signed_in_as)
        if scheme == "light":
            screenshot(page, f"{name}-{viewport}")
            if name in FOR_THE_README:
                readme_screenshot(page, f"{name}-{viewport}")
        start_axe(page)
    failures = []
    for (scheme, viewport), (page, _) in tabs.items():
        violations = finish_axe(page)
        if violations:
            failures.append(f"{path} ({scheme}, {viewport}):\n{describe(violations)}")
    assert not failures, "\n".join(failures)
    for (scheme, viewport), (page, errors) in tabs.items():
        if viewport == "phone":
            assert_fits_a_phone(page)
        if scheme == "light":
            assert_skip_link_works(page)
        assert not errors, "script errors:\n" + "\n".join(errors)


WIDEST = """limit => {
  const clipped = e => {  // inside a scrolling box that is also what positions it
    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (style.overflowX !== "visible") {
        return getComputedStyle(e).position !== "absolute" || style.position !== "static";
      }
    }
    return false;
  };
  const wide = e => e.getBoundingClientRect().right > limit + 1 && !clipped(e);
  return Array.from(document.querySelectorAll("body *"))
    .filter(e => wide(e) && !(e.parentElement && wide(e.parentElement)))
    .slice(0, 5)
    .map(e => `${e.outerHTML.slice(0, 80)} (${Math.round(e.getBoundingClientRect().right)} px)`);
}"""
"""The outermost elements that make the page wider than the phone, scrolling boxes aside."""


def assert_fits_a_phone(page: Page) -> None:
    """No sideways scrolling of the whole page on a 390 px phone (wide tables scroll inside)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        culprits = page.evaluate(WIDEST, PHONE["width"])
        raise AssertionError(
            f"{page.url} is {width} px wide on a {PHONE['width']} px phone: {culprits}"
        )


def assert_skip_link_works(page: Page) -> None:
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "({text: document.activeElement.textContent.trim(), "
        "href: document.activeElement.getAttribute('href')})"
    )
    assert focused == {"text": "Skip to content", "href": "#main"}, (
        f"the first Tab on {page.url} reached {focused}"
    )
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'main'")


def test_axe_core_finds_what_it_should(open_page: OpenPage) -> None:
    """The check itself works: a page with a nameless button and grey-on-grey text fails."""
    page = open_page("")
    page.set_content(
        '<html lang="en"><title>bad</title><main><button></button>'
        '<p style="color:#bbb;background:#ccc">faint</p></main></html>'
    )
    found = {v["id"] for v in serious_violations(page)}
    assert {"button-name", "color-contrast"} <= found, found
