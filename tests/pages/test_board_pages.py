"""The gritting board, a route's page, its forms, and the board's live stream.

Real SQLite registry and readings store; decisions stored as the alert engine stores
them; the live relay read over a real uvicorn server from a real Broadcaster.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.model import AlertEvent
from alerts.notify.broadcast import Broadcaster
from api.roles import Role
from api.services import Services
from storage import Point
from storage.registry import NewAlert, RouteDraft, RouteStatusRecord
from tests.api_support import make_key
from tests.pages.conftest import PageClient, SignedIn
from tests.servers import free_port
from wherry.api_server import ApiServer

NOW = datetime(2026, 1, 14, 3, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


@pytest.fixture
def world(page_services: Services) -> Services:
    """Five routes: TREAT on a freezing sensor, TREAT with every sensor silent, TREAT with
    no decision yet, MONITOR, and CLEAR with one silent sensor; readings for two of them."""
    services = page_services
    services.clock = lambda: NOW
    routes = [
        ("bank", "Bank Road", 1),
        ("a6", "A6 Derby Road", 2),
        ("dale", "Dale <b>Road</b>", 3),
        ("hill", "Hill Lane", 4),
        ("moor", "Moor Road", 5),
    ]
    for route_id, name, priority in routes:
        services.registry.create_route(
            RouteDraft(route_id=route_id, name=name, length_km=4.0, priority=priority),
            actor="test",
        )
    decide(services, "bank", "CLEAR", "NO_ACTION", "NO_ACTION: all sensors above +1.0 °C",
           silent=["rst-bank-2"], at=NOW - timedelta(hours=2))  # fmt: skip
    decide(services, "a6", "FREEZING", "TREAT",
           "TREAT: rst-a6-1 reads −0.4 °C at 02:48 (FREEZING: at or below 0.0 °C)",
           predicted=(-1.2, NOW + timedelta(hours=1, minutes=40)),
           at=NOW - timedelta(minutes=12))  # fmt: skip
    decide(services, "dale", "UNKNOWN", "TREAT",
           "TREAT (fail safe): no valid reading from rst-dale-1 for 50 min <script>",
           silent=["rst-dale-1"], at=NOW - timedelta(minutes=5))  # fmt: skip
    decide(services, "moor", "MARGINAL", "MONITOR", "MONITOR: rst-moor-1 reads +0.9 °C")
    readings = []
    for i in range(24 * 6):
        at = NOW - timedelta(hours=24) + timedelta(minutes=10 * i)
        if 40 <= i < 60:
            continue  # a gap of more than three hours: the chart breaks the line
        temperature = 3.0 - i * 0.025
        readings.append(road_point("a6", "rst-a6-1", at, temperature, dew_point=-0.8))
        readings.append(road_point("a6", "rst-a6-2", at, temperature + 0.7))
    readings.append(road_point("bank", "rst-bank-1", NOW - timedelta(minutes=5), 4.2))
    services.store.write(readings)
    return services


def decide(
    services: Services,
    route_id: str,
    state: str,
    recommendation: str,
    explanation: str,
    *,
    silent: list[str] | None = None,
    predicted: tuple[float, datetime] | None = None,
    at: datetime = NOW,
) -> None:
    detail: dict[str, object] = {
        "route_id": route_id,
        "state": state,
        "recommendation": recommendation,
        "silent": silent or [],
        "explanation": explanation,
        "sensors": [],
    }
    if predicted is not None:
        detail["predicted_minimum_c"] = predicted[0]
        detail["predicted_minimum_at"] = predicted[1].isoformat().replace("+00:00", "Z")
    services.registry.save_route_status(
        RouteStatusRecord(route_id, state, recommendation, at, explanation, detail)
    )


def road_point(
    route_id: str, device_id: str, at: datetime, rst: float, dew_point: float | None = None
) -> Point:
    fields: dict[str, float] = {"road_surface_temperature": rst}
    if dew_point is not None:
        fields["dew_point"] = dew_point
    tags = {"device_id": device_id, "route": route_id, "domain": "road"}
    return Point("reading", tags, fields, ns(at))


def cards(html: str) -> dict[str, str]:
    """Each route's card on the board, by route id, in page order."""
    found = re.findall(r'<li class="route-card[^"]*" id="route-([^"]+)"(.*?)</li>', html, re.S)
    return dict(found)


def words(fragment: str) -> str:
    """The text of an HTML fragment, tags dropped and spaces squeezed."""
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


# -- the board ---------------------------------------------------------------------------------


def test_the_board_puts_routes_to_treat_first_and_says_each_state_in_words(
    world: Services, signed_in: SignedIn
) -> None:
    page = signed_in(Role.highways).get("/board")

    assert page.status_code == 200
    shown = cards(page.text)
    assert list(shown) == ["a6", "dale", "hill", "moor", "bank"]
    a6, dale, hill, moor, bank = (words(shown[r]) for r in shown)
    assert "▲ Treat" in a6 and "❄ Freezing" in a6
    assert "TREAT: rst-a6-1 reads −0.4 °C at 02:48" in a6
    assert "Predicted minimum −1.2 °C at 14 Jan 04:40 UTC" in a6
    assert "Freshest reading 10 min ago" in a6  # the store's newest reading, not the decision's
    assert "? Unknown" in dale and "Silent sensor: rst-dale-1" in dale
    assert "the decision rests on the others" not in dale  # nothing else to rest on
    assert "? Unknown" in hill and "No decision yet" in hill and "Freshest reading none" in hill
    assert "◆ Monitor" in moor and "≈ Marginal" in moor
    assert "✓ No action" in bank and "○ Clear" in bank
    assert "Silent sensor: rst-bank-2 — no valid reading lately; the decision rests" in bank
    assert "Freshest reading 5 min ago" in bank
    assert "3 to treat" in words(page.text) and "1 to monitor" in words(page.text)


def test_the_board_escapes_what_it_shows(world: Services, signed_in: SignedIn) -> None:
    page = signed_in(Role.reader).get("/board")

    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    assert "Dale &lt;b&gt;Road&lt;/b&gt;" in page.text


def test_without_an_engine_the_board_says_so_and_still_works_without_script(
    world: Services, signed_in: SignedIn
) -> None:
    page = signed_in(Role.reader).get("/board").text

    assert 'data-live="off"' in page
    assert "this server runs no alert engine" in page
    assert '<a href="/board">Refresh</a>' in page
    assert 'http-equiv="refresh"' not in page.lower()
    assert 'aria-live="polite"' in page
    toggle = re.search(r'<button type="button" class="theme-toggle"[^>]*>', page)
    assert toggle is not None and " hidden" in toggle.group(0)  # it needs script to work


def test_with_an_engine_the_board_loads_its_live_script(
    world: Services, signed_in: SignedIn
) -> None:
    world.broadcaster = Broadcaster()
    page = signed_in(Role.reader).get("/board").text

    assert 'data-live="on"' in page
    assert '<script src="http://testserver/static/board.js" defer></script>' in page


@pytest.mark.parametrize("role", list(Role))
def test_every_role_may_read_the_board_and_route_pages(
    world: Services, signed_in: SignedIn, role: Role
) -> None:
    client = signed_in(role)

    assert client.get("/board").status_code == 200
    assert client.get("/routes/a6").status_code == 200


def test_nobody_signed_in_is_sent_to_sign_in(world: Services, anonymous: TestClient) -> None:
    for path in ("/board", "/routes/a6"):
        response = anonymous.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/signin?next={path}"


# -- a route's page ----------------------------------------------------------------------------


def chart(html: str) -> ET.Element:
    found = re.search(r"<svg .*?</svg>", html, re.S)
    assert found, "no chart on the page"
    return ET.fromstring(found.group(0))


def raise_alert(services: Services, route_id: str = "a6", domain: str = "road") -> int:
    alert = services.registry.raise_alert(
        NewAlert(
            f"gritting:{route_id}:{domain}",
            "gritting",
            "critical",
            f"{route_id}: TREAT",
            {},
            NOW - timedelta(minutes=12),
            route_id=route_id,
            domain=domain,
        )
    )
    assert alert is not None
    return alert.id


def test_a_route_page_charts_each_sensor_and_dew_point_with_the_guides(
    world: Services, signed_in: SignedIn
) -> None:
    page = signed_in(Role.reader).get("/routes/a6")

    svg = chart(page.text)
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "rst-a6-1 road surface" in texts and "rst-a6-2 road surface" in texts
    assert "rst-a6-1 dew point" in texts and "rst-a6-2 dew point" not in texts
    assert "+1 °C" in texts and "0 °C" in texts
    assert len(list(svg.iter(f"{SVG}path"))) == 6  # three lines, each broken by the gap
    assert "latest" in (svg.findtext(f"{SVG}desc") or "")
    assert '<h2 id="decision-heading">Decision now</h2>' in page.text
    assert "TREAT: rst-a6-1 reads −0.4 °C" in page.text
    assert "Hourly mean readings" in page.text


def test_an_unknown_route_is_a_404_page(world: Services, signed_in: SignedIn) -> None:
    page = signed_in(Role.reader).get("/routes/nowhere")

    assert page.status_code == 404
    assert "There is no route &#39;nowhere&#39;" in page.text


def test_readers_and_engineers_see_a_route_read_only(world: Services, signed_in: SignedIn) -> None:
    raise_alert(world)

    for role in (Role.reader, Role.engineer):
        page = signed_in(role).get("/routes/a6").text
        assert "a6: TREAT" in page
        assert "<form" not in page.split('<main id="main"')[1]
        assert "highways and admin keys acknowledge road alerts" in page


def test_acknowledging_through_the_form_changes_the_registry_and_the_page(
    world: Services, signed_in: SignedIn
) -> None:
    alert_id = raise_alert(world)
    announced: list[AlertEvent] = []
    world.announce = announced.append
    highways = signed_in(Role.highways)
    page = highways.get("/routes/a6").text
    assert f'action="/routes/a6/alerts/{alert_id}/acknowledge"' in page

    done = highways.post(
        f"/routes/a6/alerts/{alert_id}/acknowledge",
        data={"csrf_token": csrf(page)},
        follow_redirects=False,
    )
    after = highways.get(done.headers["location"]).text

    assert done.status_code == 303
    assert done.headers["location"] == "/routes/a6?done=acknowledged#alerts"
    record = world.registry.alert(alert_id)
    assert record is not None and record.status == "acknowledged"
    assert record.acknowledged_by == f"key:{highways.key_id} (highways person)"
    assert [event.kind for event in announced] == ["acknowledged"]
    assert "Alert acknowledged." in after
    assert f"Acknowledged by key:{highways.key_id} (highways person)" in after
    assert f'alerts/{alert_id}/acknowledge"' not in after  # no button for a done thing


def test_a_form_without_the_token_or_from_another_site_changes_nothing(
    world: Services, signed_in: SignedIn
) -> None:
    alert_id = raise_alert(world)
    highways = signed_in(Role.highways)
    token = csrf(highways.get("/routes/a6").text)
    url = f"/routes/a6/alerts/{alert_id}/acknowledge"

    missing = highways.post(url, data={})
    forged = highways.post(url, data={"csrf_token": token[::-1]})
    elsewhere = highways.post(
        url, data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    treatment = highways.post(
        "/routes/a6/treatments",
        data={"started_at": "2026-01-14T02:10"},
        headers={"Referer": "https://evil.example/page"},
    )

    assert [r.status_code for r in (missing, forged, elsewhere, treatment)] == [403] * 4
    record = world.registry.alert(alert_id)
    assert record is not None and record.status == "raised"
    assert world.registry.treatments(route_id="a6") == []


def test_a_road_alert_is_not_for_an_engineer_to_acknowledge(
    world: Services, signed_in: SignedIn
) -> None:
    alert_id = raise_alert(world)
    engineer = signed_in(Role.engineer)
    token = csrf(engineer.get("/signout").text)

    refused = engineer.post(f"/routes/a6/alerts/{alert_id}/acknowledge", data={"csrf_token": token})
    reader = signed_in(Role.reader)
    also = reader.post(
        f"/routes/a6/alerts/{alert_id}/acknowledge",
        data={"csrf_token": csrf(reader.get("/signout").text)},
    )

    assert refused.status_code == 403 and "highways" in refused.text
    assert also.status_code == 403
    record = world.registry.alert(alert_id)
    assert record is not None and record.status == "raised"


def test_logging_a_treatment_through_the_form_adds_it_to_the_registry_and_the_page(
    world: Services, signed_in: SignedIn
) -> None:
    admin = signed_in(Role.admin)
    token = csrf(admin.get("/routes/a6").text)

    done = admin.post(
        "/routes/a6/treatments",
        data={
            "csrf_token": token,
            "started_at": "2026-01-14T02:10",
            "ended_at": "2026-01-14T02:55",
            "spread_rate_g_m2": "12.5",
            "notes": "Both directions <b>",
        },
        follow_redirects=False,
    )
    page = admin.get(done.headers["location"]).text

    assert done.status_code == 303
    [logged] = world.registry.treatments(route_id="a6")
    assert logged.started_at == datetime(2026, 1, 14, 2, 10, tzinfo=UTC)
    assert logged.ended_at == datetime(2026, 1, 14, 2, 55, tzinfo=UTC)
    assert (logged.spread_rate_g_m2, logged.notes) == (12.5, "Both directions <b>")
    assert logged.logged_by == f"key:{admin.key_id} (admin person)"
    assert "Treatment logged." in page
    assert "14 Jan 02:10 UTC" in page and "Both directions &lt;b&gt;" in page


def test_a_treatment_with_mistakes_comes_back_with_each_beside_its_field(
    world: Services, signed_in: SignedIn
) -> None:
    highways = signed_in(Role.highways)
    token = csrf(highways.get("/routes/a6").text)

    response = highways.post(
        "/routes/a6/treatments",
        data={
            "csrf_token": token,
            "started_at": "2026-01-14T02:10",
            "ended_at": "2026-01-14T01:00",
            "spread_rate_g_m2": "500",
            "notes": "kept as typed",
        },
    )
    blank = highways.post("/routes/a6/treatments", data={"csrf_token": token, "started_at": ""})

    assert response.status_code == 422
    page = response.text
    assert 'id="ended_at-error"' in page and "cannot end before it started" in page
    assert 'id="spread_rate_g_m2-error"' in page and "at most 100" in page
    assert 'aria-describedby="ended_at-hint ended_at-error" aria-invalid="true"' in page
    assert 'id="started_at-error"' not in page
    assert 'value="500"' in page and "kept as typed" in page
    assert "The treatment was not logged" in page
    assert blank.status_code == 422 and 'id="started_at-error"' in blank.text
    assert world.registry.treatments(route_id="a6") == []


def test_a_reader_cannot_log_a_treatment(world: Services, signed_in: SignedIn) -> None:
    reader = signed_in(Role.reader)
    token = csrf(reader.get("/signout").text)

    response = reader.post(
        "/routes/a6/treatments", data={"csrf_token": token, "started_at": "2026-01-14T02:10"}
    )

    assert response.status_code == 403
    assert world.registry.treatments(route_id="a6") == []


def test_the_route_page_lists_recent_changes_of_state(world: Services, signed_in: SignedIn) -> None:
    decide(world, "a6", "ICE_LIKELY", "TREAT", "TREAT: ice likely on a6")

    page = signed_in(Role.reader).get("/routes/a6").text
    changes = page.split('id="transitions-heading"')[1]

    assert changes.index("Ice likely") < changes.index("Freezing")  # newest first
    assert "TREAT: ice likely on a6" in changes


# -- the live board ----------------------------------------------------------------------------


class EventReader:
    """Reads an SSE response on a thread, block by block, as EventSource does."""

    def __init__(self, response: httpx.Response) -> None:
        self.blocks: list[dict[str, str]] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(response,), daemon=True)
        self._thread.start()

    def _read(self, response: httpx.Response) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the test closed the stream
            self._blocks(response)

    def _blocks(self, response: httpx.Response) -> None:
        block: dict[str, str] = {}
        for line in response.iter_lines():
            if line == "":
                with self._changed:
                    self.blocks.append(block)
                    self._changed.notify_all()
                block = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                block[name] = value.removeprefix(" ")

    def wait_for(self, event: str, timeout: float = 5.0) -> dict[str, str]:
        with self._changed:
            found = self._changed.wait_for(
                lambda: any(b.get("event") == event for b in self.blocks), timeout
            )
            assert found, f"no {event!r} event; had {self.blocks}"
            return next(b for b in self.blocks if b.get("event") == event)

    def wait_ready(self, timeout: float = 5.0) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: any("retry" in b for b in self.blocks), timeout)


@pytest.fixture
def live(world: Services, page_app: FastAPI) -> Iterator[tuple[str, Broadcaster]]:
    broadcaster = Broadcaster(heartbeat_s=0.2, retry_ms=1000)
    world.broadcaster = broadcaster
    server = ApiServer(page_app, "127.0.0.1", free_port())
    server.start()
    yield server.url, broadcaster
    broadcaster.close()  # ends the streams, so the server can stop
    server.stop()


def test_the_live_board_relays_a_route_decision_as_a_ready_card(
    live: tuple[str, Broadcaster], world: Services
) -> None:
    url, broadcaster = live
    token = make_key(world, Role.reader, "control room")
    with httpx.Client(base_url=url, timeout=10) as browser:
        signed = browser.post("/signin", data={"api_key": token}, follow_redirects=False)
        assert signed.status_code == 303
        with browser.stream("GET", "/board/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = EventReader(response)
            events.wait_ready()
            published = broadcaster.publish(
                "route",
                {
                    "route_id": "bank",
                    "at": "2026-01-14T03:00:00Z",
                    "state": "ICE_LIKELY",
                    "recommendation": "TREAT",
                    "explanation": "TREAT: rst-bank-1 reads −0.2 °C, below its dew point",
                    "silent": [],
                    "sensors": [],
                },
            )
            route = events.wait_for("route")

    body = json.loads(route["data"])
    assert route["id"] == published.id
    assert body["route_id"] == "bank"
    assert body["rank"] == "0-00001-bank"
    assert body["announcement"].startswith("Bank Road: Treat, ice likely.")
    assert 'id="route-bank"' in body["html"] and "Ice likely" in body["html"]
    assert "Freshest reading 5 min ago" in words(body["html"])


def test_the_live_board_needs_a_session_and_ends_when_its_key_is_revoked(
    live: tuple[str, Broadcaster], world: Services
) -> None:
    url, broadcaster = live
    token = make_key(world, Role.highways)
    with httpx.Client(base_url=url, timeout=10) as browser:
        assert browser.get("/board/events").status_code == 401
        browser.post("/signin", data={"api_key": token}, follow_redirects=False)
        with browser.stream("GET", "/board/events") as response:
            events = EventReader(response)
            events.wait_ready()
            key_id = token.split("_")[1]
            world.registry.revoke_api_key(key_id, actor="test", at=NOW)
            world.keys.forget(key_id)
            decision = {"route_id": "a6", "at": "2026-01-14T03:00:00Z", "state": "CLEAR"}
            broadcaster.publish("route", {**decision, "recommendation": "NO_ACTION"})
            events.wait_for("signed_out")

    assert not any(block.get("event") == "route" for block in events.blocks)


def test_without_an_engine_the_live_board_tells_the_script_to_stop(
    world: Services, signed_in: SignedIn
) -> None:
    client: PageClient = signed_in(Role.reader)

    assert client.get("/board/events").status_code == 204
