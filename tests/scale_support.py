"""What the scale-out tests share: a PostgreSQL registry of their own, an InfluxDB database of
their own on the session's influxd, and reading back what `wherry` processes stored and counted.

Every uplink has its own (device, f_cnt), so "stored exactly once" compares the multiset of
(device, f_cnt) read back from InfluxDB with the set published.
"""

from __future__ import annotations

import ast
import os
import re
import secrets
import shlex
import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from storage import open_store
from storage.influx import InfluxStore
from tests import servers
from tests.faults.harness import Fleet
from tests.wherry_process import WherryRun
from wherry.imports import import_devices_file, import_routes_file
from wherry.settings import Settings

SCALE_OUT_DOC = Path(__file__).resolve().parents[1] / "docs" / "scale-out.md"
POSTGRES_SERVER_URL = os.environ.get(
    "WHERRY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _admin(url: URL) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        dbname=url.database or "postgres",
        autocommit=True,
        connect_timeout=10,
    )


@contextmanager
def postgres_registry(prefix: str) -> Iterator[str]:
    """A fresh database `<prefix>_<random>` as an SQLAlchemy URL; dropped afterwards.

    Skips the test only when nothing answers at the server's address.
    """
    server = make_url(POSTGRES_SERVER_URL)
    try:
        with socket.create_connection((server.host or "127.0.0.1", server.port or 5432), 3):
            pass
    except OSError:
        pytest.skip(f"no PostgreSQL answers at {server.host}:{server.port}")
    name = f"{prefix}_{secrets.token_hex(6)}"
    with _admin(server) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with _admin(server) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def register_fleet(fleet: Fleet, directory: Path, registry_url: str) -> None:
    """`wherry routes import` and `wherry devices import`, run in this process (each CLI call
    would start another Python: seconds on a busy machine)."""
    settings = Settings(data_dir=directory / "cli", registry_url=registry_url)
    devices_csv, routes_csv = fleet.registry_csvs(directory)
    said: list[str] = []
    assert import_routes_file(settings, routes_csv, dry_run=False, echo=said.append) == 0, said
    assert import_devices_file(settings, devices_csv, dry_run=False, echo=said.append) == 0, said


def influx_database_url(server: servers.ServerProcess, prefix: str) -> str:
    """A database name no other test uses on the session's influxd (wherry creates it)."""
    return f"influxdb://127.0.0.1:{server.port}/{prefix}_{secrets.token_hex(4)}"


def _influx(url: str) -> InfluxStore:
    store = open_store(url)
    assert isinstance(store, InfluxStore)
    return store


def stored_uplinks(store_url: str) -> Counter[tuple[str, int]]:
    """How often each (device, f_cnt) is stored as an uplink point: all 1 when none doubled."""
    store = _influx(store_url)
    try:
        return Counter(
            (str(p.tags["device_id"]), int(p.fields["f_cnt"]))
            for p in store.query("uplink", fields=["f_cnt"])
        )
    finally:
        store.close()


def count_uplinks(store_url: str) -> int:
    store = _influx(store_url)
    try:
        return store.count("uplink", "f_cnt")
    except Exception:
        return -1  # the database is not there yet
    finally:
        store.close()


def stopped_counters(run: WherryRun) -> dict[str, int]:
    """The counts a `wherry` process logs when it stops (`stopped: {...}`)."""
    assert "stopped: " in run.log, run.log[-3000:]
    line = run.log.rsplit("stopped: ", 1)[1].splitlines()[0]
    counts = ast.literal_eval(line)
    assert isinstance(counts, dict)
    return {str(name): int(value) for name, value in counts.items()}


def documented_command(marker: str) -> tuple[dict[str, str], list[str]]:
    """The settings and the command of the sh block after `<!-- scale-out-test: {marker} -->`
    in docs/scale-out.md."""
    text = SCALE_OUT_DOC.read_text(encoding="utf-8")
    found = re.search(rf"<!-- scale-out-test: {marker} -->\n```sh\n(.*?)```", text, re.DOTALL)
    assert found, f"no {marker} block in {SCALE_OUT_DOC.name}"
    words = shlex.split(found.group(1).replace("\\\n", " "))
    settings = dict(word.split("=", 1) for word in words if "=" in word)
    return settings, [word for word in words if "=" not in word]
