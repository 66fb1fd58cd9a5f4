"""Named leases: at most one process holds each, for a time, and must renew it to keep it.

A lease is a row (`leases`) with its holder and expiry, in milliseconds of the
database's own clock, so replicas on machines whose clocks differ still agree on
when it ends. Taking and renewing are one conditional UPDATE ("mine, or expired"):
PostgreSQL lets one of two racing UPDATEs through and the other finds the row
changed; SQLite serialises writers (BEGIN IMMEDIATE). A first claim INSERTs the row,
and a lost race for that INSERT is a unique-key violation, not a second holder.

Why a table and not PostgreSQL's advisory locks: it works the same on SQLite, it
survives connection pooling (an advisory lock belongs to one connection, which the
pool may close or hand to another thread) and anyone can read who holds it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import case, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.registry.errors import LeaseLost
from storage.registry.models import LeaseModel
from storage.registry.records import LeaseRecord

_NOW_MS = {
    "postgresql": "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    "sqlite": "SELECT CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)",
}


def database_now_ms(session: Session) -> int:
    """The database's clock, in milliseconds since the epoch: the one clock every replica shares."""
    statement = _NOW_MS[session.get_bind().dialect.name]
    return int(session.execute(text(statement)).scalar_one())


def claim_lease(session: Session, name: str, holder: str, ttl_ms: int) -> LeaseRecord | None:
    """Take `name` for `holder` (or renew it) for `ttl_ms`; None while another holds it.

    The holder may renew a lease that has run out as long as nobody took it meanwhile:
    no one else acted for it in between. A new holder increases `epoch`.
    """
    now = database_now_ms(session)
    mine = LeaseModel.holder == holder
    claimed = session.execute(
        update(LeaseModel)
        .where(LeaseModel.name == name, mine | (LeaseModel.expires_ms <= now))
        .values(
            epoch=case((mine, LeaseModel.epoch), else_=LeaseModel.epoch + 1),
            acquired_ms=case((mine, LeaseModel.acquired_ms), else_=now),
            holder=holder,
            renewed_ms=now,
            expires_ms=now + ttl_ms,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        model = LeaseModel(
            name=name,
            holder=holder,
            epoch=1,
            acquired_ms=now,
            renewed_ms=now,
            expires_ms=now + ttl_ms,
        )
        try:
            with session.begin_nested():
                session.add(model)
                session.flush()
        except IntegrityError:  # the row exists: someone else holds the lease
            return None
    return lease(session, name)


def release_lease(session: Session, name: str, holder: str) -> bool:
    """Let the lease go at once (a clean shutdown), so a standby need not wait for it to run
    out; False when `holder` did not hold it."""
    now = database_now_ms(session)
    released = session.execute(
        update(LeaseModel)
        .where(LeaseModel.name == name, LeaseModel.holder == holder, LeaseModel.expires_ms > now)
        .values(expires_ms=now)
        .execution_options(synchronize_session=False)
    )
    return getattr(released, "rowcount", 0) == 1


def lease(session: Session, name: str) -> LeaseRecord | None:
    model = session.execute(
        select(LeaseModel).where(LeaseModel.name == name).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    return None if model is None else lease_record(model)


def check_fence(session: Session, fence: LeaseRecord) -> None:
    """Raise `LeaseLost` unless `fence` still holds: same holder and epoch, not run out.

    The row is locked (FOR UPDATE on PostgreSQL; SQLite's writer lock is held already)
    until the caller's transaction ends, so no one can take the lease over between
    this check and the caller's write.
    """
    now = database_now_ms(session)
    held = session.execute(
        select(LeaseModel.name)
        .where(
            LeaseModel.name == fence.name,
            LeaseModel.holder == fence.holder,
            LeaseModel.epoch == fence.epoch,
            LeaseModel.expires_ms > now,
        )
        .with_for_update()
    ).first()
    if held is None:
        raise LeaseLost(
            f"lease '{fence.name}' is no longer held by {fence.holder} (epoch {fence.epoch}): "
            "it ran out or another process took it over"
        )


def lease_record(model: LeaseModel) -> LeaseRecord:
    return LeaseRecord(
        name=model.name,
        holder=model.holder,
        epoch=model.epoch,
        acquired_at=_utc(model.acquired_ms),
        renewed_at=_utc(model.renewed_ms),
        expires_at=_utc(model.expires_ms),
    )


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
