"""Alembic environment for the registry.

`Registry.migrate()` runs it with its own open connection (in
`config.attributes["connection"]`), so no alembic.ini is needed at run time.
Developers writing a new revision can use the alembic CLI with the ini beside
this folder: `alembic -c storage/registry/alembic.ini revision --autogenerate -m "…"`.
"""

from alembic import context
from sqlalchemy import Connection, create_engine

from storage.registry.models import Base

config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: later revisions rebuild tables in batches.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if isinstance(given, Connection):
    run_on(given)
elif context.is_offline_mode():
    run_offline()
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url in the alembic config to the registry database")
    engine = create_engine(url)
    with engine.begin() as connection:
        run_on(connection)
    engine.dispose()
