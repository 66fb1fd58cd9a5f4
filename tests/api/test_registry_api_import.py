"""CSV import and export through the API: dry run, all-or-nothing apply, round trips.

The acceptance case of issue 4: 500 devices with 7 bad rows; the dry run names the
7 rows and reasons, apply refuses and changes nothing, and once fixed all 500 register.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.roles import Role
from api.services import Services
from storage.registry import DEVICE_COLUMNS, ROUTE_COLUMNS
from tests.api_support import client_for, make_app, make_key, make_services

HEADER = ",".join(DEVICE_COLUMNS)
ROUTES_CSV = (
    "route_id,name,length_km,priority,area\n"
    "matlock-bank,Matlock Bank,6.4,1,Matlock\n"
    "a6-north,A6 northbound,12.25,2,\n"
)
CSV_HEADERS = {"Content-Type": "text/csv"}


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


def import_routes(client: TestClient, text: str = ROUTES_CSV, query: str = "") -> Any:
    return client.post(f"/api/v1/routes/import{query}", content=text, headers=CSV_HEADERS)


def import_devices(client: TestClient, text: str, query: str = "") -> Any:
    return client.post(f"/api/v1/devices/import{query}", content=text, headers=CSV_HEADERS)


def fleet() -> list[list[str]]:
    return [
        [f"rst-{n:03d}", f"70b3d57ba{n:07x}", f"Sensor {n}", "decentlab-dl-ds18", "road",
         "matlock-bank", "53.1", "-1.55", "false", "Highways",
         "temperature=road_surface_temperature"]
        for n in range(500)
    ]  # fmt: skip


def as_csv(rows: list[list[str]]) -> str:
    return "\n".join([HEADER, *(",".join(row) for row in rows)]) + "\n"


BAD_CELLS = [  # (row index, column, bad value, what the reason says)
    (3, 1, "70b3d57ba00000xz", "contains 'x' 'z'"),
    (50, 3, "decentlab-ds18", "decoder 'decentlab-ds18' is not known"),
    (120, 4, "roads", "domain 'roads' is not one of road, air, water, other"),
    (250, 6, "93.5", "latitude 93.5 is out of range"),
    (300, 10, "temperature=road_temp", "'road_temp', which is not a known quantity"),
    (420, 0, "RST-420", "must be lower case: use 'rst-420'"),
    (499, 5, "a6-south", "route_id 'a6-south' is not a registered route"),
]


def test_500_devices_with_7_bad_rows_dry_run_names_them_apply_refuses_fixed_apply_registers(
    engineer: TestClient, services: Services
) -> None:
    assert import_routes(engineer).json()["applied"] == 2
    rows = fleet()
    for index, column, value, _ in BAD_CELLS:
        rows[index][column] = value
    text = as_csv(rows)

    dry = import_devices(engineer, text, "?dry_run=true")

    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert (report["dry_run"], report["rows"], report["valid_rows"], report["applied"]) == (
        True,
        500,
        493,
        0,
    )
    assert [error["line"] for error in report["errors"]] == [5, 52, 122, 252, 302, 422, 501]
    for error, (index, _, _, says) in zip(report["errors"], BAD_CELLS, strict=True):
        assert says in error["reason"], error
        assert error["id"] == rows[index][0]
    assert services.registry.devices() == []

    refused = import_devices(engineer, text)

    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert [item["line"] for item in detail] == [5, 52, 122, 252, 302, 422, 501]
    assert all(item["type"] == "csv_row" and item["loc"][:2] == ["body", "csv"] for item in detail)
    assert detail[0]["msg"].startswith("line 5 (rst-003): dev_eui")
    assert services.registry.devices() == []
    assert services.registry.audit_entries(entity="device") == []

    applied = import_devices(engineer, as_csv(fleet()))

    assert applied.status_code == 200, applied.text
    assert (applied.json()["applied"], applied.json()["errors"]) == (500, [])
    assert len(services.registry.devices()) == 500
    assert engineer.get("/api/v1/devices?route=matlock-bank").json()["count"] == 500
    entries = services.registry.audit_entries(entity="device", limit=1000)
    assert len(entries) == 500
    assert {(e.origin, e.actor) for e in entries} == {("csv-import", entries[0].actor)}
    assert "(Jo)" in entries[0].actor


def test_a_csv_may_come_as_json_and_bad_bodies_are_refused_clearly(
    engineer: TestClient, services: Services
) -> None:
    import_routes(engineer)
    text = as_csv(fleet()[:2])

    as_json = engineer.post("/api/v1/devices/import", json={"csv": "\ufeff" + text})
    wrong_type = engineer.post(
        "/api/v1/devices/import", content=text, headers={"Content-Type": "application/xml"}
    )
    not_utf8 = engineer.post(
        "/api/v1/devices/import", content="é".encode("latin-1"), headers=CSV_HEADERS
    )
    not_csv_json = engineer.post("/api/v1/devices/import", json={"text": text})
    too_big = engineer.post(
        "/api/v1/devices/import", content=b"x" * (5 * 1024 * 1024 + 1), headers=CSV_HEADERS
    )
    semicolons = import_devices(engineer, text.replace(",", ";"), "?dry_run=true")

    assert as_json.status_code == 200 and as_json.json()["applied"] == 2
    assert wrong_type.status_code == 415 and "text/csv" in wrong_type.json()["detail"]
    assert not_utf8.status_code == 422
    assert "is not UTF-8 text (byte 0)" in not_utf8.json()["detail"][0]["msg"]
    assert not_csv_json.status_code == 422
    assert too_big.status_code == 413
    assert semicolons.status_code == 200
    assert "uses ';' between columns" in semicolons.json()["errors"][0]["reason"]
    assert len(services.registry.devices()) == 2


def test_a_field_map_the_decoder_cannot_honour_is_a_row_error(engineer: TestClient) -> None:
    import_routes(engineer)
    rows = fleet()[:1]
    rows[0][3], rows[0][10] = "cayenne-lpp", "luminosity_5=co2"

    report = import_devices(engineer, as_csv(rows), "?dry_run=true").json()

    (error,) = report["errors"]
    assert error["line"] == 2 and error["reason"].startswith("field_map: ")


def test_a_dev_eui_of_another_registered_device_is_named_in_the_dry_run(
    engineer: TestClient,
) -> None:
    import_routes(engineer)
    import_devices(engineer, as_csv(fleet()[:1]))
    rows = fleet()[1:2]
    rows[0][1] = fleet()[0][1]

    report = import_devices(engineer, as_csv(rows), "?dry_run=true").json()

    (error,) = report["errors"]
    assert "is already registered to device 'rst-000'" in error["reason"]


def test_devices_export_in_the_import_columns_and_import_back_unchanged(
    engineer: TestClient, services: Services
) -> None:
    import_routes(engineer)
    engineer.post(
        "/api/v1/devices",
        json={
            "device_id": "wx-bank-road",
            "dev_eui": "A840410001817A01",
            "decoder": "cayenne-lpp",
            "domain": "road",
            "name": 'Bank Road, "upper" weather',
            "route_id": "matlock-bank",
            "latitude": 53.14012,
            "longitude": -1.55301,
            "public": True,
            "owner": "Highways",
            "field_map": {
                "temperature_1": "air_temperature",
                "relative_humidity_2": "relative_humidity",
            },
            "join_eui": "70b3d57ed0000000",
            "notes": "on the lamp post",
        },
    )
    engineer.post(
        "/api/v1/devices",
        json={"device_id": "school-aq", "dev_eui": "0011223344556677", "decoder": "ttn",
              "domain": "air"},
    )  # fmt: skip
    before = services.registry.devices()
    audited = len(services.registry.audit_entries())

    exported = engineer.get("/api/v1/devices/export.csv")

    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "devices.csv" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == list(DEVICE_COLUMNS)
    assert rows[1] == [
        "school-aq", "0011223344556677", "", "ttn", "air", "", "", "", "false", "", "",
    ]  # fmt: skip
    assert rows[2][2] == 'Bank Road, "upper" weather'
    assert rows[2][10] == "temperature_1=air_temperature;relative_humidity_2=relative_humidity"
    again = import_devices(engineer, exported.text)
    assert again.status_code == 200 and again.json()["applied"] == 2
    assert services.registry.devices() == before
    assert len(services.registry.audit_entries()) == audited  # nothing changed, nothing audited
    only_public = engineer.get("/api/v1/devices/export.csv?public=true").text.splitlines()
    assert len(only_public) == 2 and only_public[1].startswith("wx-bank-road,")


def test_routes_import_dry_run_apply_and_export_round_trip(
    engineer: TestClient, services: Services
) -> None:
    bad = ROUTES_CSV + "Ring Road,Ring,0,first,\n"

    dry = import_routes(engineer, bad, "?dry_run=true").json()
    refused = import_routes(engineer, bad)
    applied = import_routes(engineer)
    engineer.patch("/api/v1/routes/a6-north", json={"policy": {"marginal_threshold_c": 0.5}})
    exported = engineer.get("/api/v1/routes/export.csv")
    again = import_routes(engineer, exported.text)

    assert (dry["valid_rows"], [e["line"] for e in dry["errors"]]) == (2, [4])
    reason = dry["errors"][0]["reason"]
    assert "route_id 'Ring Road' contains ' '" in reason and "length_km 0 must be" in reason
    assert "priority 'first' is not a whole number" in reason
    assert refused.status_code == 422 and refused.json()["detail"][0]["line"] == 4
    assert applied.json()["applied"] == 2
    assert exported.text.splitlines() == [
        ",".join(ROUTE_COLUMNS),
        "a6-north,A6 northbound,12.25,2,",
        "matlock-bank,Matlock Bank,6.4,1,Matlock",
    ]
    assert again.status_code == 200
    kept = services.registry.route("a6-north")
    assert kept is not None and kept.policy == {"marginal_threshold_c": 0.5}


def test_imports_need_an_engineer(app: FastAPI, services: Services) -> None:
    reader = client_for(app, make_key(services, Role.reader))

    assert import_routes(reader).status_code == 403
    assert import_devices(reader, as_csv([])).status_code == 403
    assert import_routes(client_for(app)).status_code == 401
    assert services.registry.routes() == []
