"""What one windowed readings request costs InfluxDB: one query for a named quantity, two
for every quantity (which ones the device has, then all their windows in one statement),
however many quantities the device reports — with the answer one query per quantity gives."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.roles import Role
from api.services import Services
from storage import InfluxStore, Point
from storage.registry import DeviceRow
from tests import servers
from tests.api_support import client_for, make_app, make_key, make_services

pytestmark = pytest.mark.integration

MINUTE = 60 * 1_000_000_000
T0 = 1_768_435_200 * 1_000_000_000  # 2026-01-15T00:00:00Z
DAY = {"start": "2026-01-15T00:00:00Z", "end": "2026-01-16T00:00:00Z"}
TAGS = {"device_id": "aq-01", "application_id": "town", "domain": "air", "site": "school"}


@pytest.fixture
def influx(influxd_server: servers.ServerProcess) -> Iterator[InfluxStore]:
    database = f"trips_{uuid.uuid4().hex}"
    store = InfluxStore(f"http://127.0.0.1:{influxd_server.port}", database)
    yield store
    store.close()
    httpx.post(
        f"http://127.0.0.1:{influxd_server.port}/query", data={"q": f'DROP DATABASE "{database}"'}
    )


@pytest.fixture
def services(tmp_path: Path, influx: InfluxStore) -> Iterator[Services]:
    services = make_services(tmp_path, influx)
    services.registry.apply_device_import(
        [
            DeviceRow(
                device_id="aq-01",
                dev_eui=uuid.uuid4().hex[:16],
                name="School air",
                decoder="cayenne-lpp",
                domain="air",
                route_id=None,
                latitude=52.95,
                longitude=-1.15,
                public=False,
                owner="County council",
                field_map={},
            )
        ],
        actor="test",
    )
    # Quantities with different gaps, and a field that is no quantity.
    services.store.write(
        [
            Point(
                "reading",
                TAGS,
                {
                    "air_temperature": 3.0 + n / 4,
                    **({"pm2_5": 5.0 + n} if n < 2 or n >= 8 else {}),
                    **({"relative_humidity": 80.0 - n} if n < 4 else {}),
                    "firmware_note": "v1.2",
                },
                T0 + n * 10 * MINUTE,
            )
            for n in range(12)
        ]
    )
    yield services
    services.registry.close()


@pytest.fixture
def client(services: Services) -> TestClient:
    return client_for(make_app(services), make_key(services, Role.reader))


@pytest.fixture
def statements(influx: InfluxStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every InfluxQL statement the store sends from here on."""
    sent: list[str] = []
    run = influx._run

    def counting(statement: str) -> list[dict[str, Any]]:
        sent.append(statement)
        return run(statement)

    monkeypatch.setattr(influx, "_run", counting)
    return sent


def rows(client: TestClient, **params: str) -> list[tuple[str, str, Any]]:
    answer = client.get("/api/v1/devices/aq-01/readings", params={**DAY, "window": "15m", **params})
    assert answer.status_code == 200, answer.text
    return [(row["time"], row["quantity"], row["value"]) for row in answer.json()["readings"]]


@pytest.mark.parametrize("function", ["mean", "min", "max", "count"])
def test_every_quantity_costs_two_queries_and_answers_as_one_query_each(
    client: TestClient, influx: InfluxStore, statements: list[str], function: str
) -> None:
    rows(client, function=function)  # field types are looked up once, then kept
    statements.clear()

    every = rows(client, function=function)

    assert len(statements) == 2, statements
    one_by_one = sorted(
        (time, quantity, value)
        for quantity in ("air_temperature", "pm2_5", "relative_humidity")
        for time, _, value in rows(client, function=function, quantity=quantity)
    )
    assert every == one_by_one
    assert {quantity for _, quantity, _ in every} == {
        "air_temperature", "pm2_5", "relative_humidity"
    }  # fmt: skip
    assert len(every) == 8 + 4 + 3


def test_a_named_quantity_costs_one_query(client: TestClient, statements: list[str]) -> None:
    rows(client, quantity="air_temperature")
    statements.clear()

    means = rows(client, quantity="air_temperature")

    assert len(statements) == 1, statements
    assert means[:2] == [
        ("2026-01-15T00:00:00Z", "air_temperature", 3.125),
        ("2026-01-15T00:15:00Z", "air_temperature", 3.5),
    ]
