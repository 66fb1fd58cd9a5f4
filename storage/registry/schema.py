"""Alembic, driven from code: the migrations ship inside this package and need no alembic.ini."""

import threading
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Alembic keeps the running migration in module globals (`alembic.context`), so two
# upgrades in one process must not overlap, even on different databases.
_UPGRADING = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """A config pointing at the shipped migrations; `connection`, when given, is the one used."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this code's models correspond to."""
    head = _scripts().get_current_head()
    if head is None:
        raise RuntimeError(f"no registry migrations found in {MIGRATIONS}")
    return head


def is_known_revision(revision: str) -> bool:
    """True when this code ships `revision` (False: a newer wherry migrated the database)."""
    return any(script.revision == revision for script in _scripts().walk_revisions())


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(connection: Connection) -> None:
    """Apply every missing migration on `connection`, inside the caller's transaction."""
    with _UPGRADING:
        command.upgrade(alembic_config(connection), "head")
