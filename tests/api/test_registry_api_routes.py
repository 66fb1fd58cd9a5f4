"""Routes through the API: create with policy overrides, read, change, delete, audited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.roles import Role
from api.services import Services
from tests.api_support import client_for, make_app, make_key, make_services


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = make_services(tmp_path)
    yield services
    services.registry.close()
    services.store.close()


@pytest.fixture
def app(services: Services) -> FastAPI:
    return make_app(services)


@pytest.fixture
def engineer(app: FastAPI, services: Services) -> TestClient:
    return client_for(app, make_key(services, Role.engineer, "Jo"))


def route(route_id: str = "matlock-bank", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "route_id": route_id,
        "name": "Matlock Bank",
        "length_km": 6.4,
        "priority": 1,
        "area": "Matlock",
        "policy": {"marginal_threshold_c": 0.5, "horizon_minutes": 120},
        "spread_rate_g_m2": 10,
        "width_m": 7.3,
    }
    body.update(changes)
    return body


def test_a_route_is_created_read_changed_and_deleted_with_an_audit_trail(
    engineer: TestClient, services: Services
) -> None:
    created = engineer.post("/api/v1/routes", json=route())
    assert created.status_code == 201, created.text
    assert created.json()["policy"] == {"marginal_threshold_c": 0.5, "horizon_minutes": 120}
    assert (created.json()["spread_rate_g_m2"], created.json()["width_m"]) == (10.0, 7.3)
    assert engineer.get("/api/v1/routes/matlock-bank").json() == created.json()
    listed = engineer.get("/api/v1/routes").json()
    assert listed["count"] == 1 and listed["routes"] == [created.json()]

    changed = engineer.patch("/api/v1/routes/matlock-bank", json={"priority": 2, "policy": {}})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["priority"], changed.json()["policy"]) == (2, {})
    assert changed.json()["width_m"] == 7.3

    deleted = engineer.delete("/api/v1/routes/matlock-bank")
    assert deleted.status_code == 200 and deleted.json() == changed.json()
    assert engineer.get("/api/v1/routes/matlock-bank").status_code == 404

    entries = services.registry.audit_entries(entity="route")
    assert [e.action for e in entries] == ["delete", "update", "create"]
    assert entries[0].after is None and entries[0].before is not None
    assert entries[1].before is not None and entries[1].before["policy"] != {}
    assert all("(Jo)" in e.actor for e in entries)


def test_a_bad_route_is_refused_with_every_problem(engineer: TestClient) -> None:
    refused = engineer.post(
        "/api/v1/routes",
        json=route("Matlock Bank", length_km=-1, priority=0, spread_rate_g_m2=0, width_m=-2),
    )

    assert refused.status_code == 422
    fields = [item["loc"][-1] for item in refused.json()["detail"]]
    assert sorted(fields) == ["length_km", "priority", "route_id", "spread_rate_g_m2", "width_m"]
    not_an_object = engineer.post("/api/v1/routes", json=route(policy=[1, 2]))
    assert not_an_object.status_code == 422  # the schema says: a JSON object
    assert engineer.get("/api/v1/routes").json()["count"] == 0


def test_duplicate_and_unknown_routes_are_409_and_404(engineer: TestClient) -> None:
    engineer.post("/api/v1/routes", json=route())

    duplicate = engineer.post("/api/v1/routes", json=route())
    unknown = engineer.patch("/api/v1/routes/nowhere", json={"priority": 2})
    renamed = engineer.patch("/api/v1/routes/matlock-bank", json={"route_id": "x"})

    assert duplicate.status_code == 409
    assert "route_id 'matlock-bank' is already registered" in duplicate.json()["detail"]
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "no route 'nowhere' is registered"}
    assert renamed.status_code == 422  # not a field that can be changed
    assert engineer.delete("/api/v1/routes/nowhere").status_code == 404


def test_a_route_with_devices_on_it_is_not_deleted(engineer: TestClient) -> None:
    engineer.post("/api/v1/routes", json=route())
    engineer.post(
        "/api/v1/devices",
        json={"device_id": "rst-01", "dev_eui": "70b3d57ba0000a11", "decoder": "decentlab-dl-ds18",
              "domain": "road", "route_id": "matlock-bank"},
    )  # fmt: skip

    refused = engineer.delete("/api/v1/routes/matlock-bank")
    engineer.patch("/api/v1/devices/rst-01", json={"route_id": None})
    deleted = engineer.delete("/api/v1/routes/matlock-bank")

    assert refused.status_code == 409
    assert "still has 1 device (rst-01)" in refused.json()["detail"]
    assert deleted.status_code == 200


def test_routes_are_read_by_any_key_and_changed_by_engineers(
    app: FastAPI, services: Services, engineer: TestClient
) -> None:
    engineer.post("/api/v1/routes", json=route())
    highways = client_for(app, make_key(services, Role.highways))

    assert highways.get("/api/v1/routes").status_code == 200
    assert highways.get("/api/v1/routes/matlock-bank").status_code == 200
    assert highways.get("/api/v1/routes/export.csv").status_code == 200
    assert highways.patch("/api/v1/routes/matlock-bank", json={"priority": 3}).status_code == 403
    assert highways.delete("/api/v1/routes/matlock-bank").status_code == 403
    assert client_for(app).get("/api/v1/routes").status_code == 401
    kept = services.registry.route("matlock-bank")
    assert kept is not None and kept.priority == 1


def test_policy_overrides_the_engine_cannot_use_are_refused_at_the_edge(
    engineer: TestClient,
) -> None:
    typo = engineer.post("/api/v1/routes", json=route(policy={"marginal_threshold": 0.5}))
    backwards = engineer.post(
        "/api/v1/routes",
        json=route(policy={"marginal_threshold_c": -1.0, "freezing_threshold_c": 0.0}),
    )
    fine = engineer.post("/api/v1/routes", json=route(policy={"horizon_minutes": 120}))
    changed = engineer.patch(
        "/api/v1/routes/matlock-bank", json={"policy": {"silence_minutes": -5}}
    )

    assert typo.status_code == 422 and "marginal_threshold" in typo.text
    assert backwards.status_code == 422 and "freezing_threshold_c" in backwards.text
    assert fine.status_code == 201
    assert changed.status_code == 422 and "silence_minutes" in changed.text
