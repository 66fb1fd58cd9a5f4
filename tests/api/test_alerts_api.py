"""The gritting board, alerts, treatments and subscriptions through the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.model import AlertEvent
from api.roles import Role
from api.services import Services
from storage.registry import NewAlert, RouteDraft, RouteStatusRecord
from tests.api_support import client_for, make_app, make_key, make_services

T0 = datetime(2026, 1, 14, 2, 0, tzinfo=UTC)
V1 = "/api/v1"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = make_services(tmp_path)
    for route_id, priority in (("matlock-bank", 1), ("a6-south", 2)):
        services.registry.create_route(
            RouteDraft(route_id=route_id, name=route_id.title(), length_km=6.4, priority=priority),
            actor="test",
        )
    yield services
    services.registry.close()
    services.store.close()


@pytest.fixture
def app(services: Services) -> FastAPI:
    return make_app(services)


def client(app: FastAPI, services: Services, role: Role) -> TestClient:
    return client_for(app, make_key(services, role, f"{role} user"))


def test_the_board_shows_decisions_and_never_clear_for_an_undecided_route(
    app: FastAPI, services: Services
) -> None:
    services.registry.save_route_status(
        RouteStatusRecord(
            "a6-south", "FREEZING", "TREAT", T0, "TREAT: rst-1 reads -0.4 °C", {"silent": []}
        )
    )
    reader = client(app, services, Role.reader)

    board = reader.get(f"{V1}/board").json()

    assert [r["route_id"] for r in board["routes"]] == ["matlock-bank", "a6-south"]
    undecided, decided = board["routes"]
    assert (undecided["state"], undecided["recommendation"], undecided["at"]) == (
        "UNKNOWN",
        "TREAT",
        None,
    )
    assert (decided["state"], decided["recommendation"]) == ("FREEZING", "TREAT")
    assert decided["explanation"] == "TREAT: rst-1 reads -0.4 °C"
    assert decided["at"] == "2026-01-14T02:00:00Z"
    one = reader.get(f"{V1}/routes/a6-south/status").json()
    assert one == decided
    assert reader.get(f"{V1}/routes/nowhere/status").status_code == 404
    assert client_for(app).get(f"{V1}/board").status_code == 401


def test_transitions_list_each_change_in_order(app: FastAPI, services: Services) -> None:
    for minutes, state, recommendation in (
        (0, "CLEAR", "NO_ACTION"),
        (30, "MARGINAL", "MONITOR"),
        (60, "MARGINAL", "MONITOR"),
        (90, "FREEZING", "TREAT"),
    ):
        services.registry.save_route_status(
            RouteStatusRecord(
                "matlock-bank", state, recommendation, T0 + timedelta(minutes=minutes), "", {}
            )
        )
    reader = client(app, services, Role.reader)

    listed = reader.get(f"{V1}/routes/matlock-bank/transitions").json()
    later = reader.get(
        f"{V1}/routes/matlock-bank/transitions", params={"since": "2026-01-14T02:15:00Z"}
    ).json()

    assert [t["state"] for t in listed["transitions"]] == ["CLEAR", "MARGINAL", "FREEZING"]
    assert later["count"] == 2


def test_alerts_are_listed_read_with_history_and_acknowledged_by_highways(
    app: FastAPI, services: Services
) -> None:
    announced: list[AlertEvent] = []
    services.announce = announced.append
    road = services.registry.raise_alert(
        NewAlert(
            "gritting:a6-south",
            "gritting",
            "critical",
            "a6-south: TREAT",
            {},
            T0,
            route_id="a6-south",
            domain="road",
        )
    )
    water = services.registry.raise_alert(
        NewAlert(
            "water:weir:ph:ph_range",
            "water_threshold",
            "warning",
            "pH 9.4",
            {},
            T0,
            device_id="river-1",
            domain="water",
        )
    )
    assert road is not None and water is not None
    engineer = client(app, services, Role.engineer)
    highways = client(app, services, Role.highways)

    listed = engineer.get(f"{V1}/alerts", params={"open": "true", "domain": "road"}).json()
    refused = engineer.post(f"{V1}/alerts/{road.id}/acknowledge")
    done = highways.post(f"{V1}/alerts/{road.id}/acknowledge")
    again = highways.post(f"{V1}/alerts/{road.id}/acknowledge")
    water_done = engineer.post(f"{V1}/alerts/{water.id}/acknowledge")
    read = engineer.get(f"{V1}/alerts/{road.id}").json()

    assert [a["id"] for a in listed["alerts"]] == [road.id]
    assert refused.status_code == 403
    assert done.status_code == 200 and done.json()["status"] == "acknowledged"
    assert again.json()["acknowledged_by"] == done.json()["acknowledged_by"]
    assert water_done.status_code == 200
    assert [step["kind"] for step in read["history"]] == ["raised", "acknowledged"]
    assert [(e.kind, e.alert.id) for e in announced] == [
        ("acknowledged", road.id),
        ("acknowledged", water.id),
    ]
    services.registry.clear_alert(road.id, summary="clear", at=T0)
    assert highways.post(f"{V1}/alerts/{road.id}/acknowledge").status_code == 409
    assert highways.post(f"{V1}/alerts/424242/acknowledge").status_code == 404


def test_treatments_are_logged_by_highways_and_checked(app: FastAPI, services: Services) -> None:
    highways = client(app, services, Role.highways)
    reader = client(app, services, Role.reader)
    run = {
        "route_id": "matlock-bank",
        "started_at": "2026-01-14T03:10:00Z",
        "ended_at": "2026-01-14T04:25:00Z",
        "spread_rate_g_m2": 10,
        "notes": "both directions",
    }

    logged = highways.post(f"{V1}/treatments", json=run)
    backwards = highways.post(f"{V1}/treatments", json={**run, "ended_at": "2026-01-14T01:00:00Z"})
    unknown_route = highways.post(f"{V1}/treatments", json={**run, "route_id": "nowhere"})
    by_reader = reader.post(f"{V1}/treatments", json=run)

    assert logged.status_code == 201, logged.text
    assert logged.json()["logged_by"].endswith("(highways user)")
    assert backwards.status_code == 422 and "ended_at" in backwards.text
    assert unknown_route.status_code == 422 and "nowhere" in unknown_route.text
    assert by_reader.status_code == 403
    listed = reader.get(f"{V1}/treatments", params={"route": "matlock-bank"}).json()
    assert [t["id"] for t in listed["treatments"]] == [logged.json()["id"]]
    deleted = highways.delete(f"{V1}/treatments/{logged.json()['id']}")
    assert deleted.status_code == 200
    assert reader.get(f"{V1}/treatments").json()["count"] == 0


def test_subscriptions_never_show_their_secret(app: FastAPI, services: Services) -> None:
    admin = client(app, services, Role.admin)
    secret = "a-signing-secret-of-some-length"

    created = admin.post(
        f"{V1}/subscriptions",
        json={
            "name": "Control room",
            "channel": "webhook",
            "target": "https://control.example.org/hook",
            "secret": secret,
            "domains": ["road"],
            "min_severity": "critical",
        },
    )
    bad = admin.post(
        f"{V1}/subscriptions",
        json={"name": "x", "channel": "webhook", "target": "gopher://x", "secret": secret},
    )
    changed = admin.patch(
        f"{V1}/subscriptions/{created.json()['id']}", json={"active": False, "routes": ["a6"]}
    )
    listed = admin.get(f"{V1}/subscriptions")

    assert created.status_code == 201, created.text
    assert created.json()["has_secret"] is True
    assert bad.status_code == 422 and "http(s)" in bad.text
    assert changed.json()["active"] is False and changed.json()["routes"] == ["a6"]
    assert secret not in listed.text and secret not in created.text
    assert secret not in admin.get(f"{V1}/audit").text
    emptied = admin.patch(f"{V1}/subscriptions/{created.json()['id']}", json={"name": None})
    assert emptied.status_code == 422 and "name" in emptied.text
    assert admin.delete(f"{V1}/subscriptions/{created.json()['id']}").status_code == 200
    assert admin.get(f"{V1}/subscriptions").json()["count"] == 0


def test_the_season_report_counts_avoidable_runs_and_their_salt(
    app: FastAPI, services: Services
) -> None:
    """Two January nights on matlock-bank (6.4 km): the first stays CLEAR but was treated
    (avoidable), the second turns to TREAT and was treated (needed)."""
    registry = services.registry
    first = datetime(2026, 1, 12, 17, 0, tzinfo=UTC)  # the decision in force before 18:00
    second = datetime(2026, 1, 13, 17, 0, tzinfo=UTC)
    for at, state, recommendation in (
        (first, "CLEAR", "NO_ACTION"),
        (second + timedelta(hours=7), "FREEZING", "TREAT"),
        (second + timedelta(hours=16), "CLEAR", "NO_ACTION"),
    ):
        registry.save_route_status(
            RouteStatusRecord("matlock-bank", state, recommendation, at, "", {})
        )
    highways = client(app, services, Role.highways)
    for started in (first + timedelta(hours=3), second + timedelta(hours=5)):
        run = {
            "route_id": "matlock-bank",
            "started_at": started.isoformat(),
            "ended_at": (started + timedelta(hours=1)).isoformat(),
        }
        assert highways.post(f"{V1}/treatments", json=run).status_code == 201

    report = highways.get(
        f"{V1}/reports/season",
        params={"from": "2026-01-12", "to": "2026-01-13", "route": "matlock-bank"},
    ).json()

    bank = report["routes"]["matlock-bank"]
    assert (bank["nights"], bank["nights_treated"], bank["nights_needing_treatment"]) == (2, 2, 1)
    assert (bank["avoidable_nights"], bank["avoidable_runs"]) == (1, 1)
    # 6.4 km × 7.3 m × 10 g/m² = 0.467 t of salt; 6.4 km × 0.45 l/km = 2.9 l; one hour
    assert bank["avoidable_cost"] == {"salt_tonnes": 0.467, "fuel_litres": 2.9, "driver_hours": 1.0}
    assert list(report["routes"]) == ["matlock-bank"]
    refused = highways.get(
        f"{V1}/reports/season", params={"from": "2026-02-01", "to": "2026-01-01"}
    )
    assert refused.status_code == 422
    assert highways.get(f"{V1}/reports/season", params={"route": "nowhere"}).status_code == 404
    for far in (
        {"from": "0001-01-01"},
        {"to": "9999-12-31"},
        {"from": "2020-01-01", "to": "2026-01-01"},
    ):
        answer = highways.get(f"{V1}/reports/season", params=far)
        assert answer.status_code == 422, far
        assert answer.json()["detail"][0]["loc"][0] == "query"
    default = highways.get(f"{V1}/reports/season").json()
    assert default["season"]["nights"] == 366
