"""`wherry backup DIR` and `wherry restore DIR`: the registry and the readings, and a manifest.

- SQLite files (registry or readings) are copied with SQLite's online backup API: a
  consistent copy even while `wherry run` writes.
- A PostgreSQL registry goes through `pg_dump --format=custom` and back with `pg_restore
  --clean`; the password travels in `PGPASSWORD`, never on a command line.
- InfluxDB is exported per retention policy through the v1 API (`storage.influx_export`).

Each step is printed as it happens. `manifest.json` says what the folder holds, so a
restore needs nothing but the folder and the settings of the place it goes to.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from storage import InfluxSpec, SQLiteSpec, redact_url
from storage.errors import StoreError, StoreRejected
from storage.influx import quote_identifier
from storage.influx_admin import InfluxAdmin
from storage.influx_export import export_policy, import_policy, read_lines
from storage.registry import Registry, RegistryError
from wherry.settings import Settings
from wherry.store_setup import store_spec

MANIFEST = "manifest.json"
FORMAT = 1
PARTS = ("registry", "readings")
Echo = Callable[[str], None]


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says why and what to do."""


def _wherry_version() -> str:
    try:
        return version("wherry")
    except PackageNotFoundError:
        return "unknown"


# -- SQLite -----------------------------------------------------------------------------------


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (online backup API), replacing `target`."""
    if not source.exists():
        raise BackupError(f"no SQLite database at {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30) as src,
        sqlite3.connect(target, timeout=30) as dst,
    ):
        src.backup(dst)
    src.close()
    dst.close()


def _sqlite_registry_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory registry has nothing to back up")
    return Path(url.database)


# -- PostgreSQL -------------------------------------------------------------------------------


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and the environment that carries it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHERRY_")}
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run_pg(tool: str, args: list[str], env: dict[str, str], echo: Echo) -> None:
    binary = shutil.which(tool)
    if binary is None:
        raise BackupError(f"{tool} is not installed: apt-get install postgresql-client")
    echo("  $ " + " ".join([tool, *args]))
    done = subprocess.run([binary, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


# -- backup -----------------------------------------------------------------------------------


def backup(
    settings: Settings,
    directory: Path,
    *,
    parts: tuple[str, ...],
    echo: Echo,
    admin: tuple[str, str] | None = None,
) -> None:
    """Write the chosen parts into the empty (or new) folder `directory`."""
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty: back up into a new folder")
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "wherry": _wherry_version(),
    }
    if "registry" in parts:
        manifest["registry"] = _backup_registry(settings, directory, echo)
    if "readings" in parts:
        manifest["readings"] = _backup_readings(settings, directory, echo, admin)
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    echo(f"backup complete in {time.monotonic() - started:.1f} s: {directory}")


def _backup_registry(settings: Settings, directory: Path, echo: Echo) -> dict[str, Any]:
    url = make_url(settings.effective_registry_url)
    try:
        registry = Registry(settings.effective_registry_url)
        revision = registry.current_revision()
        registry.close()
    except RegistryError as exc:
        raise BackupError(f"cannot open the registry: {exc}") from exc
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        echo(f"registry {shown}: SQLite online backup → registry.sqlite")
        copy_sqlite(_sqlite_registry_path(url), directory / "registry.sqlite")
        return {"kind": "sqlite", "file": "registry.sqlite", "revision": revision}
    echo(f"registry {shown}: pg_dump → registry.pgdump")
    uri, env = _libpq(url)
    target = directory / "registry.pgdump"
    _run_pg("pg_dump", ["--format=custom", "--no-owner", f"--file={target}", uri], env, echo)
    return {"kind": "postgresql", "file": "registry.pgdump", "revision": revision}


def _backup_readings(
    settings: Settings, directory: Path, echo: Echo, admin: tuple[str, str] | None
) -> dict[str, Any]:
    url = settings.effective_store_url
    spec = store_spec(settings, admin)
    if isinstance(spec, SQLiteSpec):
        echo(f"readings {redact_url(url)}: SQLite online backup → readings.sqlite")
        copy_sqlite(Path(spec.path), directory / "readings.sqlite")
        return {"kind": "sqlite", "file": "readings.sqlite"}
    assert isinstance(spec, InfluxSpec)
    echo(f"readings {redact_url(url)}: export through the v1 API, one file per retention policy")
    policies = []
    try:
        with InfluxAdmin(spec) as server:
            for policy in server.retention_policies().values():
                file = f"readings-{_file_safe(policy.name)}.lp.jsonl.gz"
                points = export_policy(server, policy.name, directory / file, echo=echo)
                policies.append(
                    {
                        "name": policy.name,
                        "duration_ns": policy.duration_ns,
                        "default": policy.default,
                        "file": file,
                        "points": points,
                    }
                )
    except StoreError as exc:
        raise BackupError(f"cannot export the readings: {exc}") from exc
    return {"kind": "influxdb", "database": spec.database, "policies": policies}


def _file_safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else f"%{ord(c):02x}" for c in name)


# -- restore ----------------------------------------------------------------------------------


def read_manifest(directory: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{directory} holds no readable {MANIFEST}: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{directory}: backup format {manifest.get('format')!r} is unknown")
    return manifest


def restore(
    settings: Settings,
    directory: Path,
    *,
    parts: tuple[str, ...],
    echo: Echo,
    admin: tuple[str, str] | None = None,
) -> None:
    """Put the chosen parts of the backup in `directory` back where the settings point."""
    manifest = read_manifest(directory)
    missing = [part for part in parts if part not in manifest]
    if missing:
        raise BackupError(f"{directory} holds no {' and no '.join(missing)} backup")
    if "registry" in parts:
        _restore_registry(settings, directory, manifest["registry"], echo)
    if "readings" in parts:
        _restore_readings(settings, directory, manifest["readings"], echo, admin)
    echo("restore complete; next: `wherry migrate` (brings the schema and the store's "
         "retention and continuous queries up to this version), then start wherry")  # fmt: skip


def _restore_registry(
    settings: Settings, directory: Path, entry: dict[str, Any], echo: Echo
) -> None:
    revision = entry.get("revision")
    known = Registry.head_revision()
    if revision is not None and revision > known:
        raise BackupError(
            f"the registry backup is at revision {revision}, newer than this wherry's {known}: "
            "restore it with the wherry version that made it"
        )
    url = make_url(settings.effective_registry_url)
    shown = url.render_as_string(hide_password=True)
    source = directory / entry["file"]
    if entry["kind"] != ("sqlite" if url.get_backend_name() == "sqlite" else "postgresql"):
        raise BackupError(
            f"the registry backup is {entry['kind']}, the registry {shown} is not: restore into "
            "the same kind of database (or export and import devices and routes as CSV)"
        )
    if entry["kind"] == "sqlite":
        echo(f"registry {shown}: replaced from {source.name} (SQLite online backup)")
        copy_sqlite(source, _sqlite_registry_path(url))
        return
    echo(f"registry {shown}: pg_restore --clean from {source.name}")
    uri, env = _libpq(url)
    _run_pg(
        "pg_restore",
        ["--clean", "--if-exists", "--no-owner", "--single-transaction", f"--dbname={uri}",
         str(source)],
        env,
        echo,
    )  # fmt: skip


def _restore_readings(
    settings: Settings,
    directory: Path,
    entry: dict[str, Any],
    echo: Echo,
    admin: tuple[str, str] | None,
) -> None:
    url = settings.effective_store_url
    spec = store_spec(settings, admin)
    kind = "sqlite" if isinstance(spec, SQLiteSpec) else "influxdb"
    if entry["kind"] != kind:
        raise BackupError(
            f"the readings backup is {entry['kind']}, the store {redact_url(url)} is {kind}"
        )
    if isinstance(spec, SQLiteSpec):
        echo(f"readings {redact_url(url)}: replaced from {entry['file']} (SQLite online backup)")
        copy_sqlite(directory / entry["file"], Path(spec.path))
        return
    assert isinstance(spec, InfluxSpec)
    echo(f"readings {redact_url(url)}: writing the exported points back")
    try:
        with InfluxAdmin(spec) as server:
            try:
                server.run(f"CREATE DATABASE {quote_identifier(server.database)}", database=False)
            except StoreRejected as exc:  # not an admin: the database may well exist
                echo(f"  could not create database {server.database!r} ({exc}); carrying on")
            existing = server.retention_policies()
            for policy in entry["policies"]:
                name = str(policy["name"])
                if name not in existing:
                    hours = int(policy["duration_ns"]) // 3_600_000_000_000
                    server.run(
                        f"CREATE RETENTION POLICY {quote_identifier(name)} ON "
                        f"{quote_identifier(server.database)} "
                        f"DURATION {f'{hours}h' if hours else 'INF'} REPLICATION 1"
                    )
                    echo(f"  retention policy {name!r} created")
                done = import_policy(
                    server, name, read_lines(directory / policy["file"]), echo=echo
                )
                echo(
                    f"  {name}: {done.points} of {policy['points']} points restored"
                    + (f", {done.dropped} older than the policy keeps" if done.dropped else "")
                )
    except StoreError as exc:
        raise BackupError(f"cannot restore the readings: {exc}") from exc
