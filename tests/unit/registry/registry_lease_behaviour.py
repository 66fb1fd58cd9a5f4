"""Leases in the registry, on every backend: one holder at a time, expiry, takeover, fencing,
and migration 0004.

Star-imported by the SQLite and PostgreSQL test modules, which provide `registry`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command

from storage.registry import LeaseLost, NewAlert, Registry
from storage.registry.schema import alembic_config
from tests.unit.registry.registry_behaviour import run_together, with_routes
from tests.unit.registry.registry_edits_behaviour import CATALOGUE, draft

_AT = datetime(2026, 1, 10, 22, 0, tzinfo=UTC)


def _alert(key: str = "gritting:town-centre") -> NewAlert:
    return NewAlert(key, "gritting", "critical", "TREAT", {}, _AT, route_id="town-centre")


def test_a_lease_has_one_holder_until_it_runs_out(registry: Registry) -> None:
    first = registry.claim_lease("alerts", "a", 1.0)

    assert first is not None and first.holder == "a" and first.epoch == 1
    assert registry.claim_lease("alerts", "b", 1.0) is None
    renewed = registry.claim_lease("alerts", "a", 1.0)
    assert renewed is not None and renewed.epoch == 1 and renewed.expires_at > first.expires_at
    assert registry.claim_lease("other", "b", 1.0) is not None  # leases are per name

    time.sleep(1.1)
    taken = registry.claim_lease("alerts", "b", 5)

    assert taken is not None and taken.holder == "b" and taken.epoch == 2
    assert registry.claim_lease("alerts", "a", 5) is None
    lease = registry.lease("alerts")
    assert lease is not None and lease.holder == "b"
    assert registry.lease("never-taken") is None


def test_of_processes_racing_for_a_free_lease_exactly_one_gets_it(registry: Registry) -> None:
    won: list[str] = []

    def claim(n: int) -> None:
        if registry.claim_lease("alerts", f"replica-{n}", 30) is not None:
            won.append(f"replica-{n}")

    failures = run_together(claim, 6)

    assert failures == []
    assert len(won) == 1
    lease = registry.lease("alerts")
    assert lease is not None and lease.holder == won[0]


def test_of_standbys_racing_for_an_expired_lease_exactly_one_takes_it(
    registry: Registry,
) -> None:
    assert registry.claim_lease("alerts", "crashed", 0.2) is not None
    time.sleep(0.3)
    won: list[int] = []

    def claim(n: int) -> None:
        lease = registry.claim_lease("alerts", f"standby-{n}", 30)
        if lease is not None:
            won.append(lease.epoch)

    failures = run_together(claim, 6)

    assert failures == []
    assert won == [2]


def test_a_released_lease_is_free_at_once_and_only_its_holder_can_release_it(
    registry: Registry,
) -> None:
    assert registry.claim_lease("alerts", "a", 30) is not None

    assert registry.release_lease("alerts", "b") is False
    assert registry.claim_lease("alerts", "b", 30) is None
    assert registry.release_lease("alerts", "a") is True

    taken = registry.claim_lease("alerts", "b", 30)
    assert taken is not None and taken.holder == "b"


def test_alert_writes_under_a_lost_lease_are_refused(registry: Registry) -> None:
    with_routes(registry)
    old = registry.claim_lease("alerts", "old", 1.0)
    assert old is not None
    alert = registry.raise_alert(_alert(), fence=old)
    assert alert is not None

    time.sleep(1.1)
    with pytest.raises(LeaseLost, match="no longer held by old"):
        registry.raise_alert(_alert("silent:rst-1"), fence=old)  # ran out, nobody took it
    new = registry.claim_lease("alerts", "new", 30)
    assert new is not None

    with pytest.raises(LeaseLost):
        registry.update_alert(
            alert.id, severity="critical", summary="x", explanation={}, at=_AT, fence=old
        )
    with pytest.raises(LeaseLost):
        registry.clear_alert(alert.id, summary="warm", at=_AT, fence=old)
    assert [a.key for a in registry.open_alerts()] == ["gritting:town-centre"]
    cleared = registry.clear_alert(alert.id, summary="warm", at=_AT, fence=new)
    assert cleared.status == "cleared"
    assert [e.kind for e in registry.alert_events(alert.id)] == ["raised", "cleared"]


def test_a_holder_renewing_a_lapsed_lease_nobody_took_keeps_its_epoch(registry: Registry) -> None:
    first = registry.claim_lease("alerts", "a", 0.2)
    assert first is not None
    time.sleep(0.3)

    again = registry.claim_lease("alerts", "a", 30)

    assert again is not None and again.epoch == first.epoch
    registry.raise_alert(_alert(), fence=first)  # nobody acted in between: still valid


def test_upgrading_a_0003_database_adds_the_lease_table_and_keeps_its_rows(
    registry_url: str, raw: sa.Engine
) -> None:
    old = Registry(registry_url)
    with raw.begin() as connection:
        command.upgrade(alembic_config(connection), "0003")
    old._schema_ok = True  # write a 0003 alert through the registry's own code
    try:
        alert = old.raise_alert(_alert())
    finally:
        old._schema_ok = False
    assert old.current_revision() == "0003"

    old.migrate()

    assert old.current_revision() == Registry.head_revision()
    assert alert is not None and [a.id for a in old.open_alerts()] == [alert.id]
    assert old.lease("alerts") is None
    assert old.claim_lease("alerts", "a", 30) is not None
    old.close()


def test_downgrading_0004_to_0003_drops_only_the_lease_table(
    registry: Registry, raw: sa.Engine
) -> None:
    with_routes(registry).create_device(draft(), actor="ana", catalogue=CATALOGUE)
    registry.raise_alert(_alert())
    assert registry.claim_lease("alerts", "a", 30) is not None

    with raw.begin() as connection:
        command.downgrade(alembic_config(connection), "0003")
        tables = set(sa.inspect(connection).get_table_names())
    assert "leases" not in tables and {"alerts", "devices"} <= tables
    registry.migrate()

    assert len(registry.devices()) == 1 and len(registry.open_alerts()) == 1
    assert registry.lease("alerts") is None
