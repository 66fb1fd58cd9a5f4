"""Retention and aggregates: `wherry migrate` / `wherry store setup` against a real influxd,
and `wherry store prune` on SQLite. Every command runs as a user would run it."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from storage import InfluxStore, Point, SQLiteStore
from storage.retention import NS_PER_15_MIN, NS_PER_DAY
from tests import servers
from tests.cli_in_process import wherry_here
from tests.wherry_process import wherry, wherry_env

pytestmark = pytest.mark.integration

MINUTE = 60 * 1_000_000_000
CQ_NAMES = {"wherry_reading_15m", "wherry_reading_1d", "wherry_uplink_15m", "wherry_uplink_1d"}


def influxql(port: int, statement: str, **params: str) -> list[dict[str, Any]]:
    response = httpx.post(
        f"http://127.0.0.1:{port}/query",
        params={"epoch": "ns", **params},
        data={"q": statement},
        timeout=30,
    )
    response.raise_for_status()
    result = response.json()["results"][0]
    assert "error" not in result, result
    return list(result.get("series") or [])


def policies(port: int, database: str) -> dict[str, tuple[str, bool]]:
    (series,) = influxql(port, f'SHOW RETENTION POLICIES ON "{database}"')
    return {row[0]: (row[1], row[4]) for row in series["values"]}


def continuous_queries(port: int, database: str) -> dict[str, str]:
    for series in influxql(port, "SHOW CONTINUOUS QUERIES"):
        if series["name"] == database:
            return {name: query for name, query in series.get("values") or []}
    return {}


def rows(port: int, database: str, statement: str, rp: str = "forever") -> list[dict[str, Any]]:
    found = []
    for series in influxql(port, statement, db=database, rp=rp):
        for values in series["values"]:
            found.append(
                {**series.get("tags", {}), **dict(zip(series["columns"], values, strict=True))}
            )
    return found


@pytest.fixture
def database(influxd_server: servers.ServerProcess) -> Iterator[str]:
    name = f"retention_{uuid.uuid4().hex[:12]}"
    yield name
    influxql(influxd_server.port, f'DROP DATABASE "{name}"')


def env_for(tmp_path: Path, store_url: str, **extra: str) -> dict[str, str]:
    return {"WHERRY_DATA_DIR": str(tmp_path / "data"), "WHERRY_STORE_URL": store_url, **extra}


def test_migrate_sets_retention_and_aggregates_once_and_writes_still_land(
    influxd_server: servers.ServerProcess, database: str, tmp_path: Path
) -> None:
    port = influxd_server.port
    url = f"influxdb://127.0.0.1:{port}/{database}"

    first = wherry("migrate", env=env_for(tmp_path, url))

    assert first.returncode == 0, first.stderr
    assert "InfluxDB 1.6" in first.stdout
    assert policies(port, database) == {"autogen": ("17520h0m0s", True), "forever": ("0s", False)}
    cqs = continuous_queries(port, database)
    assert set(cqs) == CQ_NAMES
    assert (
        "INTO " + database + ".forever.reading_15m FROM " + database + ".autogen.reading"
        in (cqs["wherry_reading_15m"])
    )

    second = wherry_here("migrate", env=env_for(tmp_path, url))

    assert second.returncode == 0, second.stderr
    assert not any(word in second.stdout for word in ("created", "replaced", "now kept"))
    assert second.stdout.count(": ok") == 6, second.stdout
    assert continuous_queries(port, database) == cqs
    assert policies(port, database)["autogen"] == ("17520h0m0s", True)

    # The default policy kept its name: wherry's writes land in it and read back.
    store = InfluxStore(f"http://127.0.0.1:{port}", database)
    now = time.time_ns()
    store.write([Point("reading", {"device_id": "rst-01"}, {"air_temperature": 1.5}, now)])
    assert [p.fields for p in store.query("reading")] == [{"air_temperature": 1.5}]
    store.close()
    assert rows(port, database, "SELECT * FROM reading", rp="autogen")[0]["air_temperature"] == 1.5


def test_backfill_writes_each_windows_mean_min_max_and_count(
    influxd_server: servers.ServerProcess, database: str, tmp_path: Path
) -> None:
    port = influxd_server.port
    store = InfluxStore(f"http://127.0.0.1:{port}", database)
    day = (time.time_ns() - 10 * NS_PER_DAY) // NS_PER_DAY * NS_PER_DAY
    window = day + 40 * NS_PER_15_MIN  # 10:00 UTC
    tags = {"device_id": "rst-01", "application_id": "town", "domain": "road", "route": "A1"}
    values = [(0, 1.0), (4, 2.0), (9, 6.0), (17, -3.0)]  # minutes after 10:00
    store.write(
        [
            Point("reading", tags, {"road_surface_temperature": value}, window + minute * MINUTE)
            for minute, value in values
        ]
        + [
            Point(
                "uplink",
                {"device_id": "rst-01", "application_id": "town", "gateway": "gw-1"},
                {"f_cnt": n, "rssi": -100.0 - n, "snr": 5.0, "gateways": 1, "bytes": 10},
                window + minute * MINUTE,
            )
            for n, (minute, _) in enumerate(values)
        ]
    )
    store.close()
    url = f"influxdb://127.0.0.1:{port}/{database}"
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(day / 1e9))

    done = wherry("store", "setup", "--backfill-aggregates", "--since", since,
                  env=env_for(tmp_path, url))  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "backfill forever.reading_15m: done, 2 points" in done.stdout
    assert "(100 %)" in done.stdout
    fifteen = rows(port, database, "SELECT * FROM reading_15m")
    assert [(r["time"], r["route"]) for r in fifteen] == [
        (window, "A1"),
        (window + NS_PER_15_MIN, "A1"),
    ]
    first = fifteen[0]
    assert first["mean_road_surface_temperature"] == pytest.approx(3.0)
    assert first["min_road_surface_temperature"] == 1.0
    assert first["max_road_surface_temperature"] == 6.0
    assert first["count_road_surface_temperature"] == 3
    (daily,) = rows(port, database, "SELECT * FROM reading_1d")
    assert daily["time"] == day
    assert daily["mean_road_surface_temperature"] == pytest.approx(1.5)
    assert (daily["min_road_surface_temperature"], daily["max_road_surface_temperature"]) == (
        -3.0,
        6.0,
    )
    assert daily["count_road_surface_temperature"] == 4
    (uplinks,) = rows(port, database, "SELECT * FROM uplink_1d")
    assert (uplinks["uplinks"], uplinks["min_rssi"], uplinks["max_rssi"]) == (4, -103.0, -100.0)
    assert (uplinks["bytes"], uplinks["gateway"]) == (40, "gw-1")

    again = wherry_here("store", "setup", "--backfill-aggregates", "--since", since,
                        env=env_for(tmp_path, url))  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert rows(port, database, "SELECT * FROM reading_15m") == fifteen  # replaced, not doubled


def test_a_shorter_retention_waits_until_old_points_have_their_aggregates(
    influxd_server: servers.ServerProcess, database: str, tmp_path: Path
) -> None:
    port = influxd_server.port
    old = (time.time_ns() - 1000 * NS_PER_DAY) // NS_PER_DAY * NS_PER_DAY
    store = InfluxStore(f"http://127.0.0.1:{port}", database)
    store.write([Point("reading", {"device_id": "rst-01"}, {"air_temperature": 4.0}, old)])
    store.close()
    env = env_for(tmp_path, f"influxdb://127.0.0.1:{port}/{database}")

    refused = wherry_here("store", "setup", env=env)  # as `wherry migrate` does after the registry

    assert refused.returncode == 0, refused.stderr
    assert "NOT changed" in refused.stderr and "--backfill-aggregates" in refused.stderr
    assert policies(port, database)["autogen"] == ("0s", True)

    done = wherry_here("store", "setup", "--backfill-aggregates", env=env)

    assert done.returncode == 0, done.stderr
    assert "raw points now kept 730 days (were for ever)" in done.stdout
    assert policies(port, database)["autogen"] == ("17520h0m0s", True)
    (daily,) = rows(port, database, "SELECT * FROM reading_1d")
    assert (daily["time"], daily["mean_air_temperature"]) == (old, 4.0)


class _Influx2Ping(http.server.BaseHTTPRequestHandler):
    """Answers /ping as InfluxDB 2.7 does; any other request is recorded and refused."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(204 if self.path.startswith("/ping") else 404)
        self.send_header("X-Influxdb-Version", "v2.7.10")
        self.send_header("X-Influxdb-Build", "OSS")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *_: object) -> None:
        pass


def test_on_influxdb_2_migrate_says_what_it_cannot_do_and_touches_nothing(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Influx2Ping)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"influxdb://127.0.0.1:{server.server_address[1]}/wherry?token=sekrit-token"
        done = wherry_here("store", "setup", env=env_for(tmp_path, url))
    finally:
        server.shutdown()
        server.server_close()

    assert done.returncode == 0, done.stderr
    assert "InfluxDB v2.7.10" in done.stdout
    assert "changed nothing" in done.stderr
    assert "influx bucket update" in done.stderr and "--retention 730d" in done.stderr
    assert "sekrit-token" not in done.stdout + done.stderr
    assert _Influx2Ping.seen == ["/ping"]


def test_sqlite_readings_are_pruned_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "readings.db"
    now = time.time_ns()
    store = SQLiteStore(path)
    store.write(
        [
            Point("reading", {"device_id": "old"}, {"air_temperature": 1.0}, now - 40 * NS_PER_DAY),
            Point("reading", {"device_id": "new"}, {"air_temperature": 2.0}, now - 20 * NS_PER_DAY),
        ]
    )
    store.close()
    env = env_for(tmp_path, f"sqlite:///{path}", WHERRY_RAW_RETENTION_DAYS="30")

    set_up = wherry_here("store", "setup", env=env)
    assert set_up.returncode == 0, set_up.stderr
    assert "(SQLite): no retention policies" in set_up.stdout
    store = SQLiteStore(path)
    assert store.count("reading", "air_temperature") == 2  # setting up deletes nothing
    store.close()

    pruned = wherry("store", "prune", env=env)

    assert pruned.returncode == 0, pruned.stderr
    assert "deleted 1 values from 1 series" in pruned.stdout
    store = SQLiteStore(path)
    assert [p.tags["device_id"] for p in store.query("reading")] == ["new"]
    store.close()


def test_an_admin_sets_up_what_wherrys_own_user_may_not(tmp_path: Path) -> None:
    server = servers.influxd(
        tmp_path / "influxd", http_settings="  auth-enabled = true", name="influxd-auth"
    )
    try:
        port = server.port

        def as_admin(statement: str, auth: tuple[str, str] | None = ("admin", "adm-pw-1")) -> None:
            response = httpx.post(
                f"http://127.0.0.1:{port}/query", data={"q": statement}, auth=auth, timeout=10
            )
            assert response.status_code == 200 and "error" not in response.text, response.text

        as_admin("CREATE USER admin WITH PASSWORD 'adm-pw-1' WITH ALL PRIVILEGES", auth=None)
        as_admin('CREATE DATABASE "w"')
        as_admin("CREATE USER wherry WITH PASSWORD 'wherry-pw-2'")
        as_admin('GRANT ALL ON "w" TO wherry')
        env = env_for(tmp_path, f"influxdb://wherry:wherry-pw-2@127.0.0.1:{port}/w")

        migrated = wherry_here("migrate", env=env)

        assert migrated.returncode == 0, migrated.stderr  # the registry's upgrade went through
        assert "need an admin user" in migrated.stderr and "--admin-user" in migrated.stderr
        assert "NOT applied" in migrated.stderr

        done = subprocess.run(
            [sys.executable, "-m", "wherry", "store", "setup", "--admin-user", "admin"],
            env=wherry_env(env),
            input="adm-pw-1\n",
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert done.returncode == 0, done.stderr
        assert "as InfluxDB user 'admin'" in done.stdout
        assert "continuous query wherry_reading_15m created" in done.stdout
        assert "adm-pw-1" not in done.stdout + done.stderr
        assert "wherry-pw-2" not in migrated.stdout + migrated.stderr + done.stdout + done.stderr
    finally:
        server.stop()
