"""Readings for key holders: raw and aggregated, JSON and CSV, paged, over both stores.

The real app over a real SQLite registry, and a real SQLite store or a real influxd.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.roles import Role
from api.services import Services
from storage import InfluxStore, Point, ReadingStore
from storage.registry import DeviceRow
from tests import servers
from tests.api_support import client_for, make_app, make_key, make_services

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
T0 = 1_768_435_200 * SECOND  # 2026-01-15T00:00:00Z
DAY = "start=2026-01-15T00:00:00Z&end=2026-01-16T00:00:00Z"
ROAD = {"device_id": "rst-01", "application_id": "town", "domain": "road", "route": "a38"}


def device(device_id: str, *, public: bool = False, domain: str = "road") -> DeviceRow:
    return DeviceRow(
        device_id=device_id,
        dev_eui=uuid.uuid4().hex[:16],
        name=f"Probe {device_id}",
        decoder="decentlab-dl-ds18",
        domain=domain,  # type: ignore[arg-type]
        route_id=None,
        latitude=52.95,
        longitude=-1.15,
        public=public,
        owner="County council",
        field_map={},
    )


def reading(time_ns: int, tags: dict[str, str] | None = None, **fields: float) -> Point:
    return Point("reading", tags or ROAD, fields, time_ns)


def flagged(time_ns: int, quantity: str, value: float, reason: str) -> Point:
    tags = {**ROAD, "quantity": quantity}
    return Point("flagged", tags, {"value": value, "reason": reason}, time_ns)


@pytest.fixture(params=["sqlite", pytest.param("influxdb", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReadingStore | None]:
    if request.param == "sqlite":
        yield None  # make_services opens an SQLite store
        return
    server: servers.ServerProcess = request.getfixturevalue("influxd_server")
    database = f"api_{uuid.uuid4().hex}"
    influx = InfluxStore(f"http://127.0.0.1:{server.port}", database)
    yield influx
    influx.close()
    httpx.post(f"http://127.0.0.1:{server.port}/query", data={"q": f'DROP DATABASE "{database}"'})


@pytest.fixture
def services(tmp_path: Path, store: ReadingStore | None) -> Iterator[Services]:
    services = make_services(tmp_path, store)
    services.clock = lambda: datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    services.registry.apply_device_import(
        [device("rst-01"), device("rst-02"), device("aq-01", domain="air")], actor="test"
    )
    yield services
    services.registry.close()
    services.store.close()


@pytest.fixture
def app(services: Services) -> FastAPI:
    return make_app(services)


@pytest.fixture
def client(app: FastAPI, services: Services) -> TestClient:
    return client_for(app, make_key(services, Role.reader))


def readings(client: TestClient, query: str, device_id: str = "rst-01") -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/devices/{device_id}/readings?{DAY}&{query}")
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["readings"]
    return rows


def every_page(client: TestClient, url: str, *, follow: str) -> list[dict[str, Any]]:
    """All rows, page by page, by the body's `next` or by the `Link` header."""
    rows: list[dict[str, Any]] = []
    pages = 0
    while True:
        answer = client.get(url)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        rows.extend(body["readings"])
        pages += 1
        assert pages < 100
        if body["next"] is None:
            assert "link" not in answer.headers
            return rows
        if follow == "link":
            url = answer.links["next"]["url"]
        else:
            base = url.split("&cursor=")[0]
            url = f"{base}&cursor={body['next']}"


# -- raw readings -----------------------------------------------------------------------------


def test_raw_readings_each_have_quantity_value_unit_and_a_utc_time(
    services: Services, client: TestClient
) -> None:
    services.store.write(
        [
            reading(T0 + 10 * MINUTE, road_surface_temperature=-1.25, battery_voltage=3.61),
            reading(T0 + 20 * MINUTE + 123_456_789, road_surface_temperature=-1.5),
            reading(T0 - 1, road_surface_temperature=9.0),  # before the range
        ]
    )

    answer = client.get(f"/api/v1/devices/rst-01/readings?{DAY}")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "device_id": "rst-01",
        "start": "2026-01-15T00:00:00Z",
        "end": "2026-01-16T00:00:00Z",
        "quantity": None,
        "window": None,
        "function": None,
        "readings": [
            {"time": "2026-01-15T00:10:00Z", "quantity": "battery_voltage", "value": 3.61,
             "unit": "V", "valid": True, "reason": None},
            {"time": "2026-01-15T00:10:00Z", "quantity": "road_surface_temperature",
             "value": -1.25, "unit": "°C", "valid": True, "reason": None},
            {"time": "2026-01-15T00:20:00.123456789Z", "quantity": "road_surface_temperature",
             "value": -1.5, "unit": "°C", "valid": True, "reason": None},
        ],
        "next": None,
    }  # fmt: skip


def test_the_default_range_is_the_day_before_now(services: Services, client: TestClient) -> None:
    now = 1_768_478_400 * SECOND  # the fixture's clock: 2026-01-15T12:00Z
    services.store.write(
        [
            reading(now - 25 * 60 * MINUTE, road_surface_temperature=1.0),
            reading(now - 60 * MINUTE, road_surface_temperature=2.0),
        ]
    )

    body = client.get("/api/v1/devices/rst-01/readings").json()

    assert (body["start"], body["end"]) == ("2026-01-14T12:00:00Z", "2026-01-15T12:00:00Z")
    assert [row["value"] for row in body["readings"]] == [2.0]


def test_times_with_an_offset_are_read_as_that_offset(
    services: Services, client: TestClient
) -> None:
    services.store.write([reading(T0 + 30 * MINUTE, road_surface_temperature=1.0)])

    body = client.get(
        "/api/v1/devices/rst-01/readings",
        params={"start": "2026-01-15T01:00:00+01:00", "end": "2026-01-15T00:31:00.5Z"},
    ).json()

    assert body["start"] == "2026-01-15T00:00:00Z"
    assert body["end"] == "2026-01-15T00:31:00.5Z"
    assert len(body["readings"]) == 1


def test_one_quantity_leaves_out_uplinks_without_it(services: Services, client: TestClient) -> None:
    services.store.write(
        [
            reading(T0 + MINUTE, road_surface_temperature=1.0, battery_voltage=3.6),
            reading(T0 + 2 * MINUTE, battery_voltage=3.5),
            reading(T0 + 3 * MINUTE, road_surface_temperature=2.0),
        ]
    )

    rows = readings(client, "quantity=road_surface_temperature&limit=2")

    assert [(row["quantity"], row["value"]) for row in rows] == [
        ("road_surface_temperature", 1.0),
        ("road_surface_temperature", 2.0),
    ]


def test_invalid_readings_only_on_request_and_with_their_reason(
    services: Services, client: TestClient
) -> None:
    services.store.write(
        [
            reading(T0 + MINUTE, battery_voltage=3.6),
            flagged(T0 + MINUTE, "road_surface_temperature", 85.0, "probe_error: 85.0 °C"),
            flagged(T0 + 2 * MINUTE, "battery_voltage", 9.9, "out_of_range: 9.9 V"),
        ]
    )

    assert [row["valid"] for row in readings(client, "")] == [True]
    with_invalid = readings(client, "include_invalid=true")
    one_quantity = readings(client, "include_invalid=true&quantity=road_surface_temperature")

    assert [(r["quantity"], r["value"], r["valid"], r["reason"]) for r in with_invalid] == [
        ("battery_voltage", 3.6, True, None),
        ("road_surface_temperature", 85.0, False, "probe_error: 85.0 °C"),
        ("battery_voltage", 9.9, False, "out_of_range: 9.9 V"),
    ]
    assert [(r["quantity"], r["valid"]) for r in one_quantity] == [
        ("road_surface_temperature", False)
    ]


# -- paging -----------------------------------------------------------------------------------


def crowded_history() -> list[Point]:
    """Readings that share instants: two series of one device, and flagged ones, at one time."""
    points = []
    for i in range(12):
        time_ns = T0 + (i // 3) * MINUTE  # three uplinks per instant
        tags = {**ROAD, "site": f"site-{i % 3}"}
        points.append(reading(time_ns, tags, road_surface_temperature=i * 0.5, battery_voltage=3.6))
        if i % 4 == 0:
            points.append(flagged(time_ns, "road_surface_temperature", 85.0, f"probe_error {i}"))
    return points


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("follow", ["next", "link"])
def test_pages_join_up_to_exactly_the_whole_answer(
    services: Services, client: TestClient, limit: int, follow: str
) -> None:
    services.store.write(crowded_history())
    whole = readings(client, "include_invalid=true&limit=10000")

    paged = every_page(
        client,
        f"/api/v1/devices/rst-01/readings?{DAY}&include_invalid=true&limit={limit}",
        follow=follow,
    )

    assert len(whole) == 12 * 2 + 3
    assert paged == whole


def test_a_full_last_page_has_no_next(services: Services, client: TestClient) -> None:
    services.store.write([reading(T0 + i * MINUTE, battery_voltage=3.6) for i in range(4)])

    first = client.get(f"/api/v1/devices/rst-01/readings?{DAY}&limit=2").json()
    second = client.get(
        f"/api/v1/devices/rst-01/readings?{DAY}&limit=2&cursor={first['next']}"
    ).json()

    assert len(second["readings"]) == 2
    assert second["next"] is None


def test_the_link_header_pins_the_range_so_later_pages_do_not_move(
    services: Services, client: TestClient
) -> None:
    now = 1_768_478_400 * SECOND
    services.store.write([reading(now - i * MINUTE, battery_voltage=3.6) for i in range(1, 4)])

    answer = client.get("/api/v1/devices/rst-01/readings?limit=1")

    link = httpx.URL(answer.links["next"]["url"])
    assert link.params["start"] == "2026-01-14T12:00:00Z"
    assert link.params["end"] == "2026-01-15T12:00:00Z"
    assert link.params["cursor"] == answer.json()["next"]
    assert link.params["limit"] == "1"


# -- aggregates -------------------------------------------------------------------------------


def test_fifteen_minute_means_are_aligned_and_empty_windows_left_out(
    services: Services, client: TestClient
) -> None:
    services.store.write(
        [
            reading(T0 + 1 * MINUTE, road_surface_temperature=1.0, battery_voltage=3.6),
            reading(T0 + 11 * MINUTE, road_surface_temperature=2.0),
            reading(T0 + 21 * MINUTE, road_surface_temperature=4.0),
            reading(T0 + 61 * MINUTE, road_surface_temperature=-1.0),
        ]
    )

    body = client.get(
        "/api/v1/devices/rst-01/readings",
        params={
            "start": "2026-01-15T00:00:00Z",
            "end": "2026-01-15T02:00:00Z",
            "window": "15m",
            "quantity": "road_surface_temperature",
        },
    ).json()

    assert (body["window"], body["function"]) == ("15m", "mean")
    assert [(row["time"], row["value"], row["unit"]) for row in body["readings"]] == [
        ("2026-01-15T00:00:00Z", 1.5, "°C"),
        ("2026-01-15T00:15:00Z", 4.0, "°C"),
        ("2026-01-15T01:00:00Z", -1.0, "°C"),
    ]


@pytest.mark.parametrize(
    ("function", "expected"),
    [("min", [1.0, 3.6]), ("max", [2.0, 3.6]), ("count", [2, 1]), ("mean", [1.5, 3.6])],
)
def test_every_quantity_is_aggregated_when_none_is_named(
    services: Services, client: TestClient, function: str, expected: list[float]
) -> None:
    services.store.write(
        [
            reading(T0 + 1 * MINUTE, road_surface_temperature=1.0, battery_voltage=3.6),
            reading(T0 + 2 * MINUTE, road_surface_temperature=2.0),
        ]
    )

    rows = readings(client, f"window=1h&function={function}")

    assert [(row["time"], row["quantity"]) for row in rows] == [
        ("2026-01-15T00:00:00Z", "battery_voltage"),
        ("2026-01-15T00:00:00Z", "road_surface_temperature"),
    ]
    assert [row["value"] for row in rows] == [expected[1], expected[0]]
    if function == "count":
        assert all(type(row["value"]) is int for row in rows)


def test_aggregate_pages_join_up_from_a_start_inside_a_window(
    services: Services, client: TestClient
) -> None:
    services.store.write(
        [
            reading(T0 + i * 7 * MINUTE, road_surface_temperature=float(i), battery_voltage=3.6)
            for i in range(30)
        ]
    )
    url = (
        "/api/v1/devices/rst-01/readings?start=2026-01-15T00:05:00Z&end=2026-01-16T00:00:00Z"
        "&window=15m"
    )
    whole = client.get(f"{url}&limit=10000").json()["readings"]

    paged = every_page(client, f"{url}&limit=3", follow="link")

    assert paged == whole
    assert len(whole) == 2 * 14  # 30 readings 7 minutes apart fill 14 windows of 15 minutes
    # The first window keeps its aligned start but holds only readings from 00:05 on.
    assert whole[1] == {
        "time": "2026-01-15T00:00:00Z",
        "quantity": "road_surface_temperature",
        "value": 1.5,
        "unit": "°C",
        "valid": True,
        "reason": None,
    }


# -- CSV --------------------------------------------------------------------------------------


def test_csv_by_accept_header_or_format_and_format_wins(
    services: Services, client: TestClient
) -> None:
    services.store.write(
        [reading(T0 + MINUTE, road_surface_temperature=-0.5), reading(T0 + 2 * MINUTE, ph=7.0)]
    )
    url = f"/api/v1/devices/rst-01/readings?{DAY}"

    by_header = client.get(url, headers={"Accept": "text/csv"})
    by_format = client.get(f"{url}&format=csv")
    json_wins = client.get(f"{url}&format=json", headers={"Accept": "text/csv"})
    browser = client.get(url, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})

    assert by_header.headers["content-type"] == "text/csv; charset=utf-8"
    assert by_header.text == by_format.text
    assert list(csv.reader(io.StringIO(by_header.text))) == [
        ["device_id", "time", "quantity", "value", "unit", "valid", "reason"],
        ["rst-01", "2026-01-15T00:01:00Z", "road_surface_temperature", "-0.5", "°C", "true", ""],
        ["rst-01", "2026-01-15T00:02:00Z", "ph", "7.0", "pH", "true", ""],
    ]
    assert json_wins.headers["content-type"] == "application/json"
    assert browser.headers["content-type"] == "application/json"


def test_csv_pages_carry_the_next_page_in_the_link_header(
    services: Services, client: TestClient
) -> None:
    services.store.write([reading(T0 + i * MINUTE, battery_voltage=3.6) for i in range(3)])

    answer = client.get(f"/api/v1/devices/rst-01/readings?{DAY}&format=csv&limit=2")

    assert len(answer.text.splitlines()) == 3
    assert "cursor=" in answer.links["next"]["url"]
    assert "format=csv" in answer.links["next"]["url"]


# -- latest -----------------------------------------------------------------------------------


def test_latest_of_a_device_is_its_newest_uplink_whole(
    services: Services, client: TestClient
) -> None:
    services.store.write(
        [
            reading(T0, road_surface_temperature=1.0, battery_voltage=3.6),
            reading(T0 + 10 * MINUTE, road_surface_temperature=0.5),
        ]
    )

    body = client.get("/api/v1/devices/rst-01/readings/latest").json()
    nothing_yet = client.get("/api/v1/devices/rst-02/readings/latest").json()

    assert body == {
        "device_id": "rst-01",
        "name": "Probe rst-01",
        "domain": "road",
        "route": "a38",
        "site": None,
        "time": "2026-01-15T00:10:00Z",
        "readings": [
            {"time": "2026-01-15T00:10:00Z", "quantity": "road_surface_temperature",
             "value": 0.5, "unit": "°C", "valid": True, "reason": None}
        ],
    }  # fmt: skip
    assert (nothing_yet["time"], nothing_yet["readings"]) == (None, [])


def test_latest_for_every_device_by_domain_route_or_site(
    services: Services, client: TestClient
) -> None:
    air = {"device_id": "aq-01", "application_id": "town", "domain": "air", "site": "school"}
    services.store.write(
        [
            reading(T0, road_surface_temperature=1.0),
            reading(T0 + 1, {**ROAD, "device_id": "rst-02", "route": "a52"}, battery_voltage=3.6),
            reading(T0 + 2, air, pm2_5=7.5),
        ]
    )

    def ids(query: str) -> list[str]:
        answer = client.get(f"/api/v1/readings/latest?{query}")
        assert answer.status_code == 200, answer.text
        return [entry["device_id"] for entry in answer.json()["devices"]]

    assert ids("") == ["aq-01", "rst-01", "rst-02"]
    assert ids("domain=road") == ["rst-01", "rst-02"]
    assert ids("route=a52") == ["rst-02"]
    assert ids("site=school") == ["aq-01"]
    assert ids("domain=water") == []
    rows = list(csv.reader(io.StringIO(client.get("/api/v1/readings/latest?format=csv").text)))
    assert [row[0] for row in rows] == ["device_id", "aq-01", "rst-01", "rst-02"]


# -- refusals ---------------------------------------------------------------------------------


def test_unknown_device_is_404_and_no_key_is_401(app: FastAPI, client: TestClient) -> None:
    assert client.get("/api/v1/devices/nobody-here/readings").status_code == 404
    assert client.get("/api/v1/devices/nobody-here/readings/latest").status_code == 404
    assert client_for(app).get("/api/v1/devices/rst-01/readings").status_code == 401
    assert client_for(app).get("/api/v1/readings/latest").status_code == 401
    bad_key = client_for(app, "wherry_nokey_nosecret")
    assert bad_key.get("/api/v1/devices/rst-01/readings").status_code == 401


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-01-15T00:00:00Z&end=2026-01-14T00:00:00Z", "must be after start"),
        ("start=2026-01-15T00:00:00", "with a time zone"),
        ("start=yesterday", "not an ISO 8601 time"),
        ("start=2026-02-30T00:00:00Z", "not a real time"),
        ("end=2300-01-01T00:00:00Z", "outside the times"),
        ("quantity=road_surface_temp", "did you mean 'road_surface_temperature'"),
        ("window=15", "whole number and a unit"),
        ("window=0m", "whole number and a unit"),
        ("window=400d", "between 1s and 366d"),
        ("start=2025-01-01T00:00:00Z&end=2026-01-01T00:00:00Z&window=15m", "at least 53m"),
        ("function=mean", "needs a window"),
        ("window=1h&include_invalid=true", "raw readings"),
        ("cursor=bm90IGEgY3Vyc29y", "cursor is not one this API gave out"),
        ("cursor=%%%", "cursor is not one this API gave out"),
        ("limit=0", "greater than or equal to 1"),
        ("limit=10001", "less than or equal to 10000"),
        ("function=median&window=1h", "mean"),
        ("format=xml", "json"),
    ],
)
def test_bad_parameters_are_422_saying_what_is_wrong(
    client: TestClient, query: str, message: str
) -> None:
    answer = client.get(f"/api/v1/devices/rst-01/readings?{query}")

    assert answer.status_code == 422, answer.text
    assert message in str(answer.json()["detail"])


@pytest.mark.parametrize("device_id", ["RST-01", "a", "rst_01", "-rst", "rst--01", "x" * 37])
def test_device_ids_breaking_ttn_rules_are_422(client: TestClient, device_id: str) -> None:
    assert client.get(f"/api/v1/devices/{device_id}/readings").status_code == 422


# -- the OpenAPI document ---------------------------------------------------------------------

READINGS_ROUTES = {
    "/api/v1/devices/{device_id}/readings": "readings",
    "/api/v1/devices/{device_id}/readings/latest": "readings",
    "/api/v1/readings/latest": "readings",
    "/api/v1/open/devices": "open data",
    "/api/v1/open/devices/{device_id}": "open data",
    "/api/v1/open/devices/{device_id}/readings": "open data",
    "/api/v1/open/devices/{device_id}/readings/latest": "open data",
    "/api/v1/open/readings/latest": "open data",
}


@pytest.mark.parametrize("path", list(READINGS_ROUTES))
def test_every_readings_route_documents_its_json_and_csv_answers(app: FastAPI, path: str) -> None:
    operation = app.openapi()["paths"][path]["get"]

    assert operation["tags"] == [READINGS_ROUTES[path]]
    assert operation["summary"] and len(operation["description"]) > 40
    answers = operation["responses"]
    assert answers["200"]["content"]["application/json"]["schema"]["$ref"]
    if path != "/api/v1/open/devices/{device_id}":
        assert answers["200"]["content"]["text/csv"]["example"].startswith("device_id,")
    assert "422" in answers and ("404" in answers) == ("{device_id}" in path)
    for parameter in operation["parameters"]:
        assert parameter["description"], parameter["name"]
        assert parameter["schema"].get("examples"), parameter["name"]
