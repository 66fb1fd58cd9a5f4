"""Turn a registry URL into an SQLAlchemy engine that behaves well on SQLite and PostgreSQL.

SQLite gets WAL (readers never block the writer), foreign keys, a busy timeout,
and real transactions: SQLAlchemy emits BEGIN itself, and BEGIN IMMEDIATE for
writes so two writers queue on the busy timeout instead of failing on a lock upgrade.
"""

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from storage.registry.errors import InvalidRegistryUrl, RegistryUnavailable

WRITE_OPTION = "wherry_registry_write"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_EXAMPLES = "e.g. sqlite:///data/registry.db or postgresql+psycopg://wherry@127.0.0.1:5432/wherry"


def registry_engine(url: str) -> Engine:
    """An engine for `url`; the parent folder of an SQLite file is created."""
    parsed = _parse(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        return create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as missing:
        raise InvalidRegistryUrl(
            f"registry URL {_shown(parsed)} needs a database driver that is not installed "
            f"({missing}): for PostgreSQL use postgresql+psycopg://…"
        ) from missing


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidRegistryUrl(
            f"registry URL '{url}' is not an SQLAlchemy database URL: {_EXAMPLES}"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        # psycopg 3 is the driver wherry ships with; SQLAlchemy's default is psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise InvalidRegistryUrl(
            f"registry URL {_shown(parsed)} uses '{backend}': the registry runs on "
            f"SQLite or PostgreSQL, {_EXAMPLES}"
        )
    return parsed


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in database
    kwargs: dict[str, Any] = {}
    if in_memory:
        # One shared connection, or every checkout would see its own empty database.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    elif not database.startswith("file:"):
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as problem:
            raise RegistryUnavailable(
                f"cannot create the folder {folder} for the registry database: {problem}"
            ) from problem
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Stop the sqlite3 module from managing transactions; `_begin_sqlite` does it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """PRAGMA journal_mode = WAL, retried: while another connection is creating the database
    or its WAL index, SQLite answers "database is locked" at once, without the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as problem:
            if "locked" not in str(problem) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _begin_sqlite(connection: Connection) -> None:
    writing = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def _shown(url: URL) -> str:
    return f"'{url.render_as_string(hide_password=True)}'"
