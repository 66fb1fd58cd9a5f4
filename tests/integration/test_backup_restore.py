"""`wherry backup` then a wipe then `wherry restore` gives back exactly what there was: SQLite and
PostgreSQL registries, SQLite and InfluxDB readings (every retention policy)."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from storage import InfluxStore, Point, SQLiteStore
from storage.influx_admin import InfluxAdmin
from storage.registry import DeadLetter, Registry
from storage.registry.csv_import import parse_route_csv
from storage.retention import apply_retention
from tests import servers
from tests.cli_in_process import wherry_here
from tests.unit.registry.registry_behaviour import ROUTES_CSV, device
from tests.wherry_process import wherry

pytestmark = pytest.mark.integration

T0 = 1_768_446_765_123_456_789


def fill_registry(url: str) -> None:
    registry = Registry(url)
    registry.migrate()
    registry.apply_route_import(parse_route_csv(ROUTES_CSV).rows, actor="test")
    registry.apply_device_import([device("road-01"), device("road-02", name="Mill Rd")], actor="t")
    registry.record_dead_letters(
        [DeadLetter(T0, "v3/x/devices/y/up", "malformed_json", "not JSON", b"\xff\x00{")]
    )
    registry.close()


def registry_contents(url: str) -> dict[str, Any]:
    registry = Registry(url)
    contents = {
        "revision": registry.current_revision(),
        "devices": registry.devices(),
        "routes": registry.routes(),
        "audit": registry.audit_entries(),
        "dead_letters": registry.dead_letters(),
    }
    registry.close()
    return contents


def points() -> list[Point]:
    tags = {"device_id": "rst-01", "route": "A1", "site": "Bridge St, north"}
    return [
        Point("reading", tags, {"road_surface_temperature": 2.0, "air_temperature": -0.5}, T0),
        Point("reading", tags, {"road_surface_temperature": 1.75}, T0 + 60_000_000_000),
        Point("uplink", {"device_id": "rst-01", "gateway": "gw 1"},
              {"f_cnt": 7, "rssi": -101.0, "bytes": 12}, T0),
        Point("flagged", tags, {"value": 85.0, "reason": 'probe "error"\nline two'}, T0),
        Point("note", {"device_id": "rst-01"}, {"checked": True}, T0),
    ]  # fmt: skip


def test_sqlite_registry_and_readings_round_trip(tmp_path: Path) -> None:
    data = tmp_path / "data"
    registry_url = f"sqlite:///{data / 'registry.db'}"
    fill_registry(registry_url)
    store = SQLiteStore(data / "readings.db")
    store.write(points())
    store.close()
    before = registry_contents(registry_url)
    env = {"WHERRY_DATA_DIR": str(data)}

    made = wherry("backup", str(tmp_path / "backup"), env=env)

    assert made.returncode == 0, made.stderr
    assert "SQLite online backup" in made.stdout and "backup complete" in made.stdout
    for file in data.iterdir():  # the wipe
        file.unlink()
    refused = wherry_here("restore", str(tmp_path / "backup"), env=env)
    assert refused.returncode == 2 and "--yes" in refused.stderr

    restored = wherry("restore", str(tmp_path / "backup"), "--yes", env=env)

    assert restored.returncode == 0, restored.stderr
    assert registry_contents(registry_url) == before
    store = SQLiteStore(data / "readings.db")
    for measurement in ("reading", "uplink", "flagged", "note"):
        assert store.query(measurement) == [p for p in points() if p.measurement == measurement]
    store.close()


POSTGRES = os.environ.get(
    "WHERRY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database of its own on the test server (as test_registry_postgres.py), dropped after."""
    try:
        server = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL answers at {POSTGRES}: {exc}")
    name = f"wherry_test_backup_{secrets.token_hex(6)}"
    server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield (
            make_url(POSTGRES)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        server.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        server.close()


def test_postgresql_registry_round_trips_through_pg_dump(postgres_url: str, tmp_path: Path) -> None:
    fill_registry(postgres_url)
    before = registry_contents(postgres_url)
    env = {"WHERRY_DATA_DIR": str(tmp_path / "data"), "WHERRY_REGISTRY_URL": postgres_url}

    made = wherry_here("backup", str(tmp_path / "backup"), "--only", "registry", env=env)

    assert made.returncode == 0, made.stderr
    assert "$ pg_dump --format=custom" in made.stdout
    with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")  # the wipe
        connection.execute("CREATE SCHEMA public")
    wiped = Registry(postgres_url)
    assert wiped.current_revision() is None
    wiped.close()

    restored = wherry_here(
        "restore", str(tmp_path / "backup"), "--only", "registry", "--yes", env=env
    )

    assert restored.returncode == 0, restored.stderr
    assert "$ pg_restore --clean" in restored.stdout
    assert registry_contents(postgres_url) == before


def influx_contents(port: int, database: str) -> dict[str, Any]:
    """Every point of every retention policy, as InfluxDB answers."""
    found: dict[str, Any] = {}
    for rp in ("autogen", "forever"):
        response = httpx.post(
            f"http://127.0.0.1:{port}/query",
            params={"db": database, "rp": rp, "epoch": "ns"},
            data={"q": "SELECT * FROM /.*/ GROUP BY *"},
            timeout=30,
        )
        found[rp] = response.json()["results"][0].get("series")
    fields = httpx.post(
        f"http://127.0.0.1:{port}/query",
        params={"db": database},
        data={"q": "SHOW FIELD KEYS"},
        timeout=30,
    )
    found["field_types"] = fields.json()["results"][0].get("series")
    return found


def test_influxdb_readings_and_aggregates_round_trip(
    influxd_server: servers.ServerProcess, tmp_path: Path
) -> None:
    port = influxd_server.port
    database = f"backup_{uuid.uuid4().hex[:12]}"
    store = InfluxStore(f"http://127.0.0.1:{port}", database)
    an_hour_ago = time.time_ns() - 3_600_000_000_000
    recent = [
        Point(p.measurement, p.tags, p.fields, an_hour_ago + i) for i, p in enumerate(points())
    ]
    store.write(recent)
    store.close()
    env = {
        "WHERRY_DATA_DIR": str(tmp_path / "data"),
        "WHERRY_STORE_URL": f"influxdb://127.0.0.1:{port}/{database}",
    }
    with InfluxAdmin.from_url(env["WHERRY_STORE_URL"]) as admin:  # aggregates to back up too
        apply_retention(admin, raw_days=730, echo=print, warn=print, backfill=True,
                        now_ns=time.time_ns())  # fmt: skip
    before = influx_contents(port, database)
    assert before["forever"] and before["autogen"]
    try:
        made = wherry("backup", str(tmp_path / "backup"), "--only", "readings", env=env)

        assert made.returncode == 0, made.stderr
        assert "autogen.reading: 2 points" in made.stdout
        assert "forever.reading_15m: 1 points" in made.stdout
        httpx.post(f"http://127.0.0.1:{port}/query", data={"q": f'DROP DATABASE "{database}"'})

        restored = wherry_here(
            "restore", str(tmp_path / "backup"), "--only", "readings", "--yes", env=env
        )

        assert restored.returncode == 0, restored.stderr
        assert "autogen: 5 of 5 points restored" in restored.stdout
        assert influx_contents(port, database) == before
    finally:
        httpx.post(f"http://127.0.0.1:{port}/query", data={"q": f'DROP DATABASE "{database}"'})
