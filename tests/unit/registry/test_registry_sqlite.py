"""The registry on SQLite, the embedded default: the shared behaviour plus what only SQLite has."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage.registry import (
    InvalidRegistryUrl,
    Registry,
    RegistryError,
    RegistryUnavailable,
    Sighting,
)
from tests.unit.registry.registry_alerting_behaviour import *  # noqa: F403
from tests.unit.registry.registry_behaviour import *  # noqa: F403  (the shared behaviour tests)
from tests.unit.registry.registry_behaviour import run_together
from tests.unit.registry.registry_edits_behaviour import *  # noqa: F403
from tests.unit.registry.registry_lease_behaviour import *  # noqa: F403


@pytest.fixture(params=["sqlite"])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty SQLite database file for each test (the backend the behaviour tests run on)."""
    return f"sqlite:///{tmp_path / 'data' / 'registry.db'}"


def test_the_folder_of_the_database_file_is_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "registry.db"

    with Registry(f"sqlite:///{path}") as registry:
        registry.migrate()

    assert path.is_file()


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    with Registry(f"sqlite:///{path}") as registry:
        registry.migrate()
        registry.routes()
        connection = registry._engine.raw_connection()  # the pooled connection the registry uses
        try:
            cursor = connection.cursor()
            foreign_keys = cursor.execute("PRAGMA foreign_keys").fetchone()[0]
            busy_timeout = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
        finally:
            connection.close()

    with sqlite3.connect(path) as plain:
        journal_mode = plain.execute("PRAGMA journal_mode").fetchone()[0]
    assert journal_mode == "wal"  # persistent: every later connection reads in WAL mode
    assert foreign_keys == 1
    assert busy_timeout >= 5000


def test_a_relative_sqlite_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    with Registry("sqlite:///data/registry.db") as registry:
        registry.migrate()

    assert (tmp_path / "data" / "registry.db").is_file()


def test_an_in_memory_registry_works_for_tests_and_demos() -> None:
    with Registry("sqlite://") as registry:
        registry.migrate()
        registry.record_sightings([Sighting("ttn", "x-1", None, None, 1, None, b"")])

        assert [s.device_id for s in registry.sightings()] == ["x-1"]


def test_two_registries_on_one_file_write_at_the_same_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    registries = [Registry(url), Registry(url)]
    registries[0].migrate()

    def write(worker: int) -> None:
        for n in range(100):
            registries[worker].record_sightings(
                [Sighting("ttn", f"stray-{worker}", None, None, n, 1, b"")] * 20
            )

    assert run_together(write, 2) == []
    assert {s.device_id: s.count for s in registries[0].sightings()} == {
        "stray-0": 2000,
        "stray-1": 2000,
    }
    for registry in registries:
        registry.close()


@pytest.mark.parametrize("files", [1, 4], ids=["one file", "four files"])
def test_several_registries_may_migrate_at_once(tmp_path: Path, files: int) -> None:
    registries = [Registry(f"sqlite:///{tmp_path / f'registry-{n % files}.db'}") for n in range(4)]

    failures = run_together(lambda n: registries[n].migrate(), 4)

    assert failures == []
    assert [r.current_revision() for r in registries] == [Registry.head_revision()] * 4
    for registry in registries:
        registry.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not an SQLAlchemy database URL"),
        ("mysql://user@host/db", "uses 'mysql': the registry runs on SQLite or PostgreSQL"),
        ("postgresql+psycopg2://u:secret@host/db", "needs a database driver that is not installed"),
    ],
)
def test_a_bad_url_says_what_would_work(url: str, message: str) -> None:
    with pytest.raises(InvalidRegistryUrl) as refused:
        Registry(url)
    assert message in str(refused.value)
    assert "secret" not in str(refused.value)


def test_a_database_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")

    with pytest.raises(RegistryUnavailable, match="cannot create the folder"):
        Registry(f"sqlite:///{blocker / 'registry.db'}")

    with (
        Registry(f"sqlite:///{tmp_path}") as registry,  # a folder, not a file
        pytest.raises(RegistryUnavailable, match="unavailable while migrating"),
    ):
        registry.migrate()


def test_a_file_that_is_not_a_database_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    path.write_bytes(b"this is a spreadsheet, honest" * 100)

    with (
        Registry(f"sqlite:///{path}") as registry,
        pytest.raises(RegistryError, match="file is not a database"),
    ):
        registry.migrate()


def test_an_unreachable_postgresql_is_unavailable_not_a_crash() -> None:
    with Registry("postgresql://postgres@127.0.0.1:1/wherry") as registry:
        with pytest.raises(RegistryUnavailable, match=r"127\.0\.0\.1:1/"):
            registry.migrate()
        with pytest.raises(RegistryUnavailable):
            registry.devices()
