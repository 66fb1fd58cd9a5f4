"""The duty officer's board, open in the browser, turns a route to TREAT when its sensors
report frost over MQTT: live, through the page's event stream, with no reload."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from api.roles import Role
from tests.e2e import story
from tests.e2e.conftest import OpenPage, Site

RECORD_ROUTE_EVENTS = """
window.wherryRouteEvents = [];
window.EventSource = class extends window.EventSource {
  constructor(url, options) {
    super(url, options);
    this.addEventListener("route", (event) => {
      window.wherryRouteEvents.push(JSON.parse(event.data).route_id);
    });
  }
};
"""
"""Counts the `route` events the page's own EventSource receives, so the test knows the
change came down the stream (not from the page's once-a-minute resync)."""


def test_the_board_turns_a_route_to_treat_without_reloading(
    open_page: OpenPage, site: Site
) -> None:
    assert site.recommendations()[story.COLD_ROUTE] == "NO_ACTION"
    page = open_page("", Role.highways)
    page.add_init_script(RECORD_ROUTE_EVENTS)
    loads: list[str] = []
    page.on("load", lambda p: loads.append(p.url))
    # board.js resyncs once when its stream opens: let that finish before the frost comes.
    with page.expect_response(
        lambda r: r.url.endswith("/board") and r.request.resource_type == "fetch"
    ):
        page.goto("/board")
    expect(page.locator("#board-live-status")).to_contain_text("Live:")
    card = page.locator(f"#route-{story.COLD_ROUTE}")
    expect(card.locator(".badge")).not_to_contain_text("Treat")
    page.evaluate("window.stillTheSamePage = true")

    story.freeze(site.mqtt_port, story.COLD_ROUTE, time.time_ns())

    expect(card.locator(".badge")).to_contain_text("Treat", timeout=20_000)
    expect(card).to_contain_text("freezing", ignore_case=True)
    assert story.COLD_ROUTE in page.evaluate("window.wherryRouteEvents")
    assert page.evaluate("window.stillTheSamePage") is True
    assert len(loads) == 1, f"the board reloaded: {loads}"
    expect(page.locator("#board-announcer")).to_contain_text("Matlock Bridge")
    # Routes to treat come first: the frozen bridge now stands among them, above the town.
    order = page.locator("#board > li").evaluate_all("cards => cards.map(c => c.id)")
    assert order.index(f"route-{story.COLD_ROUTE}") < order.index("route-town-centre"), order
