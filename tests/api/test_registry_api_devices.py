"""Devices through the API: register, read, change, retire, list and filter, audited.

The real application over a real SQLite registry and readings store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.roles import Role
from api.services import Services
from storage import Point
from tests.api_support import client_for, make_app, make_key, make_services

NOW = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)
ROUTE = {"route_id": "matlock-bank", "length_km": 6.4, "priority": 1, "name": "Matlock Bank"}


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = make_services(tmp_path)
    services.clock = lambda: NOW
    yield services
    services.registry.close()
    services.store.close()


@pytest.fixture
def app(services: Services) -> FastAPI:
    return make_app(services)


@pytest.fixture
def engineer(app: FastAPI, services: Services) -> TestClient:
    client = client_for(app, make_key(services, Role.engineer, "Jo, network engineer"))
    assert client.post("/api/v1/routes", json=ROUTE).status_code == 201
    return client


def device(device_id: str = "rst-bank-road-lower", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "device_id": device_id,
        "dev_eui": "70B3D57BA0000A11",
        "decoder": "decentlab-dl-ds18",
        "domain": "road",
        "name": "Bank Road (lower)",
        "route_id": "matlock-bank",
        "latitude": 53.13905,
        "longitude": -1.55452,
        "owner": "Highways",
        "field_map": {"temperature": "road_surface_temperature"},
    }
    body.update(changes)
    return body


def audit(services: Services, **filters: Any) -> list[Any]:
    return services.registry.audit_entries(**filters)


def test_an_engineer_registers_reads_changes_and_retires_a_device_all_audited(
    engineer: TestClient, services: Services
) -> None:
    created = engineer.post("/api/v1/devices", json=device(join_eui="70-B3-D5-7E-D0-00-00-00"))
    assert created.status_code == 201, created.text
    assert created.json()["dev_eui"] == "70b3d57ba0000a11"
    assert created.json()["join_eui"] == "70b3d57ed0000000"
    assert created.json()["status"] == "active"

    read = engineer.get("/api/v1/devices/rst-bank-road-lower")
    assert read.status_code == 200 and read.json() == created.json()

    changed = engineer.patch(
        "/api/v1/devices/rst-bank-road-lower", json={"name": "Bank Road", "public": True}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["public"]) == ("Bank Road", True)
    assert changed.json()["route_id"] == "matlock-bank"  # untouched fields stay

    retired = engineer.post("/api/v1/devices/rst-bank-road-lower/retire")
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    assert engineer.get("/api/v1/devices/rst-bank-road-lower").json()["status"] == "retired"

    entries = audit(services, entity="device")
    assert [e.action for e in entries] == ["retire", "update", "create"]
    actor = entries[0].actor
    assert actor.startswith("key:") and "Jo, network engineer" in actor
    assert {e.actor for e in entries} == {actor}
    update = entries[1]
    assert update.before is not None and update.after is not None
    assert (update.before["name"], update.after["name"]) == ("Bank Road (lower)", "Bank Road")
    assert (update.before["public"], update.after["public"]) == (False, True)


def test_every_broken_rule_is_reported_at_once_in_fastapis_shape(engineer: TestClient) -> None:
    refused = engineer.post(
        "/api/v1/devices",
        json=device(
            "RST 01",
            dev_eui="70b3d57ba0000a1",
            decoder="decentlab-ds18",
            route_id="matlock",
            latitude=91,
            field_map={"temperature": "road_surface_temp"},
        ),
    )

    assert refused.status_code == 422
    problems = {tuple(item["loc"]): item["msg"] for item in refused.json()["detail"]}
    assert set(problems) == {
        ("body", "device_id"),
        ("body", "dev_eui"),
        ("body", "decoder"),
        ("body", "route_id"),
        ("body", "latitude"),
        ("body", "field_map"),
    }
    assert "a DevEUI is exactly 16 hex digits" in problems[("body", "dev_eui")]
    assert "did you mean 'decentlab-dl-ds18'?" in problems[("body", "decoder")]
    assert "latitude 91.0 is out of range" in problems[("body", "latitude")]
    assert "route_id 'matlock' is not a registered route" in problems[("body", "route_id")]
    assert (
        "not a known quantity (did you mean 'road_surface_temperature'?)"
        in (problems[("body", "field_map")])
    )
    assert all(item["type"] == "value_error" for item in refused.json()["detail"])


def test_a_field_map_the_decoder_cannot_honour_is_refused_by_the_decoders_own_check(
    engineer: TestClient,
) -> None:
    refused = engineer.post(
        "/api/v1/devices",
        json=device(decoder="cayenne-lpp", field_map={"luminosity_5": "co2"}),
    )

    assert refused.status_code == 422
    (problem,) = refused.json()["detail"]
    assert problem["loc"] == ["body", "field_map"]
    assert problem["msg"].startswith("field_map: ")


def test_a_route_that_does_not_exist_is_named(engineer: TestClient) -> None:
    refused = engineer.post("/api/v1/devices", json=device(route_id="a14-south"))

    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "route_id"]
    assert "'a14-south' is not a registered route" in refused.json()["detail"][0]["msg"]


def test_duplicates_are_409_naming_the_device_that_has_the_dev_eui(engineer: TestClient) -> None:
    assert engineer.post("/api/v1/devices", json=device()).status_code == 201

    same_id = engineer.post("/api/v1/devices", json=device(dev_eui="0000000000000001"))
    same_eui = engineer.post("/api/v1/devices", json=device("rst-2"))
    patched = engineer.post("/api/v1/devices", json=device("rst-3", dev_eui="0000000000000003"))
    moved = engineer.patch("/api/v1/devices/rst-3", json={"dev_eui": "70b3d57ba0000a11"})

    assert same_id.status_code == 409
    assert "device_id 'rst-bank-road-lower' is already registered" in same_id.json()["detail"]
    assert same_eui.status_code == 409
    assert (
        "dev_eui 70b3d57ba0000a11 is already registered to device 'rst-bank-road-lower'"
        in same_eui.json()["detail"]
    )
    assert patched.status_code == 201 and moved.status_code == 409


def test_unknown_devices_are_404_with_a_clear_message(engineer: TestClient) -> None:
    for response in (
        engineer.get("/api/v1/devices/nobody"),
        engineer.patch("/api/v1/devices/nobody", json={"name": "x"}),
        engineer.post("/api/v1/devices/nobody/retire"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "no device 'nobody' is registered"}


def test_a_patch_refuses_unknown_fields_and_a_new_id(engineer: TestClient) -> None:
    engineer.post("/api/v1/devices", json=device())

    typo = engineer.patch("/api/v1/devices/rst-bank-road-lower", json={"nmae": "x"})
    new_id = engineer.patch("/api/v1/devices/rst-bank-road-lower", json={"device_id": "other"})
    nulled = engineer.patch("/api/v1/devices/rst-bank-road-lower", json={"decoder": None})
    half_place = engineer.patch("/api/v1/devices/rst-bank-road-lower", json={"latitude": None})
    cleared = engineer.patch(
        "/api/v1/devices/rst-bank-road-lower",
        json={"latitude": None, "longitude": None, "route_id": None},
    )

    assert typo.status_code == 422 and new_id.status_code == 422
    assert nulled.status_code == 422
    assert nulled.json()["detail"][0]["msg"] == "decoder must be text, got None"
    assert half_place.status_code == 422
    assert "give both or neither" in half_place.json()["detail"][0]["msg"]
    assert cleared.status_code == 200
    assert (cleared.json()["latitude"], cleared.json()["route_id"]) == (None, None)


def test_a_retired_device_can_be_brought_back(engineer: TestClient, services: Services) -> None:
    engineer.post("/api/v1/devices", json=device())
    engineer.post("/api/v1/devices/rst-bank-road-lower/retire")

    again = engineer.post("/api/v1/devices/rst-bank-road-lower/retire")
    back = engineer.patch("/api/v1/devices/rst-bank-road-lower", json={"status": "active"})

    assert again.status_code == 200 and back.json()["status"] == "active"
    assert [e.action for e in audit(services, entity="device")] == ["update", "retire", "create"]


def _register(client: TestClient, n: int, **changes: Any) -> None:
    response = client.post(
        "/api/v1/devices", json=device(f"dev-{n}", dev_eui=f"{n:016x}", **changes)
    )
    assert response.status_code == 201, response.text


def _ids(client: TestClient, query: str) -> list[str]:
    response = client.get(f"/api/v1/devices{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["devices"])
    return [d["device_id"] for d in body["devices"]]


def test_the_list_filters_by_domain_route_owner_status_and_public(
    engineer: TestClient,
) -> None:
    _register(engineer, 1, public=True)
    _register(engineer, 2, owner="Matlock School", domain="air", route_id=None, public=True)
    _register(engineer, 3, domain="water", route_id=None, owner=None)
    engineer.post("/api/v1/devices/dev-3/retire")

    assert _ids(engineer, "") == ["dev-1", "dev-2", "dev-3"]
    assert _ids(engineer, "?domain=road") == ["dev-1"]
    assert _ids(engineer, "?route=matlock-bank") == ["dev-1"]
    assert _ids(engineer, "?owner=Matlock%20School") == ["dev-2"]
    assert _ids(engineer, "?status=retired") == ["dev-3"]
    assert _ids(engineer, "?public=true") == ["dev-1", "dev-2"]
    assert _ids(engineer, "?public=false&status=active") == []
    assert engineer.get("/api/v1/devices?domain=sky").status_code == 422


def _uplink(device_id: str, at: datetime) -> Point:
    return Point(
        "uplink",
        {"device_id": device_id, "application_id": "council", "gateway": "gw-1"},
        {"f_cnt": 1, "rssi": -100.0},
        int(at.timestamp()) * 1_000_000_000,
    )


def test_silent_devices_are_those_not_heard_for_more_than_n_minutes(
    engineer: TestClient, services: Services
) -> None:
    for n in (1, 2, 3):
        _register(engineer, n)
    services.store.write(
        [
            _uplink("dev-1", NOW - timedelta(minutes=10)),
            _uplink("dev-2", NOW - timedelta(minutes=200)),
            _uplink("dev-2", NOW - timedelta(minutes=300)),
        ]
    )  # dev-3 was never heard

    assert _ids(engineer, "?silent_minutes=120") == ["dev-2", "dev-3"]
    assert _ids(engineer, "?silent_minutes=5") == ["dev-1", "dev-2", "dev-3"]
    assert _ids(engineer, "?silent_minutes=600") == ["dev-3"]
    assert _ids(engineer, "?silent_minutes=120&domain=road&route=matlock-bank") == [
        "dev-2",
        "dev-3",
    ]
    assert engineer.get("/api/v1/devices?silent_minutes=0").status_code == 422


def test_reads_need_any_key_and_changes_an_engineers(app: FastAPI, services: Services) -> None:
    anonymous = client_for(app)
    reader = client_for(app, make_key(services, Role.reader))
    highways = client_for(app, make_key(services, Role.highways))
    admin = client_for(app, make_key(services, Role.admin))

    assert anonymous.get("/api/v1/devices").status_code == 401
    assert reader.get("/api/v1/devices").status_code == 200
    assert reader.get("/api/v1/devices/export.csv").status_code == 200
    for client in (reader, highways):
        assert client.post("/api/v1/devices", json=device(route_id=None)).status_code == 403
        assert client.post("/api/v1/devices/import", content=b"", headers={
            "Content-Type": "text/csv"}).status_code == 403  # fmt: skip
    assert admin.post("/api/v1/devices", json=device(route_id=None)).status_code == 201
    assert reader.patch("/api/v1/devices/rst-bank-road-lower", json={}).status_code == 403
    assert reader.post("/api/v1/devices/rst-bank-road-lower/retire").status_code == 403
    assert services.registry.device("rst-bank-road-lower") is not None
