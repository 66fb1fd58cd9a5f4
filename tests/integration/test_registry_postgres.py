"""The registry on a real PostgreSQL: the shared behaviour tests, plus what several writers show.

A uniquely named database (`wherry_test_<random>`) is created on the server at
127.0.0.1:5432 (or `WHERRY_TEST_POSTGRES_URL`), emptied before each test and
dropped at the end. The tests skip only when nothing answers at that address.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from storage.registry import AlreadyRegistered, ImportRejected, Registry, Sighting
from tests.unit.registry.registry_alerting_behaviour import *  # noqa: F403
from tests.unit.registry.registry_behaviour import *  # noqa: F403  (the shared behaviour tests)
from tests.unit.registry.registry_behaviour import device, run_together, with_routes
from tests.unit.registry.registry_edits_behaviour import *  # noqa: F403
from tests.unit.registry.registry_edits_behaviour import CATALOGUE, draft
from tests.unit.registry.registry_lease_behaviour import *  # noqa: F403

pytestmark = pytest.mark.integration

SERVER_URL = os.environ.get(
    "WHERRY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _server() -> URL:
    url = make_url(SERVER_URL)
    return url.set(drivername="postgresql+psycopg", database=url.database or "postgres")


def _connect(url: URL) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        dbname=url.database,
        autocommit=True,
        connect_timeout=10,
    )


def _answers(url: URL) -> bool:
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=3):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[URL]:
    """A fresh database for this module on the test server, dropped afterwards."""
    server = _server()
    if not _answers(server):
        pytest.skip(
            f"no PostgreSQL answers at {server.host}:{server.port} "
            f"(set WHERRY_TEST_POSTGRES_URL to test against another server)"
        )
    name = f"wherry_test_{secrets.token_hex(6)}"
    with _connect(server) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(database=name)
    finally:
        with _connect(server) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(params=["postgresql"])
def registry_url(request: pytest.FixtureRequest, postgres_database: URL) -> str:
    """The module's database, emptied: the backend the shared behaviour tests run on."""
    with _connect(postgres_database) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
    return postgres_database.render_as_string(hide_password=False)


def test_several_processes_may_migrate_at_once(registry_url: str) -> None:
    registries = [Registry(registry_url) for _ in range(4)]

    failures = run_together(lambda n: registries[n].migrate(), 4)

    assert failures == []
    assert {r.current_revision() for r in registries} == {Registry.head_revision()}
    for registry in registries:
        registry.close()


def test_writers_in_separate_processes_never_deadlock_on_sightings(registry_url: str) -> None:
    registries = [Registry(registry_url) for _ in range(4)]
    registries[0].migrate()

    def write(worker: int) -> None:
        names = [f"stray-{n}" for n in range(30)]
        if worker % 2:
            names.reverse()  # opposite orders would deadlock without sorted keys
        for call in range(20):
            registries[worker].record_sightings(
                [Sighting("ttn", name, "app", None, call, 1, b"") for name in names]
            )

    failures = run_together(write, 4)

    assert failures == []
    seen = registries[0].sightings()
    assert len(seen) == 30
    assert {s.count for s in seen} == {4 * 20}
    for registry in registries:
        registry.close()


def test_two_imports_racing_for_one_dev_eui_register_only_one(registry_url: str) -> None:
    registries = [Registry(registry_url) for _ in range(2)]
    registries[0].migrate()
    with_routes(registries[0])
    rows = [
        device("road-a", dev_eui="70b3d57ed005a12f"),
        device("road-b", dev_eui="70b3d57ed005a12f"),
    ]

    failures = run_together(
        lambda n: registries[n].apply_device_import([rows[n]], actor=f"worker-{n}"), 2
    )

    assert len(failures) == 1 and isinstance(failures[0], ImportRejected)
    assert len(registries[0].devices()) == 1
    for registry in registries:
        registry.close()


def test_two_editors_racing_for_one_dev_eui_register_only_one(registry_url: str) -> None:
    registries = [Registry(registry_url) for _ in range(2)]
    registries[0].migrate()
    drafts = [draft(f"road-{n}", route_id=None, dev_eui="70b3d57ed005a12f") for n in range(2)]

    failures = run_together(
        lambda n: registries[n].create_device(drafts[n], actor=f"editor-{n}", catalogue=CATALOGUE),
        2,
    )

    assert len(failures) == 1 and isinstance(failures[0], AlreadyRegistered)
    assert len(registries[0].devices()) == 1
    assert len(registries[0].audit_entries(entity="device")) == 1
    for registry in registries:
        registry.close()
