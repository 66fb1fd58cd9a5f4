"""Alerts, route decisions, treatments and subscriptions in the registry, on every backend.

Star-imported by the SQLite and PostgreSQL test modules, which provide `registry`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from storage.registry import (
    ChangeRejected,
    NewAlert,
    NewSubscription,
    NewTreatment,
    NotRegistered,
    Registry,
    RouteStatusRecord,
)
from storage.registry.schema import alembic_config
from tests.unit.registry.registry_behaviour import run_together, with_routes
from tests.unit.registry.registry_edits_behaviour import CATALOGUE, draft

T0 = datetime(2026, 1, 10, 22, 0, tzinfo=UTC)


def new_alert(key: str = "gritting:town-centre", **changes: object) -> NewAlert:
    values: dict[str, object] = {
        "key": key,
        "rule": "gritting",
        "severity": "warning",
        "summary": "town-centre: MONITOR",
        "explanation": {"state": "MARGINAL"},
        "at": T0,
        "route_id": "town-centre",
        "domain": "road",
    }
    values.update(changes)
    return NewAlert(**values)  # type: ignore[arg-type]


def test_one_open_alert_per_key_even_when_raised_twice(registry: Registry) -> None:
    first = registry.raise_alert(new_alert())
    second = registry.raise_alert(new_alert(summary="again"))

    assert first is not None and first.status == "raised"
    assert second is None
    assert [a.id for a in registry.open_alerts()] == [first.id]


def test_replicas_raising_the_same_condition_at_once_store_one_alert(registry: Registry) -> None:
    raised: list[object] = []

    failures = run_together(lambda n: raised.append(registry.raise_alert(new_alert())), 6)

    assert failures == []
    assert sum(1 for r in raised if r is not None) == 1
    assert len(registry.open_alerts()) == 1


def test_an_alert_escalates_clears_and_a_new_episode_opens_a_new_alert(
    registry: Registry,
) -> None:
    alert = registry.raise_alert(new_alert())
    assert alert is not None

    still, escalated = registry.update_alert(
        alert.id, severity="warning", summary="still", explanation={}, at=T0
    )
    raised, escalated_now = registry.update_alert(
        alert.id, severity="critical", summary="TREAT", explanation={"x": 1}, at=T0
    )
    lowered, escalated_later = registry.update_alert(
        alert.id, severity="warning", summary="back", explanation={}, at=T0
    )
    cleared = registry.clear_alert(alert.id, summary="clear", at=T0 + timedelta(hours=2))
    again = registry.raise_alert(new_alert(at=T0 + timedelta(hours=3)))

    assert (escalated, escalated_now, escalated_later) == (False, True, False)
    assert still.summary == "still" and still.severity == "warning"
    assert raised.severity == "critical" and lowered.severity == "critical"  # highest reached
    assert cleared.status == "cleared" and cleared.cleared_at == T0 + timedelta(hours=2)
    assert again is not None and again.id != alert.id
    kinds = [e.kind for e in registry.alert_events(alert.id)]
    assert kinds == ["raised", "escalated", "cleared"]
    with pytest.raises(NotRegistered):
        registry.clear_alert(alert.id, summary="twice", at=T0)


def test_acknowledging_is_audited_and_kept_once(registry: Registry) -> None:
    alert = registry.raise_alert(new_alert())
    assert alert is not None

    acknowledged = registry.acknowledge_alert(alert.id, actor="key:duty")
    again = registry.acknowledge_alert(alert.id, actor="key:other")

    assert acknowledged.status == "acknowledged" and acknowledged.acknowledged_by == "key:duty"
    assert again.acknowledged_by == "key:duty"
    assert [a.id for a in registry.open_alerts()] == [alert.id]
    audit = registry.audit_entries(entity="alert")
    assert [(e.action, e.actor) for e in audit] == [("acknowledge", "key:duty")]
    registry.clear_alert(alert.id, summary="clear", at=T0)
    with pytest.raises(ChangeRejected):
        registry.acknowledge_alert(alert.id, actor="key:duty")
    with pytest.raises(NotRegistered):
        registry.acknowledge_alert(999_999, actor="key:duty")


def test_alerts_filter_by_status_route_and_rule(registry: Registry) -> None:
    road = registry.raise_alert(new_alert())
    device = registry.raise_alert(
        new_alert("silent:road-02", rule="silent_device", route_id=None, device_id="road-02")
    )
    assert road is not None and device is not None
    registry.clear_alert(device.id, summary="heard again", at=T0)

    assert [a.id for a in registry.alerts(open_only=True)] == [road.id]
    assert [a.id for a in registry.alerts(status="cleared")] == [device.id]
    assert [a.id for a in registry.alerts(route_id="town-centre")] == [road.id]
    assert [a.id for a in registry.alerts(rule="silent_device")] == [device.id]
    assert registry.alert(road.id) == road


def test_route_status_keeps_the_latest_and_records_transitions(registry: Registry) -> None:
    def status(minutes: int, state: str, recommendation: str) -> RouteStatusRecord:
        return RouteStatusRecord(
            "town-centre", state, recommendation, T0 + timedelta(minutes=minutes), "why", {"n": 1}
        )

    changes = [
        registry.save_route_status(status(0, "CLEAR", "NO_ACTION")),
        registry.save_route_status(status(10, "CLEAR", "NO_ACTION")),
        registry.save_route_status(status(20, "MARGINAL", "MONITOR")),
        registry.save_route_status(status(5, "FREEZING", "TREAT")),  # older: ignored
    ]

    assert changes == [True, False, True, False]
    [current] = registry.route_statuses()
    assert (current.state, current.at) == ("MARGINAL", T0 + timedelta(minutes=20))
    transitions = registry.route_transitions(route_id="town-centre")
    assert [(t.state, t.recommendation) for t in transitions] == [
        ("CLEAR", "NO_ACTION"),
        ("MARGINAL", "MONITOR"),
    ]
    assert registry.route_transitions(since=T0 + timedelta(minutes=15)) == transitions[1:]


def test_a_batch_of_decisions_is_saved_in_order_in_one_go(registry: Registry) -> None:
    registry.save_route_statuses(
        [
            RouteStatusRecord("a", "CLEAR", "NO_ACTION", T0, "", {}),
            RouteStatusRecord("a", "FREEZING", "TREAT", T0 + timedelta(minutes=5), "", {}),
            RouteStatusRecord("b", "MARGINAL", "MONITOR", T0, "", {}),
            RouteStatusRecord("a", "FREEZING", "TREAT", T0 + timedelta(minutes=9), "", {}),
        ]
    )

    assert [(s.route_id, s.state) for s in registry.route_statuses()] == [
        ("a", "FREEZING"),
        ("b", "MARGINAL"),
    ]
    assert [t.state for t in registry.route_transitions(route_id="a")] == ["CLEAR", "FREEZING"]


def test_treatments_are_checked_logged_audited_and_deleted(registry: Registry) -> None:
    with_routes(registry)
    run = NewTreatment(
        "town-centre", T0, T0 + timedelta(hours=2), spread_rate_g_m2=10.0, notes="A6 both ways"
    )

    logged = registry.log_treatment(run, actor="key:duty")

    assert (logged.route_id, logged.logged_by, logged.spread_rate_g_m2) == (
        "town-centre",
        "key:duty",
        10.0,
    )
    assert registry.treatments(route_id="town-centre") == [logged]
    assert registry.treatments(since=T0 + timedelta(minutes=1)) == []
    with pytest.raises(ChangeRejected) as refused:
        registry.log_treatment(
            NewTreatment("nowhere", T0, T0 - timedelta(hours=1), spread_rate_g_m2=0),
            actor="key:duty",
        )
    assert {p.field for p in refused.value.problems} == {"route_id", "ended_at", "spread_rate_g_m2"}
    registry.delete_treatment(logged.id, actor="key:duty")
    assert registry.treatments() == []
    actions = [e.action for e in registry.audit_entries(entity="treatment")]
    assert actions == ["delete", "create"]


def test_subscriptions_are_validated_and_their_secret_never_audited(registry: Registry) -> None:
    hook = NewSubscription(
        "control room",
        "webhook",
        "https://example.invalid/hook",
        secret="s3cret-that-is-long-enough",
        routes=("town-centre",),
        min_severity="critical",
    )

    created = registry.create_subscription(hook, actor="key:admin")
    changed = registry.update_subscription(created.id, {"active": False}, actor="key:admin")

    assert registry.subscriptions() == [changed]
    assert changed.secret == "s3cret-that-is-long-enough" and not changed.active
    for entry in registry.audit_entries(entity="subscription"):
        for side in (entry.before, entry.after):
            assert side is None or "secret" not in side
    with pytest.raises(ChangeRejected) as refused:
        registry.create_subscription(
            NewSubscription("", "webhook", "ftp://x", secret="short", min_severity="loud"),
            actor="key:admin",
        )
    assert {p.field for p in refused.value.problems} == {"name", "target", "secret", "min_severity"}
    with pytest.raises(ChangeRejected):
        registry.update_subscription(created.id, {"channel": "email"}, actor="key:admin")
    with pytest.raises(ChangeRejected):
        registry.create_subscription(
            NewSubscription("duty", "email", "not an address"), actor="key:admin"
        )
    registry.delete_subscription(created.id, actor="key:admin")
    assert registry.subscription(created.id) is None


def test_upgrading_a_0002_database_keeps_its_rows_and_adds_the_alert_tables(
    registry_url: str, raw: sa.Engine
) -> None:
    old = Registry(registry_url)
    with raw.begin() as connection:
        command.upgrade(alembic_config(connection), "0002")
    with raw.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO routes (route_id, name, length_km, priority, area, policy, "
                "created_at, updated_at) VALUES ('town-centre', 'Town centre loop', 12.5, 1, "
                "'Urban', '{\"horizon_min\": 120}', :at, :at)"
            ),
            {"at": T0},
        )
    assert old.current_revision() == "0002"

    old.migrate()

    assert old.current_revision() == Registry.head_revision()
    town = old.route("town-centre")
    assert town is not None and town.policy == {"horizon_min": 120}
    assert old.open_alerts() == [] and old.treatments() == [] and old.subscriptions() == []
    assert old.log_treatment(NewTreatment("town-centre", T0), actor="t").route_id == "town-centre"
    old.close()


def test_downgrading_0003_to_0002_keeps_devices_and_routes(
    registry: Registry, raw: sa.Engine
) -> None:
    with_routes(registry).create_device(draft(), actor="ana", catalogue=CATALOGUE)
    registry.log_treatment(NewTreatment("town-centre", T0), actor="ana")
    registry.raise_alert(new_alert())

    with raw.begin() as connection:
        command.downgrade(alembic_config(connection), "0002")
        tables = set(sa.inspect(connection).get_table_names())
    assert not tables & {"alerts", "alert_events", "treatments", "subscriptions", "route_status"}
    registry.migrate()

    assert len(registry.devices()) == 1 and len(registry.routes()) == 2
    assert registry.open_alerts() == []
