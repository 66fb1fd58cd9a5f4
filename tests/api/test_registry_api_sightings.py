"""Sightings, dead letters, decoders and the audit log through the API."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.roles import Role
from api.services import Services
from storage.registry import DeadLetter, Sighting
from tests.api_support import client_for, make_app, make_key, make_services

T0 = 1_768_446_765_123_456_789  # 2026-01-15T03:12:45.123456789Z
DS18_PAYLOAD = bytes.fromhex("02000100037fec0bb8")  # Decentlab DS18: -1.25 °C, 3.0 V


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


def heard(services: Services, device_id: str, dev_eui: str | None = "70B3D57BA0000A99") -> None:
    services.registry.record_sightings(
        [
            Sighting("ttn", device_id, "derbyshire-roads", dev_eui, T0, 1, b"\x00"),
            Sighting("ttn", device_id, "derbyshire-roads", dev_eui, T0 + 60_000_000_000, 1,
                     DS18_PAYLOAD),
        ]
    )  # fmt: skip


# -- sightings ---------------------------------------------------------------------------------


def test_a_sighted_device_is_registered_in_one_step_with_what_its_uplinks_told(
    engineer: TestClient, services: Services
) -> None:
    heard(services, "eui-70b3d57ba0000a99")

    listed = engineer.get("/api/v1/sightings").json()
    draft = engineer.get("/api/v1/sightings/eui-70b3d57ba0000a99")

    assert listed["count"] == 1
    (seen,) = listed["sightings"]
    assert (seen["count"], seen["payload_hex"], seen["f_port"]) == (2, DS18_PAYLOAD.hex(), 1)
    assert seen["first_seen"] == "2026-01-15T03:12:45.123456Z"
    assert draft.status_code == 200, draft.text
    assert draft.json()["draft"] == {
        "device_id": "eui-70b3d57ba0000a99",
        "dev_eui": "70b3d57ba0000a99",
        "application_id": "derbyshire-roads",
    }
    assert draft.json()["needed"] == ["decoder", "domain"]
    assert "decentlab-dl-ds18" in draft.json()["candidate_decoders"]

    registered = engineer.post(
        "/api/v1/sightings/eui-70b3d57ba0000a99/register",
        json={"decoder": "decentlab-dl-ds18", "domain": "road", "name": "Bank Road (upper)",
              "latitude": 53.1412, "longitude": -1.5521},
    )  # fmt: skip

    assert registered.status_code == 201, registered.text
    device = registered.json()
    assert (device["device_id"], device["dev_eui"], device["application_id"]) == (
        "eui-70b3d57ba0000a99",
        "70b3d57ba0000a99",
        "derbyshire-roads",
    )
    assert (device["decoder"], device["name"], device["status"]) == (
        "decentlab-dl-ds18",
        "Bank Road (upper)",
        "active",
    )
    assert engineer.get("/api/v1/sightings").json()["count"] == 0
    assert engineer.get("/api/v1/sightings/eui-70b3d57ba0000a99").status_code == 404
    (entry,) = services.registry.audit_entries(entity="device")
    assert (entry.action, entry.origin) == ("create", "sighting")


def test_a_sighting_without_a_dev_eui_needs_one_and_bad_values_are_refused(
    engineer: TestClient, services: Services
) -> None:
    heard(services, "chirp-1", dev_eui=None)

    draft = engineer.get("/api/v1/sightings/chirp-1").json()
    missing = engineer.post(
        "/api/v1/sightings/chirp-1/register",
        json={"decoder": "decentlab-dl-ds18", "domain": "road"},
    )
    bad = engineer.post(
        "/api/v1/sightings/chirp-1/register",
        json={"decoder": "nope", "domain": "road", "dev_eui": "0011223344556677"},
    )
    given = engineer.post(
        "/api/v1/sightings/chirp-1/register",
        json={"decoder": "decentlab-dl-ds18", "domain": "road", "dev_eui": "0011223344556677"},
    )

    assert draft["needed"] == ["decoder", "domain", "dev_eui"]
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "dev_eui"]
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "decoder"]
    assert given.status_code == 201 and given.json()["dev_eui"] == "0011223344556677"


def test_registering_a_sighting_whose_dev_eui_is_taken_is_a_conflict(
    engineer: TestClient, services: Services
) -> None:
    engineer.post(
        "/api/v1/devices",
        json={"device_id": "rst-old", "dev_eui": "0011223344556677", "decoder": "decentlab-dl-ds18",
              "domain": "road"},
    )  # fmt: skip
    heard(services, "rst-new", dev_eui=None)

    taken = engineer.post(
        "/api/v1/sightings/rst-new/register",
        json={"decoder": "decentlab-dl-ds18", "domain": "road", "dev_eui": "0011223344556677"},
    )
    unknown = engineer.post(
        "/api/v1/sightings/nobody/register", json={"decoder": "ttn", "domain": "air"}
    )

    assert taken.status_code == 409 and "'rst-old'" in taken.json()["detail"]
    assert unknown.status_code == 404 and "no unregistered device 'nobody'" in unknown.text


# -- dead letters ------------------------------------------------------------------------------


def test_dead_letters_are_listed_newest_first_by_reason_and_counted(
    engineer: TestClient, services: Services
) -> None:
    services.registry.record_dead_letters(
        [
            DeadLetter(T0, "v3/a@ttn/devices/x/up", "malformed_json", "line 1", b'{"end'),
            DeadLetter(T0 + 1, "v3/a@ttn/devices/y/up", "oversize", "70000 bytes", b"\xff" * 10),
            DeadLetter(T0 + 2, "v3/a@ttn/devices/z/up", "malformed_json", "line 2", b"{"),
        ]
    )

    listed = engineer.get("/api/v1/dead-letters").json()
    malformed = engineer.get("/api/v1/dead-letters?reason=malformed_json&limit=1").json()
    counts = engineer.get("/api/v1/dead-letters/counts").json()

    assert [letter["topic"][-4:] for letter in listed["dead_letters"]] == ["z/up", "y/up", "x/up"]
    oversize = listed["dead_letters"][1]
    assert base64.b64decode(oversize["body_base64"]) == b"\xff" * 10
    assert oversize["body_text"] == "\ufffd" * 10
    assert oversize["body_sha256"] == hashlib.sha256(b"\xff" * 10).hexdigest()
    assert listed["dead_letters"][2]["arrived_at"] == "2026-01-15T03:12:45.123456Z"
    assert [letter["detail"] for letter in malformed["dead_letters"]] == ["line 2"]
    assert counts == {"total": 3, "by_reason": {"malformed_json": 2, "oversize": 1}}
    assert engineer.get("/api/v1/dead-letters?limit=0").status_code == 422


# -- decoders ----------------------------------------------------------------------------------


def test_decoders_are_listed_without_a_key_with_units_and_default_maps(app: FastAPI) -> None:
    listed = client_for(app).get("/api/v1/decoders")

    assert listed.status_code == 200
    decoders = {d["id"]: d for d in listed.json()["decoders"]}
    assert listed.json()["count"] == len(decoders) >= 10
    ds18 = decoders["decentlab-dl-ds18"]
    assert ds18["vendor"] and ds18["model"]
    assert {"quantity": "road_surface_temperature", "unit": "°C"}.items() <= next(
        q for q in ds18["quantities"] if q["quantity"] == "road_surface_temperature"
    ).items()
    assert ds18["default_field_map"]["temperature"] == "road_surface_temperature"


def test_trying_a_payload_gives_normalised_readings_or_the_decoders_error(
    app: FastAPI, services: Services, engineer: TestClient
) -> None:
    tried = engineer.post(
        "/api/v1/decoders/decentlab-dl-ds18/try",
        json={"hex": "02 00 01 00 03 7f ec 0b b8", "f_port": 1},
    )
    mapped = engineer.post(
        "/api/v1/decoders/decentlab-dl-ds18/try",
        json={
            "hex": DS18_PAYLOAD.hex(),
            "f_port": 1,
            "field_map": {"temperature": "air_temperature"},
        },
    )
    unreadable = engineer.post(
        "/api/v1/decoders/decentlab-dl-ds18/try", json={"hex": "01", "f_port": 1}
    )
    not_hex = engineer.post("/api/v1/decoders/decentlab-dl-ds18/try", json={"hex": "0g1"})
    bad_map = engineer.post(
        "/api/v1/decoders/decentlab-dl-ds18/try",
        json={"hex": DS18_PAYLOAD.hex(), "field_map": {"temperature": "no_such_quantity"}},
    )
    unknown = engineer.post("/api/v1/decoders/nope/try", json={"hex": "00"})
    reader = client_for(app, make_key(services, Role.reader)).post(
        "/api/v1/decoders/decentlab-dl-ds18/try", json={"hex": "00"}
    )  # fmt: skip

    assert tried.status_code == 200, tried.text
    readings = {r["quantity"]: r for r in tried.json()["readings"]}
    assert readings["road_surface_temperature"]["value"] == -1.25
    assert readings["road_surface_temperature"]["unit"] == "°C"
    assert tried.json()["vendor_fields"]["temperature"] == -1.25
    assert "air_temperature" in {r["quantity"] for r in mapped.json()["readings"]}
    assert unreadable.status_code == 422
    assert unreadable.json()["detail"][0]["loc"] == ["body", "hex"]
    assert "wrong protocol version 1 at byte 0" in unreadable.json()["detail"][0]["msg"]
    assert not_hex.status_code == 422 and "contains 'g'" in not_hex.json()["detail"][0]["msg"]
    assert bad_map.status_code == 422 and bad_map.json()["detail"][0]["loc"] == [
        "body",
        "field_map",
    ]
    assert unknown.status_code == 404 and "no decoder is registered as 'nope'" in unknown.text
    assert reader.status_code == 403


# -- the audit log -----------------------------------------------------------------------------


def test_admins_read_the_audit_log_filtered_and_without_key_secrets(
    app: FastAPI, services: Services, engineer: TestClient
) -> None:
    admin = client_for(app, make_key(services, Role.admin, "Ana, admin"))
    start = datetime.now(UTC)
    engineer.post("/api/v1/routes", json={"route_id": "ring", "length_km": 3, "priority": 1})
    engineer.patch("/api/v1/routes/ring", json={"priority": 2})

    everything = admin.get("/api/v1/audit").json()
    ring = admin.get("/api/v1/audit?entity=route&entity_id=ring&limit=1").json()
    keys = admin.get("/api/v1/audit?entity=api_key").json()
    by_jo = admin.get("/api/v1/audit", params={"actor": everything["entries"][0]["actor"]}).json()
    since = admin.get("/api/v1/audit", params={"since": start.isoformat()}).json()
    future = admin.get("/api/v1/audit", params={"since": "2099-01-01T00:00:00Z"}).json()
    naive = admin.get("/api/v1/audit", params={"since": "2026-01-01T00:00:00"})

    assert [e["action"] for e in ring["entries"]] == ["update"]
    assert ring["entries"][0]["before"]["priority"] == 1
    assert ring["entries"][0]["after"]["priority"] == 2
    assert ring["entries"][0]["at"].endswith("Z")
    assert keys["count"] == 2 and all("secret_hash" not in e["after"] for e in keys["entries"])
    assert [e["entity"] for e in by_jo["entries"]] == ["route", "route"]
    assert since["count"] == 2 and future["count"] == 0
    assert naive.status_code == 422
    assert engineer.get("/api/v1/audit").status_code == 403
    assert client_for(app).get("/api/v1/audit").status_code == 401


def test_sightings_and_dead_letters_are_for_engineers(app: FastAPI, services: Services) -> None:
    heard(services, "stray")
    reader = client_for(app, make_key(services, Role.reader))

    for path in ("/api/v1/sightings", "/api/v1/sightings/stray", "/api/v1/dead-letters",
                 "/api/v1/dead-letters/counts"):  # fmt: skip
        assert reader.get(path).status_code == 403, path
        assert client_for(app).get(path).status_code == 401, path
    assert (
        reader.post(
            "/api/v1/sightings/stray/register", json={"decoder": "ttn", "domain": "air"}
        ).status_code
        == 403
    )
    assert services.registry.sighting("stray") is not None
