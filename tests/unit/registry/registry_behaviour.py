"""Registry behaviour every database must show, run once per backend.

Not collected on its own: `test_registry_sqlite.py` and
`tests/integration/test_registry_postgres.py` import these tests and provide the
`registry_url` fixture (an empty database of their kind for each test).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.registry import (
    DEVICE_COLUMNS,
    MAX_DEAD_LETTER_BODY,
    DeadLetter,
    DeviceRow,
    ImportRejected,
    Registry,
    RouteRow,
    SchemaNotCurrent,
    Sighting,
    parse_device_csv,
    parse_route_csv,
)
from storage.registry.engine import registry_engine
from storage.registry.models import Base
from storage.registry.schema import alembic_config

DECODERS = {"ttn", "cayenne-lpp", "decentlab-dl-ds18"}
QUANTITIES = {"road_surface_temperature", "air_temperature", "battery_voltage", "pm2_5"}
ROUTES_CSV = (
    "route_id,name,length_km,priority,area\n"
    "town-centre,Town centre loop,12.5,1,Urban\n"
    "a14-north,A14 northbound,8,2,\n"
)
DEVICES_HEADER = ",".join(DEVICE_COLUMNS)
T0 = 1_768_446_765_123_456_789  # 2026-01-15T03:12:45.123456789Z


@pytest.fixture
def registry(registry_url: str) -> Iterator[Registry]:
    opened = Registry(registry_url)
    opened.migrate()
    yield opened
    opened.close()


@pytest.fixture
def raw(registry_url: str) -> Iterator[sa.Engine]:
    """A plain engine on the same database, for what the public API cannot do."""
    engine = registry_engine(registry_url)
    yield engine
    engine.dispose()


def route(route_id: str = "town-centre", **changes: object) -> RouteRow:
    values: dict[str, object] = {
        "route_id": route_id,
        "name": "Town centre loop",
        "length_km": 12.5,
        "priority": 1,
        "area": "Urban",
    }
    values.update(changes)
    return RouteRow(**values)  # type: ignore[arg-type]


def device(device_id: str = "road-01", **changes: object) -> DeviceRow:
    values: dict[str, object] = {
        "device_id": device_id,
        "dev_eui": hashlib.sha256(device_id.encode()).hexdigest()[:16],
        "name": "Bridge St",
        "decoder": "decentlab-dl-ds18",
        "domain": "road",
        "route_id": "town-centre",
        "latitude": 52.2053,
        "longitude": 0.1218,
        "public": True,
        "owner": "County Council",
        "field_map": {"temperature": "road_surface_temperature"},
    }
    values.update(changes)
    return DeviceRow(**values)  # type: ignore[arg-type]


def with_routes(registry: Registry) -> Registry:
    registry.apply_route_import(parse_route_csv(ROUTES_CSV).rows, actor="test")
    return registry


def sighting(device_id: str, seen_at_ns: int, payload: bytes = b"\x01", **kw: object) -> Sighting:
    values: dict[str, object] = {
        "network": "ttn",
        "device_id": device_id,
        "application_id": "wherry-town",
        "dev_eui": None,
        "seen_at_ns": seen_at_ns,
        "f_port": 1,
        "payload": payload,
    }
    values.update(kw)
    return Sighting(**values)  # type: ignore[arg-type]


def run_together(work: Callable[[int], object], workers: int) -> list[BaseException]:
    """Run `work(0..workers-1)` on threads released at one moment; return what they raised.

    A worker still running after a minute counts as a failure (a deadlock, not a slow test).
    """
    start = threading.Barrier(workers)
    failures: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            start.wait()
            work(worker)
        except BaseException as problem:  # reported by the test, on its own thread
            failures.append(problem)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    stuck = sum(thread.is_alive() for thread in threads)
    if stuck:
        failures.append(TimeoutError(f"{stuck} of {workers} workers still running after 60 s"))
    return failures


# -- schema ------------------------------------------------------------------------------------


def test_a_new_database_has_no_revision_and_refuses_use_until_migrated(registry_url: str) -> None:
    fresh = Registry(registry_url)
    try:
        assert fresh.current_revision() is None
        with pytest.raises(SchemaNotCurrent, match="run `wherry migrate`"):
            fresh.devices()
        with pytest.raises(SchemaNotCurrent):
            fresh.record_sightings([sighting("x-1", T0)])
    finally:
        fresh.close()


def test_migrate_brings_an_empty_database_to_head_matching_the_models(
    registry_url: str, raw: sa.Engine
) -> None:
    fresh = Registry(registry_url)
    fresh.migrate()

    assert fresh.current_revision() == Registry.head_revision()
    with raw.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        tables = set(sa.inspect(connection).get_table_names())
    assert differences == []
    assert {"devices", "routes", "sightings", "dead_letters", "audit_log"} <= tables
    assert fresh.devices() == []
    fresh.close()


def test_migrating_twice_is_harmless_and_keeps_the_data(registry: Registry) -> None:
    with_routes(registry).apply_device_import([device()], actor="test")

    registry.migrate()
    registry.migrate()

    assert registry.current_revision() == Registry.head_revision()
    assert [d.device_id for d in registry.devices()] == ["road-01"]


def test_downgrading_to_empty_and_upgrading_again_works(registry: Registry, raw: sa.Engine) -> None:
    with raw.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert registry.current_revision() is None

    registry.migrate()

    assert registry.current_revision() == Registry.head_revision()
    assert registry.routes() == []


def test_a_database_from_a_newer_wherry_is_refused(
    registry_url: str, registry: Registry, raw: sa.Engine
) -> None:
    with raw.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff9999'"))

    later = Registry(registry_url)
    try:
        with pytest.raises(SchemaNotCurrent, match="newer wherry"):
            later.devices()
        with pytest.raises(SchemaNotCurrent, match="ffff9999"):
            later.migrate()
    finally:
        later.close()


# -- devices and routes ------------------------------------------------------------------------


def test_imported_routes_and_devices_read_back_as_given(registry: Registry) -> None:
    assert registry.apply_route_import(parse_route_csv(ROUTES_CSV).rows, actor="test") == 2
    parsed = parse_device_csv(
        f"{DEVICES_HEADER}\n"
        "road-01,70B3D57ED005A12F,Bridge St,decentlab-dl-ds18,road,town-centre,52.2053,0.1218,"
        "yes,County Council,temperature=road_surface_temperature;battery=battery_voltage\n"
        "school-aq,0011223344556677,,ttn,air,,,,,,\n",
        known_decoders=DECODERS,
        known_quantities=QUANTITIES,
        known_routes={r.route_id for r in registry.routes()},
    )
    assert parsed.errors == []

    assert registry.apply_device_import(parsed.rows, actor="engineer@council") == 2

    road, school = registry.devices()
    assert road.device_id == "road-01"
    assert road.dev_eui == "70b3d57ed005a12f"
    assert (road.name, road.decoder, road.domain, road.route_id) == (
        "Bridge St",
        "decentlab-dl-ds18",
        "road",
        "town-centre",
    )
    assert (road.latitude, road.longitude, road.public, road.owner) == (
        52.2053,
        0.1218,
        True,
        "County Council",
    )
    assert road.field_map == {
        "temperature": "road_surface_temperature",
        "battery": "battery_voltage",
    }
    assert (road.site, road.application_id, road.status, road.notes) == (
        None,
        None,
        "active",
        None,
    )
    assert (school.name, school.route_id, school.latitude, school.public) == (
        None,
        None,
        None,
        False,
    )
    assert registry.device("road-01") == road
    town = registry.route("town-centre")
    assert town is not None
    assert (town.name, town.length_km, town.priority, town.area) == (
        "Town centre loop",
        12.5,
        1,
        "Urban",
    )
    assert [r.route_id for r in registry.routes()] == ["a14-north", "town-centre"]


def test_device_by_eui_ignores_case_and_separators(registry: Registry) -> None:
    with_routes(registry).apply_device_import([device(dev_eui="70b3d57ed005a12f")], actor="test")

    for spelling in ("70B3D57ED005A12F", "70b3d57ed005a12f", "70:B3:D5:7E:D0:05:A1:2F"):
        found = registry.device_by_eui(spelling)
        assert found is not None and found.device_id == "road-01"
    assert registry.device_by_eui("70b3d57ed005a120") is None
    assert registry.device_by_eui("not an eui") is None


def test_unknown_ids_give_none(registry: Registry) -> None:
    assert registry.device("nobody") is None
    assert registry.route("nowhere") is None
    assert registry.device("") is None


def test_reimporting_updates_in_place_and_keeps_what_the_csv_does_not_carry(
    registry: Registry, raw: sa.Engine
) -> None:
    with_routes(registry).apply_device_import([device()], actor="test")
    with raw.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE devices SET site = 'bridge', notes = 'under the bridge', "
                "application_id = 'wherry-town', status = 'retired'"
            )
        )

    registry.apply_device_import(
        [device(name="Bridge Street", route_id="a14-north", public=False, field_map={})],
        actor="test",
    )

    updated = registry.device("road-01")
    assert updated is not None
    assert (updated.name, updated.route_id, updated.public, updated.field_map) == (
        "Bridge Street",
        "a14-north",
        False,
        {},
    )
    assert (updated.site, updated.notes, updated.application_id, updated.status) == (
        "bridge",
        "under the bridge",
        "wherry-town",
        "retired",
    )
    registry.apply_route_import([route(length_km=13.0, priority=3)], actor="test")
    town = registry.route("town-centre")
    assert town is not None and (town.length_km, town.priority) == (13.0, 3)


def test_an_import_is_all_or_nothing(registry: Registry) -> None:
    with_routes(registry).apply_device_import(
        [device("old-sensor", dev_eui="70b3d57ed005a12f")], actor="test"
    )
    rows = [
        device("road-02", line=2),
        device("road-03", dev_eui="70b3d57ed005a12f", line=3),
        device("road-04", line=4),
    ]

    with pytest.raises(ImportRejected) as refused:
        registry.apply_device_import(rows, actor="test")

    (error,) = refused.value.errors
    assert (error.line, error.device_id) == (3, "road-03")
    assert "dev_eui 70b3d57ed005a12f is already registered to device 'old-sensor'" in error.reason
    assert "line 3 (road-03)" in str(refused.value)
    assert [d.device_id for d in registry.devices()] == ["old-sensor"]
    assert [e.entity_id for e in registry.audit_entries(entity="device")] == ["old-sensor"]


def test_an_import_refers_only_to_existing_routes(registry: Registry) -> None:
    with_routes(registry)

    with pytest.raises(ImportRejected, match="route_id 'a14-south' is not a registered route"):
        registry.apply_device_import(
            [device("road-01"), device("road-02", route_id="a14-south")], actor="test"
        )

    assert registry.devices() == []


def test_rows_that_break_rules_are_refused_without_the_csv_parser(registry: Registry) -> None:
    with_routes(registry)
    rows = [
        device("Road-01"),
        device("road-02", dev_eui="70B3D57ED005A12F"),
        device("road-03", domain="sky"),
        device("road-04", latitude=95.0),
        device("road-05", longitude=None),
        device("road-06"),
        device("road-06", dev_eui="0000000000000006"),
        device("road-07", dev_eui=device("road-06").dev_eui),
    ]

    with pytest.raises(ImportRejected) as refused:
        registry.apply_device_import(rows, actor="test")

    reasons = [error.reason for error in refused.value.errors]
    assert len(reasons) == 7
    assert "must be lower case" in reasons[0]
    assert "16 lower-case hex digits" in reasons[1]
    assert "domain 'sky'" in reasons[2]
    assert "latitude 95.0 is out of range" in reasons[3]
    assert "give both or neither" in reasons[4]
    assert "device_id 'road-06' is in the import twice" in reasons[5]
    assert "is also given to 'road-06'" in reasons[6]
    with pytest.raises(ImportRejected, match="priority 0 must be 1 to 1000"):
        registry.apply_route_import([route("ring-road", priority=0)], actor="test")
    with pytest.raises(ImportRejected, match="length_km nan"):
        registry.apply_route_import([route("ring-road", length_km=float("nan"))], actor="test")
    assert registry.devices() == []
    assert registry.route("ring-road") is None


def test_the_database_refuses_two_devices_with_one_dev_eui(
    registry: Registry, raw: sa.Engine
) -> None:
    with_routes(registry).apply_device_import([device(dev_eui="70b3d57ed005a12f")], actor="t")
    now = datetime.now(UTC)

    with pytest.raises(sa.exc.IntegrityError), raw.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO devices (device_id, dev_eui, decoder, domain, public, field_map, "
                "status, created_at, updated_at) VALUES ('sneaky', '70b3d57ed005a12f', 'ttn', "
                "'air', false, '{}', 'active', :now, :now)"
            ),
            {"now": now},
        )


def test_a_device_may_not_point_at_a_route_that_does_not_exist(
    registry: Registry, raw: sa.Engine
) -> None:
    with_routes(registry).apply_device_import([device()], actor="t")

    with pytest.raises(sa.exc.IntegrityError), raw.begin() as connection:
        connection.execute(sa.text("UPDATE devices SET route_id = 'nowhere'"))


def test_a_route_in_use_cannot_be_deleted_from_under_its_devices(
    registry: Registry, raw: sa.Engine
) -> None:
    with_routes(registry).apply_device_import([device()], actor="t")

    with pytest.raises(sa.exc.IntegrityError), raw.begin() as connection:
        connection.execute(sa.text("DELETE FROM routes WHERE route_id = 'town-centre'"))


def test_imports_are_audited_with_who_and_before_and_after(registry: Registry) -> None:
    with_routes(registry)
    before = datetime.now(UTC)
    registry.apply_device_import([device(), device("road-02")], actor="ana@council")
    registry.apply_device_import([device(), device("road-02")], actor="ana@council")  # no change
    registry.apply_device_import([device(name="Bridge Street")], actor="ben@council")

    entries = registry.audit_entries(entity="device")

    assert [(e.entity_id, e.action, e.actor) for e in entries] == [
        ("road-01", "update", "ben@council"),
        ("road-02", "create", "ana@council"),
        ("road-01", "create", "ana@council"),
    ]
    update = entries[0]
    assert update.before is not None and update.after is not None
    assert (update.before["name"], update.after["name"]) == ("Bridge St", "Bridge Street")
    assert update.after["field_map"] == {"temperature": "road_surface_temperature"}
    assert update.origin == "csv-import"
    assert update.at >= before and update.at.tzinfo is not None
    created = entries[-1]
    assert created.before is None and created.after is not None
    assert [e.entity_id for e in registry.audit_entries(entity="route")] == [
        "a14-north",
        "town-centre",
    ]
    assert len(registry.audit_entries(entity_id="road-01")) == 2
    assert len(registry.audit_entries(limit=1)) == 1


def test_an_import_needs_an_actor(registry: Registry) -> None:
    with pytest.raises(ImportRejected, match="say who is making the change"):
        registry.apply_route_import([route()], actor="  ")
    assert registry.routes() == []


def test_five_hundred_devices_with_seven_bad_rows_then_fixed_all_register(
    registry: Registry,
) -> None:
    with_routes(registry)
    cells = [
        [f"road-{n:03d}", f"{n:016x}", f"Sensor {n}", "decentlab-dl-ds18", "road",
         "town-centre", "52.2", "0.12", "yes", "council", "temperature=road_surface_temperature"]
        for n in range(500)
    ]  # fmt: skip
    good = [list(row) for row in cells]
    for index, column, value in [
        (3, 1, "xyz"),
        (50, 3, "ds18"),
        (120, 4, "roads"),
        (250, 6, "99"),
        (300, 10, "temperature=temp"),
        (420, 0, "Road-420"),
        (499, 5, "a14-south"),
    ]:
        cells[index][column] = value

    def parse(rows: list[list[str]]) -> tuple[list[DeviceRow], list[int]]:
        text = "\n".join([DEVICES_HEADER, *(",".join(row) for row in rows)])
        result = parse_device_csv(
            text,
            known_decoders=DECODERS,
            known_quantities=QUANTITIES,
            known_routes={r.route_id for r in registry.routes()},
        )
        return result.rows, [error.line for error in result.errors]

    _, bad_lines = parse(cells)
    fixed_rows, none = parse(good)

    assert bad_lines == [5, 52, 122, 252, 302, 422, 501]
    assert none == []
    assert registry.apply_device_import(fixed_rows, actor="test") == 500
    assert len(registry.devices()) == 500


# -- unregistered sightings --------------------------------------------------------------------


def test_sightings_count_uplinks_and_keep_the_latest(registry: Registry) -> None:
    registry.record_sightings([sighting("stray-1", T0, b"\x01", f_port=1)])
    registry.record_sightings(
        [
            sighting(
                "stray-1", T0 + 60_000_000_000, b"\x02\x03", f_port=2, dev_eui="A1B2C3D4E5F60718"
            )
        ]
    )

    (seen,) = registry.sightings()

    assert (seen.network, seen.device_id, seen.application_id) == ("ttn", "stray-1", "wherry-town")
    assert seen.count == 2
    assert seen.dev_eui == "a1b2c3d4e5f60718"
    assert (seen.f_port, seen.payload) == (2, b"\x02\x03")
    assert seen.first_seen == datetime(2026, 1, 15, 3, 12, 45, 123456, tzinfo=UTC)
    assert seen.last_seen == datetime(2026, 1, 15, 3, 13, 45, 123456, tzinfo=UTC)


def test_a_batch_naming_one_device_many_times_counts_every_uplink(registry: Registry) -> None:
    batch = [sighting("stray-1", T0 + n, bytes([n % 256])) for n in range(300)]
    batch += [sighting("stray-1", T0, network="chirpstack")]

    registry.record_sightings(batch)
    registry.record_sightings(batch[:10])

    by_network = {s.network: s for s in registry.sightings()}
    assert by_network["ttn"].count == 310
    assert by_network["ttn"].payload == bytes([299 % 256])
    assert by_network["chirpstack"].count == 1


def test_an_out_of_order_uplink_counts_but_does_not_replace_the_latest(
    registry: Registry,
) -> None:
    registry.record_sightings([sighting("stray-1", T0, b"new", f_port=5)])
    registry.record_sightings(
        [sighting("stray-1", T0 - 3_600_000_000_000, b"old", f_port=9, application_id=None)]
    )

    (seen,) = registry.sightings()
    assert seen.count == 2
    assert (seen.payload, seen.f_port, seen.application_id) == (b"new", 5, "wherry-town")
    assert seen.first_seen < seen.last_seen


def test_sightings_keep_up_with_hundreds_per_second(registry: Registry) -> None:
    started = time.monotonic()
    for batch in range(50):
        registry.record_sightings(
            [sighting(f"stray-{n % 97}", T0 + batch * 1000 + n) for n in range(300)]
        )
    elapsed = time.monotonic() - started

    seen = registry.sightings()
    assert sum(s.count for s in seen) == 15_000
    assert len(seen) == 97
    assert elapsed < 20, f"15,000 sightings took {elapsed:.1f} s"


def test_concurrent_writers_lose_no_sighting(registry: Registry) -> None:
    def write(worker: int) -> None:
        for call in range(25):
            registry.record_sightings(
                [sighting(f"stray-{(n * 7 + worker) % 20}", T0 + call) for n in range(40)]
            )

    assert run_together(write, 4) == []
    assert sum(s.count for s in registry.sightings()) == 4 * 25 * 40


def test_registering_a_device_takes_it_off_the_unregistered_list(registry: Registry) -> None:
    registry.record_sightings(
        [
            sighting("stray-1", T0),
            sighting("by-eui", T0, dev_eui="70B3D57ED005A12F"),
            sighting("still-unknown", T0),
        ]
    )

    with_routes(registry).apply_device_import(
        [device("stray-1"), device("road-02", dev_eui="70b3d57ed005a12f")], actor="test"
    )

    assert [s.device_id for s in registry.sightings()] == ["still-unknown"]


def test_hostile_text_in_sightings_and_dead_letters_is_stored_safely(registry: Registry) -> None:
    nasty = "a\x00b\udcff" + "x" * 5000

    registry.record_sightings(
        [sighting(nasty, T0, network="ttn" * 20, application_id=nasty, dev_eui=nasty)]
    )
    registry.record_dead_letters(
        [DeadLetter(T0, topic=nasty, reason=nasty, detail=nasty, body=b"\x00\xff")]
    )

    (seen,) = registry.sightings()
    (letter,) = registry.dead_letters()
    assert seen.device_id.startswith("a\\x00b\\udcff")
    assert letter.topic.startswith("a\\x00b")
    assert len(letter.reason) <= 64
    assert letter.body == b"\x00\xff"
    assert registry.dead_letter_counts() == {letter.reason: 1}


# -- dead letters ------------------------------------------------------------------------------


def test_a_ten_megabyte_dead_letter_keeps_64_kib_and_the_whole_digest(registry: Registry) -> None:
    huge = bytes(range(256)) * (10 * 1024 * 1024 // 256)
    small = b'{"end_device_ids": '

    registry.record_dead_letters(
        [
            DeadLetter(T0, "v3/app@ttn/devices/x/up", "oversize", "10485760 bytes", huge),
            DeadLetter(T0 + 1, "v3/app@ttn/devices/x/up", "malformed_json", "line 1", small),
        ]
    )

    truncated, whole = registry.dead_letters(limit=10)[::-1]
    assert len(truncated.body) == MAX_DEAD_LETTER_BODY == 65536
    assert truncated.body == huge[:65536]
    assert truncated.body_size == len(huge)
    assert truncated.body_sha256 == hashlib.sha256(huge).hexdigest()
    assert truncated.truncated is True
    assert (truncated.reason, truncated.detail) == ("oversize", "10485760 bytes")
    assert (whole.body, whole.body_size, whole.truncated) == (small, len(small), False)
    assert whole.arrived_at == datetime(2026, 1, 15, 3, 12, 45, 123456, tzinfo=UTC)


def test_dead_letters_are_listed_newest_first_and_by_reason(registry: Registry) -> None:
    reasons = ["malformed_json", "invalid_base64", "decode_failed"]
    registry.record_dead_letters(
        [DeadLetter(T0 + n, f"t/{n}", reasons[n % 3], f"#{n}", b"{") for n in range(30)]
    )

    newest = registry.dead_letters(limit=5)
    decode_failures = registry.dead_letters(reason="decode_failed")

    assert [letter.detail for letter in newest] == ["#29", "#28", "#27", "#26", "#25"]
    assert len(decode_failures) == 10
    assert {letter.reason for letter in decode_failures} == {"decode_failed"}
    assert decode_failures[0].detail == "#29"
    assert registry.dead_letters(reason="no-such-reason") == []


def test_dead_letters_are_counted_per_reason(registry: Registry) -> None:
    assert registry.dead_letter_counts() == {}
    registry.record_dead_letters([DeadLetter(T0, "t", "malformed_json", "", b"")] * 3)
    registry.record_dead_letters([DeadLetter(T0, "t", "oversize", "", b"")])
    registry.record_dead_letters([])

    assert registry.dead_letter_counts() == {"malformed_json": 3, "oversize": 1}


def test_dead_letter_limit_must_be_positive(registry: Registry) -> None:
    with pytest.raises(ValueError, match="limit must be 1 or more"):
        registry.dead_letters(limit=0)
