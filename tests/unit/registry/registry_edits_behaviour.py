"""Single-object edits, API keys and the 0001 → 0002 migration, on every database.

Not collected on its own: `test_registry_sqlite.py` and
`tests/integration/test_registry_postgres.py` import these tests (and the
`registry` fixture from `registry_behaviour`) and provide `registry_url`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic import command

from storage.registry import (
    AlreadyRegistered,
    Catalogue,
    ChangeRejected,
    DeviceDraft,
    InUse,
    NewApiKey,
    NotRegistered,
    Registry,
    RouteDraft,
    parse_route_csv,
)
from storage.registry.schema import alembic_config
from tests.unit.registry.registry_behaviour import (
    DECODERS,
    QUANTITIES,
    ROUTES_CSV,
    T0,
    route,
    sighting,
    with_routes,
)


def _no_lux_into_ppm(decoder: str, field_map: Mapping[str, str]) -> str | None:
    """A stand-in for `decoders.check_field_map`, which the registry never imports."""
    if field_map.get("lux") == "pm2_5":
        return f"{decoder}: 'lux' is in lx and cannot become pm2_5 (µg/m³)"
    return None


CATALOGUE = Catalogue(DECODERS, QUANTITIES, _no_lux_into_ppm)
HASH = "ab" * 32


def draft(device_id: str = "road-01", **changes: object) -> DeviceDraft:
    values: dict[str, object] = {
        "device_id": device_id,
        "dev_eui": "70B3-D57E-D005-A12F",
        "decoder": "decentlab-dl-ds18",
        "domain": "road",
        "name": "Bridge St",
        "join_eui": "70B3D57ED0000000",
        "route_id": "town-centre",
        "latitude": 52.2053,
        "longitude": 0.1218,
        "public": True,
        "owner": "County Council",
        "field_map": {"temperature": "road_surface_temperature"},
    }
    values.update(changes)
    return DeviceDraft(**values)  # type: ignore[arg-type]


def new_key(key_id: str = "0a1b2c3d4e5f", **changes: object) -> NewApiKey:
    values: dict[str, object] = {
        "key_id": key_id,
        "label": "Jo, network engineer",
        "role": "engineer",
        "secret_hash": HASH,
        "expires_at": None,
    }
    values.update(changes)
    return NewApiKey(**values)  # type: ignore[arg-type]


# -- migration 0001 → 0002 --------------------------------------------------------------------


def test_upgrading_a_0001_database_with_data_keeps_every_row(
    registry_url: str, raw: sa.Engine
) -> None:
    at = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)
    with raw.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
    with raw.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO routes (route_id, name, length_km, priority, area, created_at, "
                "updated_at) VALUES ('town-centre', 'Town centre loop', 12.5, 1, 'Urban', :at, :at)"
            ),
            {"at": at},
        )
        connection.execute(
            sa.text(
                "INSERT INTO devices (device_id, dev_eui, name, decoder, domain, route_id, "
                "latitude, longitude, public, owner, field_map, site, application_id, status, "
                "notes, created_at, updated_at) VALUES ('road-01', '70b3d57ed005a12f', "
                "'Bridge St', 'decentlab-dl-ds18', 'road', 'town-centre', 52.2, 0.12, true, "
                "'council', :map, 'bridge', 'wherry-town', 'retired', 'old', :at, :at)"
            ),
            {"map": json.dumps({"temperature": "road_surface_temperature"}), "at": at},
        )
        connection.execute(
            sa.text(
                "INSERT INTO audit_log (at, actor, entity, entity_id, action, origin, before, "
                "after) VALUES (:at, 'cli', 'route', 'town-centre', 'create', 'csv-import', "
                "NULL, :after)"
            ),
            {"at": at, "after": json.dumps({"route_id": "town-centre"})},
        )
    upgraded = Registry(registry_url)
    assert upgraded.current_revision() == "0001"

    upgraded.migrate()

    assert upgraded.current_revision() == Registry.head_revision()
    (old,) = upgraded.devices()
    assert (old.device_id, old.dev_eui, old.status, old.site, old.notes) == (
        "road-01",
        "70b3d57ed005a12f",
        "retired",
        "bridge",
        "old",
    )
    assert old.field_map == {"temperature": "road_surface_temperature"}
    assert old.join_eui is None
    town = upgraded.route("town-centre")
    assert town is not None
    assert (town.name, town.length_km, town.priority, town.area) == (
        "Town centre loop",
        12.5,
        1,
        "Urban",
    )
    assert (town.policy, town.spread_rate_g_m2, town.width_m) == ({}, None, None)
    (entry,) = upgraded.audit_entries()
    assert (entry.at, entry.after) == (at, {"route_id": "town-centre"})
    assert upgraded.api_keys() == []
    upgraded.close()


def test_downgrading_0002_to_0001_keeps_devices_and_routes(
    registry: Registry, raw: sa.Engine
) -> None:
    with_routes(registry).create_device(draft(), actor="ana", catalogue=CATALOGUE)
    registry.create_api_key(new_key(), actor="ana")

    with raw.connect() as connection:
        _foreign_keys(connection, on=False)  # SQLite rebuilds tables, as Registry.migrate does
        with connection.begin():
            command.downgrade(alembic_config(connection), "0001")
        _foreign_keys(connection, on=True)
        tables = set(sa.inspect(connection).get_table_names())
        columns = {c["name"] for c in sa.inspect(connection).get_columns("routes")}
    assert "api_keys" not in tables and "policy" not in columns
    registry.migrate()

    assert [d.dev_eui for d in registry.devices()] == ["70b3d57ed005a12f"]
    assert len(registry.routes()) == 2


def _foreign_keys(connection: sa.Connection, *, on: bool) -> None:
    """Switch SQLite's foreign-key checks outside any transaction (inside, it is ignored)."""
    if connection.dialect.name == "sqlite":
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")
        cursor.close()


# -- API keys ----------------------------------------------------------------------------------


def test_a_key_is_stored_with_its_hash_and_audited_without_it(registry: Registry) -> None:
    expires = datetime(2027, 4, 30, 23, 59, 59, tzinfo=UTC)

    stored = registry.create_api_key(new_key(expires_at=expires), actor="key:admin (Ana)")

    assert stored == registry.api_key("0a1b2c3d4e5f")
    assert (stored.label, stored.role, stored.secret_hash) == (
        "Jo, network engineer",
        "engineer",
        HASH,
    )
    assert (stored.expires_at, stored.revoked_at, stored.last_used_at) == (expires, None, None)
    assert stored.created_by == "key:admin (Ana)"
    assert stored.created_at.tzinfo is not None
    (entry,) = registry.audit_entries(entity="api_key")
    assert (entry.entity_id, entry.action, entry.actor) == (
        "0a1b2c3d4e5f",
        "create",
        "key:admin (Ana)",
    )
    assert entry.after is not None and entry.after["role"] == "engineer"
    assert entry.after["expires_at"] == "2027-04-30T23:59:59+00:00"
    assert "secret_hash" not in entry.after
    assert HASH not in repr(registry.audit_entries())
    assert HASH not in repr(stored)


def test_key_times_in_another_zone_come_back_in_utc(registry: Registry) -> None:
    paris = timezone(timedelta(hours=1))
    expires = datetime(2027, 1, 1, 1, 0, tzinfo=paris)

    stored = registry.create_api_key(new_key(expires_at=expires), actor="test")
    revoked = registry.revoke_api_key(
        "0a1b2c3d4e5f", actor="t", at=datetime(2026, 1, 1, tzinfo=paris)
    )

    read = registry.api_key("0a1b2c3d4e5f")
    assert read is not None and revoked is not None
    for when in (stored.expires_at, read.expires_at, revoked.revoked_at, read.revoked_at):
        assert when is not None and when.utcoffset() == timedelta(0)
    assert read.expires_at == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)


def test_keys_are_listed_newest_first(registry: Registry) -> None:
    for n in range(3):
        registry.create_api_key(new_key(f"{n:012x}"), actor="test")

    assert [k.key_id for k in registry.api_keys()] == [f"{n:012x}" for n in (2, 1, 0)]
    assert registry.api_key("ffffffffffff") is None


def test_using_a_key_is_noted_but_not_audited(registry: Registry) -> None:
    registry.create_api_key(new_key(), actor="test")
    first = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)

    registry.touch_api_key("0a1b2c3d4e5f", first)
    registry.touch_api_key("0a1b2c3d4e5f", first - timedelta(minutes=5))  # a slower replica
    registry.touch_api_key("nobody", first)

    used = registry.api_key("0a1b2c3d4e5f")
    assert used is not None and used.last_used_at == first
    assert [e.action for e in registry.audit_entries()] == ["create"]


def test_revoking_a_key_is_audited_once_and_unknown_keys_give_none(registry: Registry) -> None:
    registry.create_api_key(new_key(), actor="test")
    at = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)

    revoked = registry.revoke_api_key("0a1b2c3d4e5f", actor="ana", at=at)
    again = registry.revoke_api_key("0a1b2c3d4e5f", actor="ben", at=at + timedelta(hours=1))

    assert revoked is not None and revoked.revoked_at == at
    assert again == revoked
    assert registry.revoke_api_key("ffffffffffff", actor="ana", at=at) is None
    entry = registry.audit_entries(entity="api_key")[0]
    assert (entry.action, entry.actor) == ("revoke", "ana")
    assert entry.before is not None and entry.before["revoked_at"] is None
    assert entry.after is not None and entry.after["revoked_at"] == "2026-01-15T03:00:00+00:00"
    assert len(registry.audit_entries(entity="api_key")) == 2


def test_malformed_or_duplicate_keys_are_refused(registry: Registry) -> None:
    with pytest.raises(ChangeRejected) as refused:
        registry.create_api_key(
            new_key(
                "KEY!",
                label=" ",
                role="root",
                secret_hash="hunter2",
                expires_at=datetime(2027, 1, 1),
            ),
            actor="test",
        )
    assert [p.field for p in refused.value.problems] == [
        "key_id",
        "label",
        "role",
        "secret_hash",
        "expires_at",
    ]
    assert "never the secret itself" in str(refused.value)
    registry.create_api_key(new_key(), actor="test")
    with pytest.raises(AlreadyRegistered, match="is taken"):
        registry.create_api_key(new_key(), actor="test")
    with pytest.raises(ValueError, match="timezone-aware"):
        registry.touch_api_key("0a1b2c3d4e5f", datetime(2026, 1, 1))
    assert len(registry.api_keys()) == 1


# -- devices, one at a time --------------------------------------------------------------------


def test_a_device_is_created_clean_and_audited(registry: Registry) -> None:
    created = with_routes(registry).create_device(
        draft(site="bridge", notes="under the bridge"), actor="key:0a1b (Jo)", catalogue=CATALOGUE
    )

    assert created == registry.device("road-01")
    assert (created.dev_eui, created.join_eui) == ("70b3d57ed005a12f", "70b3d57ed0000000")
    assert (created.status, created.site, created.notes) == ("active", "bridge", "under the bridge")
    (entry,) = registry.audit_entries(entity="device")
    assert (entry.action, entry.origin, entry.actor) == ("create", "edit", "key:0a1b (Jo)")
    assert entry.before is None
    assert entry.after is not None and entry.after["join_eui"] == "70b3d57ed0000000"


def test_a_bad_device_is_refused_with_every_problem_named_by_field(registry: Registry) -> None:
    with pytest.raises(ChangeRejected) as refused:
        with_routes(registry).create_device(
            draft(
                "Road 01",
                dev_eui="70b3d57ed005a1",
                decoder="decentlab-ds18",
                domain="sky",
                join_eui="xyz",
                latitude=95.0,
                longitude=None,
                public="yes",
                field_map={"temperature": "road_temp"},
                notes="x" * 2001,
            ),
            actor="test",
            catalogue=CATALOGUE,
        )

    reasons = {p.field: p.reason for p in refused.value.problems}
    assert set(reasons) == {
        "device_id",
        "dev_eui",
        "decoder",
        "domain",
        "join_eui",
        "latitude",
        "longitude",
        "public",
        "field_map",
        "notes",
    }
    assert "contains ' '" in reasons["device_id"]
    assert "has 14 hex digits" in reasons["dev_eui"]
    assert "did you mean 'decentlab-dl-ds18'?" in reasons["decoder"]
    assert "a JoinEUI is exactly 16 hex digits" in reasons["join_eui"]
    assert "latitude 95.0 is out of range" in reasons["latitude"]
    assert "give both or neither" in reasons["longitude"]
    assert "public must be true or false" in reasons["public"]
    assert "'road_temp', which is not a known quantity" in reasons["field_map"]
    assert registry.devices() == []
    assert registry.audit_entries(entity="device") == []


def test_the_decoders_own_field_map_check_is_applied(registry: Registry) -> None:
    with pytest.raises(ChangeRejected, match="'lux' is in lx and cannot become pm2_5"):
        registry.create_device(
            draft(route_id=None, field_map={"lux": "pm2_5"}), actor="t", catalogue=CATALOGUE
        )


def test_device_ids_and_dev_euis_are_unique(registry: Registry) -> None:
    with_routes(registry).create_device(draft(), actor="t", catalogue=CATALOGUE)

    with pytest.raises(AlreadyRegistered, match="device_id 'road-01' is already registered"):
        registry.create_device(draft(dev_eui="0000000000000001"), actor="t", catalogue=CATALOGUE)
    with pytest.raises(AlreadyRegistered) as taken:
        registry.create_device(draft("road-02"), actor="t", catalogue=CATALOGUE)
    assert taken.value.owner == "road-01"
    assert "dev_eui 70b3d57ed005a12f is already registered to device 'road-01'" in str(taken.value)
    registry.create_device(
        draft("road-02", dev_eui="0000000000000002"), actor="t", catalogue=CATALOGUE
    )  # the same JoinEUI is fine: a join server serves many devices
    assert len(registry.devices()) == 2


def test_a_device_must_name_a_registered_route(registry: Registry) -> None:
    with pytest.raises(ChangeRejected) as refused:
        registry.create_device(draft(route_id="a14-south"), actor="t", catalogue=CATALOGUE)

    (problem,) = refused.value.problems
    assert problem.field == "route_id"
    assert "route_id 'a14-south' is not a registered route" in problem.reason


def test_an_update_changes_only_the_fields_given_and_records_before_and_after(
    registry: Registry,
) -> None:
    with_routes(registry).create_device(draft(), actor="ana", catalogue=CATALOGUE)

    updated = registry.update_device(
        "road-01",
        {"name": "Bridge Street", "public": False, "route_id": "a14-north"},
        actor="ben",
        catalogue=CATALOGUE,
    )
    unchanged = registry.update_device(
        "road-01", {"name": "Bridge Street"}, actor="cat", catalogue=CATALOGUE
    )

    assert (updated.name, updated.public, updated.route_id) == ("Bridge Street", False, "a14-north")
    assert (updated.dev_eui, updated.owner, updated.latitude) == (
        "70b3d57ed005a12f",
        "County Council",
        52.2053,
    )
    assert unchanged == updated == registry.device("road-01")
    update, _create = registry.audit_entries(entity="device")
    assert (update.action, update.actor) == ("update", "ben")
    assert update.before is not None and update.after is not None
    assert (update.before["name"], update.after["name"]) == ("Bridge St", "Bridge Street")
    assert (update.before["route_id"], update.after["route_id"]) == ("town-centre", "a14-north")


def test_an_update_is_checked_as_a_whole(registry: Registry) -> None:
    with_routes(registry).create_device(draft(), actor="t", catalogue=CATALOGUE)
    registry.create_device(
        draft("road-02", dev_eui="0000000000000002"), actor="t", catalogue=CATALOGUE
    )

    with pytest.raises(ChangeRejected) as refused:
        registry.update_device(
            "road-01",
            {"device_id": "road-99", "colour": "red", "latitude": None, "decoder": "ttn"},
            actor="t",
            catalogue=CATALOGUE,
        )
    assert {p.field for p in refused.value.problems} == {"device_id", "colour", "latitude"}
    with pytest.raises(AlreadyRegistered, match="already registered to device 'road-02'"):
        registry.update_device(
            "road-01", {"dev_eui": "0000000000000002"}, actor="t", catalogue=CATALOGUE
        )
    with pytest.raises(NotRegistered, match="no device 'road-99' is registered"):
        registry.update_device("road-99", {"name": "x"}, actor="t", catalogue=CATALOGUE)
    device = registry.device("road-01")
    assert device is not None and device.decoder == "decentlab-dl-ds18"


def test_a_retired_device_stays_readable_and_keeps_its_dev_eui(registry: Registry) -> None:
    with_routes(registry).create_device(draft(), actor="t", catalogue=CATALOGUE)

    retired = registry.retire_device("road-01", actor="ana")
    again = registry.retire_device("road-01", actor="ben")

    assert retired.status == "retired" and again == retired
    assert registry.device("road-01") == retired
    assert [d.device_id for d in registry.devices(status="retired")] == ["road-01"]
    assert registry.devices(status="active") == []
    assert [(e.action, e.actor) for e in registry.audit_entries(entity="device")] == [
        ("retire", "ana"),
        ("create", "t"),
    ]
    with pytest.raises(AlreadyRegistered):
        registry.create_device(draft("road-02"), actor="t", catalogue=CATALOGUE)
    with pytest.raises(NotRegistered):
        registry.retire_device("nobody", actor="t")
    reactivated = registry.update_device(
        "road-01", {"status": "active"}, actor="t", catalogue=CATALOGUE
    )
    assert reactivated.status == "active"


def test_devices_are_listed_by_every_filter(registry: Registry) -> None:
    with_routes(registry)
    for n, (domain, route_id, owner, public) in enumerate(
        [
            ("road", "town-centre", "council", True),
            ("road", "a14-north", "council", False),
            ("air", None, "school", True),
            ("water", None, None, False),
        ]
    ):
        registry.create_device(
            draft(
                f"dev-{n}",
                dev_eui=f"{n:016x}",
                domain=domain,
                route_id=route_id,
                owner=owner,
                public=public,
            ),
            actor="t",
            catalogue=CATALOGUE,
        )
    registry.retire_device("dev-1", actor="t")

    def ids(**filters: object) -> list[str]:
        return [d.device_id for d in registry.devices(**filters)]  # type: ignore[arg-type]

    assert ids() == ["dev-0", "dev-1", "dev-2", "dev-3"]
    assert ids(domain="road") == ["dev-0", "dev-1"]
    assert ids(route_id="a14-north") == ["dev-1"]
    assert ids(owner="council") == ["dev-0", "dev-1"]
    assert ids(status="active") == ["dev-0", "dev-2", "dev-3"]
    assert ids(public=True) == ["dev-0", "dev-2"]
    assert ids(public=False, domain="road") == ["dev-1"]
    assert ids(domain="air", owner="council") == []


def test_creating_a_device_takes_its_sighting_off_the_list(registry: Registry) -> None:
    registry.record_sightings([sighting("stray-1", T0), sighting("stray-1", T0 + 5, network="x")])

    seen = registry.sighting("stray-1")
    assert seen is not None and seen.network == "x"
    assert registry.sighting("nobody") is None
    registry.create_device(
        draft("stray-1", route_id=None, application_id="wherry-town"),
        actor="t",
        catalogue=CATALOGUE,
        origin="sighting",
    )

    assert registry.sighting("stray-1") is None
    (entry,) = registry.audit_entries(entity="device")
    assert entry.origin == "sighting"


# -- routes, one at a time ---------------------------------------------------------------------


def route_draft(route_id: str = "ring-road", **changes: object) -> RouteDraft:
    values: dict[str, object] = {
        "route_id": route_id,
        "length_km": 9.5,
        "priority": 2,
        "name": "Ring road",
        "area": "Urban",
        "policy": {"marginal_threshold_c": 1.0, "notify": ["duty@council.example"]},
        "spread_rate_g_m2": 10,
        "width_m": 7.3,
    }
    values.update(changes)
    return RouteDraft(**values)  # type: ignore[arg-type]


def test_a_route_keeps_its_policy_spread_rate_and_width(registry: Registry) -> None:
    created = registry.create_route(route_draft(), actor="ana")

    assert created == registry.route("ring-road")
    assert created.policy == {"marginal_threshold_c": 1.0, "notify": ["duty@council.example"]}
    assert (created.spread_rate_g_m2, created.width_m) == (10.0, 7.3)
    with pytest.raises(AlreadyRegistered, match="route_id 'ring-road' is already registered"):
        registry.create_route(route_draft(), actor="ana")
    registry.apply_route_import([route("ring-road", length_km=10.0)], actor="csv")
    imported = registry.route("ring-road")
    assert imported is not None and imported.length_km == 10.0
    assert imported.policy == created.policy and imported.width_m == 7.3


def test_a_bad_route_is_refused_with_every_problem(registry: Registry) -> None:
    with pytest.raises(ChangeRejected) as refused:
        registry.create_route(
            route_draft(
                "Ring Road",
                length_km=0,
                priority=0,
                policy=["not", "an", "object"],
                spread_rate_g_m2=-1,
                width_m=float("nan"),
            ),
            actor="ana",
        )

    reasons = {p.field: p.reason for p in refused.value.problems}
    assert set(reasons) == {
        "route_id",
        "length_km",
        "priority",
        "policy",
        "spread_rate_g_m2",
        "width_m",
    }
    assert "must be a JSON object" in reasons["policy"]
    assert "priority 0 must be 1 to 1000" in reasons["priority"]
    with pytest.raises(ChangeRejected, match="only JSON values"):
        registry.create_route(route_draft(policy={"limit": float("inf")}), actor="ana")
    assert registry.routes() == []


def test_a_route_update_and_delete_are_audited(registry: Registry) -> None:
    registry.create_route(route_draft(), actor="ana")

    updated = registry.update_route(
        "ring-road", {"policy": {}, "width_m": None, "priority": 1}, actor="ben"
    )
    deleted = registry.delete_route("ring-road", actor="cat")

    assert (updated.policy, updated.width_m, updated.priority) == ({}, None, 1)
    assert deleted == updated
    assert registry.route("ring-road") is None
    delete, update, _ = registry.audit_entries(entity="route")
    assert (delete.action, delete.actor, delete.after) == ("delete", "cat", None)
    assert delete.before is not None and delete.before["route_id"] == "ring-road"
    assert update.before is not None and update.before["policy"] == route_draft().policy
    with pytest.raises(NotRegistered, match="no route 'ring-road'"):
        registry.delete_route("ring-road", actor="cat")
    registry.create_route(route_draft(), actor="ana")
    with pytest.raises(ChangeRejected, match="route_id cannot be changed"):
        registry.update_route("ring-road", {"route_id": "ring"}, actor="ana")


def test_a_route_with_devices_on_it_cannot_be_deleted(registry: Registry) -> None:
    registry.apply_route_import(parse_route_csv(ROUTES_CSV).rows, actor="t")
    registry.create_device(draft(), actor="t", catalogue=CATALOGUE)
    registry.retire_device("road-01", actor="t")

    with pytest.raises(InUse, match=r"still has 1 device \(road-01\)"):
        registry.delete_route("town-centre", actor="t")

    registry.update_device("road-01", {"route_id": None}, actor="t", catalogue=CATALOGUE)
    registry.delete_route("town-centre", actor="t")
    assert [r.route_id for r in registry.routes()] == ["a14-north"]


# -- the audit log -----------------------------------------------------------------------------


def test_the_audit_log_is_filtered_by_actor_and_time(registry: Registry) -> None:
    registry.create_route(route_draft(), actor="ana")
    middle = datetime.now(UTC)
    registry.update_route("ring-road", {"priority": 1}, actor="ben")
    registry.update_route("ring-road", {"priority": 3}, actor="ana")

    assert [e.actor for e in registry.audit_entries(actor="ana")] == ["ana", "ana"]
    assert [e.actor for e in registry.audit_entries(since=middle)] == ["ana", "ben"]
    assert registry.audit_entries(since=datetime.now(UTC) + timedelta(seconds=1)) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        registry.audit_entries(since=datetime(2026, 1, 1))


def test_every_change_needs_an_actor(registry: Registry) -> None:
    with pytest.raises(ChangeRejected, match="say who is making the change"):
        registry.create_route(route_draft(), actor=" ")
    with pytest.raises(ChangeRejected, match="say who is making the change"):
        registry.create_api_key(new_key(), actor="")
    assert registry.routes() == [] and registry.api_keys() == []
