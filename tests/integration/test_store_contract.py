"""The readings-store contract: every test runs against SQLite and against a real InfluxDB.

What one store accepts the other accepts, what one refuses the other refuses, and a
point reads back exactly as it was written, whichever store holds it.
"""

from __future__ import annotations

import itertools
import logging
import math
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import (
    InfluxStore,
    InvalidPoint,
    Point,
    ReadingStore,
    SQLiteStore,
    StoreRejected,
    StoreUnavailable,
    open_store,
)
from storage.line_protocol import MAX_TIME_NS, MIN_TIME_NS
from storage.readings import AGGREGATE_FUNCTIONS, AggregateFunction
from tests import servers

T0 = 1_768_446_765_123_456_789  # 2026-01-15T03:12:45.123456789Z
SECOND = 1_000_000_000

ROAD_TAGS = {"device_id": "rst-01", "application_id": "town", "domain": "road", "route": "A1"}


def drop_database(port: int, name: str) -> None:
    httpx.post(f"http://127.0.0.1:{port}/query", data={"q": f'DROP DATABASE "{name}"'}, timeout=10)


@pytest.fixture(
    params=["sqlite", pytest.param("influxdb", marks=pytest.mark.integration)],
)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReadingStore]:
    if request.param == "sqlite":
        sqlite_store = SQLiteStore(tmp_path_factory.mktemp("sqlite") / "readings.db")
        yield sqlite_store
        sqlite_store.close()
        return
    server: servers.ServerProcess = request.getfixturevalue("influxd_server")
    database = f"contract_{uuid.uuid4().hex}"
    influx_store = InfluxStore(f"http://127.0.0.1:{server.port}", database)
    yield influx_store
    influx_store.close()
    drop_database(server.port, database)


def reading(
    time_ns: int, tags: dict[str, str] | None = None, **fields: float | int | str | bool
) -> Point:
    return Point("reading", dict(ROAD_TAGS if tags is None else tags), fields, time_ns)


# -- round trip -------------------------------------------------------------------------------


def test_a_point_reads_back_exactly_with_every_field_type(store: ReadingStore) -> None:
    point = Point(
        "reading",
        ROAD_TAGS,
        {
            "road_surface_temperature": -1.25,
            "air_temperature": 21.0,  # a whole float stays a float
            "tiny": 5e-324,
            "huge": 1.7976931348623157e308,
            "f_cnt": 42,
            "negative": -7,
            "int_max": 2**63 - 1,
            "int_min": -(2**63),
            "wet": True,
            "dry": False,
            "note": "probe re-seated",
            "numeric_text": "123",
            "empty_text": "",
        },
        T0,
    )
    store.write([point])

    [back] = store.query("reading")

    assert back == point
    for name, value in point.fields.items():
        assert type(back.fields[name]) is type(value), name


def test_nanosecond_timestamps_are_kept_exactly(store: ReadingStore) -> None:
    times = [T0, T0 + 1, -1_000_000_001, 0, MIN_TIME_NS, MAX_TIME_NS]
    store.write([reading(time_ns, road_surface_temperature=0.5) for time_ns in times])

    assert [point.time_ns for point in store.query("reading")] == sorted(times)


def test_tags_with_empty_values_are_dropped_like_influxdb_does(store: ReadingStore) -> None:
    store.write([reading(T0, {"device_id": "rst-01", "route": ""}, road_surface_temperature=1.0)])

    [back] = store.query("reading")

    assert back.tags == {"device_id": "rst-01"}


# -- idempotence and merging ------------------------------------------------------------------


def test_writing_the_same_points_twice_stores_them_once(store: ReadingStore) -> None:
    points = [reading(T0 + i * SECOND, road_surface_temperature=i / 10) for i in range(100)]

    store.write(points)
    store.write(points)

    assert store.count("reading", "road_surface_temperature") == 100
    assert store.query("reading") == points


def test_a_later_write_of_the_same_point_replaces_it_field_by_field(store: ReadingStore) -> None:
    store.write([reading(T0, road_surface_temperature=1.5, battery_voltage=3.61)])
    store.write([reading(T0, air_temperature=4.0)])
    store.write([reading(T0, road_surface_temperature=-0.5)])

    [back] = store.query("reading")

    assert back.fields == {
        "road_surface_temperature": -0.5,
        "battery_voltage": 3.61,
        "air_temperature": 4.0,
    }


def test_the_same_point_twice_in_one_write_keeps_the_later_values(store: ReadingStore) -> None:
    store.write(
        [
            reading(T0, road_surface_temperature=1.0, battery_voltage=3.6),
            reading(T0, road_surface_temperature=2.0),
        ]
    )

    [back] = store.query("reading")

    assert back.fields == {"road_surface_temperature": 2.0, "battery_voltage": 3.6}


def test_a_different_tag_set_is_a_different_point(store: ReadingStore) -> None:
    store.write([reading(T0, road_surface_temperature=1.0)])
    store.write([reading(T0, {**ROAD_TAGS, "site": "bridge"}, road_surface_temperature=2.0)])

    assert store.count("reading", "road_surface_temperature") == 2


# -- filters ----------------------------------------------------------------------------------


def test_time_range_is_start_inclusive_end_exclusive(store: ReadingStore) -> None:
    store.write([reading(T0 + i, road_surface_temperature=float(i)) for i in range(10)])

    points = store.query("reading", start_ns=T0 + 3, end_ns=T0 + 7)

    assert [point.time_ns for point in points] == [T0 + 3, T0 + 4, T0 + 5, T0 + 6]
    assert [p.time_ns for p in store.query("reading", start_ns=T0 + 8)] == [T0 + 8, T0 + 9]
    assert [p.time_ns for p in store.query("reading", end_ns=T0 + 2)] == [T0, T0 + 1]
    assert store.query("reading", start_ns=T0 + 5, end_ns=T0 + 5) == []


def test_tag_filters_match_exact_values_only(store: ReadingStore) -> None:
    store.write(
        [
            reading(T0, {"device_id": "rst-01", "route": "A1"}, road_surface_temperature=1.0),
            reading(T0, {"device_id": "rst-02", "route": "A1"}, road_surface_temperature=2.0),
            reading(T0, {"device_id": "rst-010", "route": "A1"}, road_surface_temperature=3.0),
            reading(T0 + 1, {"device_id": "rst-03", "route": "B2"}, road_surface_temperature=4.0),
            reading(T0 + 2, {"device_id": "RST-01"}, road_surface_temperature=5.0),
        ]
    )

    def values(**tags: str) -> list[float | int | str | bool]:
        return [p.fields["road_surface_temperature"] for p in store.query("reading", tags=tags)]

    assert values(device_id="rst-01") == [1.0]
    assert sorted(values(route="A1")) == [1.0, 2.0, 3.0]
    assert values(route="A1", device_id="rst-02") == [2.0]
    assert values(route="B2", device_id="rst-02") == []
    assert values(device_id="nobody") == []
    assert values(site="anywhere") == []
    assert values(route="") == [5.0]  # an empty value means "has no such tag", as in InfluxQL
    assert values(device_id="rst-01' OR '1'='1") == []
    assert values(device_id='rst-01" OR "1"="1') == []
    assert values(**{"device_id\" = 'rst-01' OR \"route": "A1"}) == []
    assert values(device_id="rst-01\r") == []
    assert values(device_id="rst-01\x00") == []


def test_query_returns_oldest_first_across_series_and_honours_limit(store: ReadingStore) -> None:
    points = [
        reading(
            T0 + (i * 7919) % 50 * SECOND, {"device_id": f"rst-{i % 5}"}, road_surface_temperature=i
        )
        for i in range(50)
    ]
    store.write(points)

    everything = store.query("reading")
    first_three = store.query("reading", limit=3)

    assert [p.time_ns for p in everything] == sorted(p.time_ns for p in points)
    assert first_three == everything[:3]
    assert store.query("reading", limit=0) == []
    assert len(store.query("reading", tags={"device_id": "rst-2"}, limit=4)) == 4


def test_measurements_are_kept_apart(store: ReadingStore) -> None:
    store.write(
        [
            reading(T0, road_surface_temperature=1.0),
            Point(
                "uplink", {"device_id": "rst-01", "gateway": "gw-1"}, {"rssi": -97, "snr": 7.5}, T0
            ),
        ]
    )

    assert [p.measurement for p in store.query("uplink")] == ["uplink"]
    assert store.query("uplink")[0].fields == {"rssi": -97, "snr": 7.5}
    assert store.query("nothing_here") == []
    assert store.query('reading" WHERE 1=1 --') == []
    assert store.query("reading\r") == []
    assert store.count("reading", "rssi") == 0


def test_count_counts_points_carrying_the_field(store: ReadingStore) -> None:
    store.write([reading(T0 + i, road_surface_temperature=1.0) for i in range(5)])
    store.write([reading(T0 + 10 + i, battery_voltage=3.6) for i in range(3)])
    store.write(
        [reading(T0 + i, {"device_id": "rst-02"}, road_surface_temperature=2.0) for i in range(4)]
    )

    assert store.count("reading", "road_surface_temperature") == 9
    assert store.count("reading", "battery_voltage") == 3
    assert store.count("reading", "road_surface_temperature", tags={"device_id": "rst-02"}) == 4
    assert store.count("reading", "road_surface_temperature", tags={"device_id": "none"}) == 0
    assert store.count("reading", "no_such_field") == 0
    assert store.count("no_such_measurement", "road_surface_temperature") == 0


# -- metacharacters and injection -------------------------------------------------------------

AWKWARD_TEXT = [
    "a,b",
    "a=b",
    "a b",
    " leading and trailing ",
    'say "hi"',
    "C:\\temp\\probe",
    "back\\\\slashes",
    "it's",
    "'; DROP TABLE series; --",
    '" OR 1=1 --',
    "x' OR '1'='1",
    "ünïcödé ☃ 𝄞 日本語",
    "tab\there",
    "#not-a-comment",
    "$share/wherry/#",
]


@pytest.mark.parametrize("value", AWKWARD_TEXT)
def test_awkward_tag_values_round_trip_and_filter_exactly(store: ReadingStore, value: str) -> None:
    store.write(
        [
            reading(T0, {"device_id": value, "site": value}, road_surface_temperature=1.0),
            reading(T0, {"device_id": "plain", "site": "plain"}, road_surface_temperature=2.0),
        ]
    )

    found = store.query("reading", tags={"device_id": value})

    assert [p.tags for p in found] == [{"device_id": value, "site": value}]
    assert store.count("reading", "road_surface_temperature", tags={"site": value}) == 1
    assert store.count("reading", "road_surface_temperature") == 2


@pytest.mark.parametrize("name", ["my measurement", "m,x", "m=x", 'm"q', "m'q", "mésure", "m\\x"])
def test_awkward_measurement_tag_and_field_names_round_trip(store: ReadingStore, name: str) -> None:
    point = Point(name, {name: "v", "device_id": "rst-01"}, {f"{name}_field": 1.5}, T0)
    store.write([point])

    assert store.query(name) == [point]
    assert store.query(name, tags={name: "v"}) == [point]
    assert store.count(name, f"{name}_field", tags={name: "v"}) == 1


STRING_FIELDS = [
    *AWKWARD_TEXT,
    "carriage\rreturn",
    "nul\x00byte",
    "line one\nline two",
    "ends with a backslash \\",
    "\\",
    '"',
    "\\n is not a newline",
    'evil" 1\nevil,t=x f=1 1',
    "x" * 70_000,
]


def test_awkward_string_fields_round_trip(store: ReadingStore) -> None:
    points = [reading(T0 + i, note=text) for i, text in enumerate(STRING_FIELDS)]
    store.write(points)

    assert [p.fields["note"] for p in store.query("reading")] == STRING_FIELDS
    assert store.query("evil") == []


UNCARRIABLE = {
    "newline in a tag value": reading(T0, {"device_id": "x\nevil,t=x f=1 1"}, v=1.0),
    "trailing backslash in a tag value": reading(T0, {"device_id": "rst\\"}, v=1.0),
    "backslash before a comma": reading(T0, {"device_id": "a\\,b"}, v=1.0),
    "carriage return in a tag value": reading(T0, {"device_id": "a\rb"}, v=1.0),
    "NUL in a tag value": reading(T0, {"device_id": "a\x00b"}, v=1.0),
    "newline in a measurement": Point("m\nevil", {}, {"v": 1.0}, T0),
    "newline in a field key": Point("reading", ROAD_TAGS, {"v\nevil f=1": 1.0}, T0),
    "newline in a tag key": reading(T0, {"k\nx": "v"}, v=1.0),
    "comment measurement": Point("#reading", {}, {"v": 1.0}, T0),
    "empty measurement": Point("", {}, {"v": 1.0}, T0),
    "time as a field": reading(T0, time=1.0),
    "time as a tag": reading(T0, {"time": "now"}, v=1.0),
    "no fields": reading(T0),
    "tag and field of one name": reading(T0, {"device_id": "rst-01"}, device_id="rst-01"),
    "NaN": reading(T0, v=math.nan),
    "infinity": reading(T0, v=math.inf),
    "minus infinity": reading(T0, v=-math.inf),
    "integer too big": reading(T0, v=2**63),
    "time too late": reading(MAX_TIME_NS + 1, v=1.0),
    "time too early": reading(MIN_TIME_NS - 1, v=1.0),
    "lone surrogate": reading(T0, note="\ud800"),
    "tag value not text": Point("reading", {"device_id": 7}, {"v": 1.0}, T0),  # type: ignore[dict-item]
    "field value of no type": Point("reading", {}, {"v": None}, T0),  # type: ignore[dict-item]
    "time as float": Point("reading", {}, {"v": 1.0}, 1.5e18),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("case", list(UNCARRIABLE))
def test_points_no_store_can_carry_are_refused_whole_batch_before_anything_is_written(
    store: ReadingStore, case: str
) -> None:
    good = reading(T0 - 1, road_surface_temperature=1.0)

    with pytest.raises(InvalidPoint) as refused:
        store.write([good, UNCARRIABLE[case]])

    assert isinstance(refused.value, StoreRejected)
    assert refused.value.point is UNCARRIABLE[case]
    assert store.count("reading", "road_surface_temperature") == 0
    assert store.query("evil") == []
    store.write([good])  # and the store carries on
    assert store.query("reading") == [good]


EXAMPLE_TIMES = itertools.count(T0 + 10**15)
NAME = st.text(alphabet=st.sampled_from(list("ab,= \"'\\\n\r\t\x00#é☃𝄞")), max_size=5)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_names_and_text_round_trip_or_are_refused(
    store: ReadingStore, data: st.DataObject
) -> None:
    measurement, key, value, field = (data.draw(NAME) for _ in range(4))
    text = data.draw(st.text(max_size=20))
    time_ns = next(EXAMPLE_TIMES)  # examples share the store: each gets its own instant
    point = Point(measurement, {key: value}, {field: text}, time_ns)
    try:
        store.write([point])
    except InvalidPoint:
        return
    stored_tags = {key: value} if value else {}

    found = store.query(measurement, tags={key: value}, start_ns=time_ns, end_ns=time_ns + 1)

    assert [(p.tags, p.fields[field]) for p in found] == [(stored_tags, text)]


def test_a_field_keeps_its_type(store: ReadingStore) -> None:
    store.write([reading(T0, f_cnt=1)])

    with pytest.raises(StoreRejected, match="f_cnt"):
        store.write([reading(T0 + 1, f_cnt=2.5)])

    assert [p.fields for p in store.query("reading")] == [{"f_cnt": 1}]


# -- selecting fields -------------------------------------------------------------------------


def test_query_by_fields_returns_points_carrying_them_with_only_those_fields(
    store: ReadingStore,
) -> None:
    store.write(
        [
            reading(T0, road_surface_temperature=1.0, battery_voltage=3.6),
            reading(T0 + SECOND, battery_voltage=3.5),
            reading(T0 + 2 * SECOND, road_surface_temperature=2.0, air_temperature=4.0),
            reading(T0 + 3 * SECOND, air_temperature=5.0),
        ]
    )

    found = store.query("reading", fields=["road_surface_temperature"])
    both = store.query("reading", fields={"road_surface_temperature", "air_temperature"}, limit=2)

    assert [(p.time_ns, p.fields) for p in found] == [
        (T0, {"road_surface_temperature": 1.0}),
        (T0 + 2 * SECOND, {"road_surface_temperature": 2.0}),
    ]
    assert [p.fields for p in both] == [
        {"road_surface_temperature": 1.0},
        {"road_surface_temperature": 2.0, "air_temperature": 4.0},
    ]
    assert store.query("reading", fields=["no_such_field"]) == []
    assert store.query("reading", fields=[]) == []
    assert store.query("reading", fields=["bad\rname", "air_temperature"], limit=1)[0].fields == {
        "air_temperature": 4.0
    }


# -- latest -----------------------------------------------------------------------------------


def test_latest_is_the_newest_whole_point_not_the_last_value_of_each_field(
    store: ReadingStore,
) -> None:
    a, b = {"device_id": "rst-01"}, {"device_id": "rst-02"}
    store.write(
        [
            reading(T0, a, road_surface_temperature=1.0, battery_voltage=3.61, f_cnt=1),
            reading(T0 + SECOND, a, road_surface_temperature=2.0),
            reading(T0, b, air_temperature=4.0),
            reading(T0 + 5 * SECOND, b, battery_voltage=3.3),
            reading(T0 + 5 * SECOND, b, relative_humidity=81.0),  # merges into the same point
        ]
    )

    latest = store.latest("reading")

    assert latest == {
        "rst-01": reading(T0 + SECOND, a, road_surface_temperature=2.0),
        "rst-02": reading(T0 + 5 * SECOND, b, battery_voltage=3.3, relative_humidity=81.0),
    }


def test_latest_keeps_field_types(store: ReadingStore) -> None:
    store.write([reading(T0, air_temperature=21.0, f_cnt=7, wet=True, note="ok")])

    [point] = store.latest("reading").values()

    assert point.fields == {"air_temperature": 21.0, "f_cnt": 7, "wet": True, "note": "ok"}
    assert type(point.fields["air_temperature"]) is float
    assert type(point.fields["f_cnt"]) is int


def test_latest_picks_the_newest_series_of_a_device_and_breaks_ties_by_tags(
    store: ReadingStore,
) -> None:
    store.write(
        [
            reading(T0 + 9, {"device_id": "rst-01", "site": "old"}, road_surface_temperature=1.0),
            reading(T0 + 10, {"device_id": "rst-01", "site": "new"}, road_surface_temperature=2.0),
            reading(T0, {"device_id": "rst-02", "site": "b"}, road_surface_temperature=3.0),
            reading(T0, {"device_id": "rst-02", "site": "a"}, road_surface_temperature=4.0),
            reading(T0 + 99, {"site": "no-device"}, road_surface_temperature=5.0),
        ]
    )

    latest = store.latest("reading")

    assert {device: p.fields["road_surface_temperature"] for device, p in latest.items()} == {
        "rst-01": 2.0,
        "rst-02": 4.0,
    }
    assert latest["rst-01"].tags == {"device_id": "rst-01", "site": "new"}


def test_latest_filters_by_tags_and_groups_by_any_tag(store: ReadingStore) -> None:
    store.write(
        [
            reading(T0, {"device_id": "rst-01", "route": "A1"}, road_surface_temperature=1.0),
            reading(T0 + 1, {"device_id": "rst-02", "route": "A1"}, road_surface_temperature=2.0),
            reading(T0 + 2, {"device_id": "rst-03", "route": "B2"}, road_surface_temperature=3.0),
            reading(T0 + 3, {"device_id": "aq-01", "domain": "air"}, pm2_5=8.0),
        ]
    )

    on_a1 = store.latest("reading", tags={"route": "A1"})
    by_route = store.latest("reading", group_by="route")

    assert sorted(on_a1) == ["rst-01", "rst-02"]
    assert {route: p.tags["device_id"] for route, p in by_route.items()} == {
        "A1": "rst-02",
        "B2": "rst-03",
    }
    assert store.latest("reading", tags={"route": "C3"}) == {}
    assert store.latest("reading", tags={"route": ""}).keys() == {"aq-01"}
    assert store.latest("nothing_here") == {}
    assert store.latest("reading", tags={"device_id": "x' OR '1'='1"}) == {}
    assert store.latest("reading", group_by="no_such_tag") == {}


@pytest.mark.parametrize("value", AWKWARD_TEXT)
def test_latest_groups_awkward_tag_values_exactly(store: ReadingStore, value: str) -> None:
    store.write(
        [
            reading(T0, {"device_id": value}, road_surface_temperature=1.0),
            reading(T0 + 1, {"device_id": "plain"}, road_surface_temperature=2.0),
        ]
    )

    assert store.latest("reading", tags={"device_id": value}) == {
        value: reading(T0, {"device_id": value}, road_surface_temperature=1.0)
    }


@pytest.mark.parametrize("silent", [0, 1, 4, 7])
def test_latest_finds_recent_and_long_silent_devices_alike(
    store: ReadingStore, silent: int
) -> None:
    now = time.time_ns()
    day = 86_400 * SECOND
    devices = [f"dev-{n}" for n in range(8)]
    points = []
    for n, device in enumerate(devices):
        newest = now - 400 * day - n * SECOND if n < silent else now - n * 60 * SECOND
        points += [
            reading(newest - 600 * SECOND, {"device_id": device}, v=0.0, old=True),
            reading(newest, {"device_id": device, "site": "new"}, v=float(n)),
        ]
    points.append(reading(now + 3600 * SECOND, {"device_id": "ahead"}, v=9.0))  # clock ahead
    store.write(points)

    latest = store.latest("reading")

    assert {device: p.fields for device, p in latest.items()} == {
        **{device: {"v": float(n)} for n, device in enumerate(devices)},
        "ahead": {"v": 9.0},
    }
    assert {p.tags.get("site") for d, p in latest.items() if d != "ahead"} == {"new"}
    assert store.latest("reading", tags={"device_id": "dev-0"})["dev-0"].fields == {"v": 0.0}
    assert store.latest("reading", tags={"site": "new"}).keys() == set(devices)


# -- aggregate --------------------------------------------------------------------------------

MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
# An epoch-aligned 15-minute boundary, so the expected windows below are easy to read.
W0 = T0 - T0 % (15 * MINUTE)


def test_aggregate_windows_are_aligned_to_the_epoch_and_empty_ones_are_omitted(
    store: ReadingStore,
) -> None:
    store.write(
        [
            reading(W0 + 2 * MINUTE, road_surface_temperature=1.0),
            reading(W0 + 7 * MINUTE, road_surface_temperature=2.0),
            reading(W0 + 14 * MINUTE, road_surface_temperature=6.0),
            reading(W0 + 15 * MINUTE, road_surface_temperature=-1.0),  # next window
            reading(W0 + 61 * MINUTE, road_surface_temperature=4.0),  # after two empty ones
        ]
    )

    def windows(
        function: AggregateFunction, start: int, end: int
    ) -> list[tuple[int, float | int | None]]:
        return store.aggregate(
            "reading",
            "road_surface_temperature",
            function=function,
            window_ns=15 * MINUTE,
            start_ns=start,
            end_ns=end,
        )

    assert windows("mean", W0, W0 + 2 * HOUR) == [
        (W0, 3.0),
        (W0 + 15 * MINUTE, -1.0),
        (W0 + 60 * MINUTE, 4.0),
    ]
    # A start inside a window: the window keeps its aligned start, and only later points.
    assert windows("mean", W0 + 5 * MINUTE, W0 + 61 * MINUTE) == [
        (W0, 4.0),
        (W0 + 15 * MINUTE, -1.0),
    ]
    assert windows("min", W0, W0 + 2 * HOUR) == [
        (W0, 1.0),
        (W0 + 15 * MINUTE, -1.0),
        (W0 + 60 * MINUTE, 4.0),
    ]
    assert windows("max", W0, W0 + 2 * HOUR)[0] == (W0, 6.0)
    assert windows("count", W0, W0 + 2 * HOUR) == [
        (W0, 3),
        (W0 + 15 * MINUTE, 1),
        (W0 + 60 * MINUTE, 1),
    ]
    assert windows("count", W0 + 20 * MINUTE, W0 + 60 * MINUTE) == []
    assert windows("mean", W0 + HOUR, W0) == []


def test_aggregate_types_mean_is_float_count_is_int_min_max_keep_the_field_type(
    store: ReadingStore,
) -> None:
    store.write([reading(W0 + i * MINUTE, f_cnt=i, air_temperature=float(i)) for i in range(4)])

    def one(field: str, function: AggregateFunction) -> float | int | None:
        [(_, value)] = store.aggregate(
            "reading",
            field,
            function=function,
            window_ns=HOUR,
            start_ns=W0,
            end_ns=W0 + HOUR,
        )
        return value

    results = {
        (field, function): one(field, function)
        for field in ("f_cnt", "air_temperature")
        for function in AGGREGATE_FUNCTIONS
    }

    assert results == {
        ("f_cnt", "mean"): 1.5,
        ("f_cnt", "min"): 0,
        ("f_cnt", "max"): 3,
        ("f_cnt", "count"): 4,
        ("air_temperature", "mean"): 1.5,
        ("air_temperature", "min"): 0.0,
        ("air_temperature", "max"): 3.0,
        ("air_temperature", "count"): 4,
    }
    assert [type(value).__name__ for value in results.values()] == [
        "float", "int", "int", "int", "float", "float", "float", "int"
    ]  # fmt: skip


def test_aggregate_counts_only_points_carrying_the_field(store: ReadingStore) -> None:
    store.write(
        [
            reading(W0, road_surface_temperature=1.0, battery_voltage=3.6),
            reading(W0 + MINUTE, battery_voltage=3.6),
            reading(W0 + 2 * MINUTE, battery_voltage=3.5),
            reading(W0 + 3 * MINUTE, road_surface_temperature=2.0),
        ]
    )

    def count(field: str) -> list[tuple[int, float | int | None]]:
        return store.aggregate(
            "reading", field, function="count", window_ns=HOUR, start_ns=W0, end_ns=W0 + HOUR
        )

    assert count("road_surface_temperature") == [(W0, 2)]
    assert count("battery_voltage") == [(W0, 3)]
    assert count("no_such_field") == []


def test_aggregate_filters_by_tags_and_otherwise_spans_series(store: ReadingStore) -> None:
    store.write(
        [
            reading(W0, {"device_id": "rst-01", "route": "A1"}, road_surface_temperature=1.0),
            reading(W0 + 1, {"device_id": "rst-02", "route": "A1"}, road_surface_temperature=3.0),
            reading(W0 + 2, {"device_id": "rst-03", "route": "B2"}, road_surface_temperature=8.0),
        ]
    )

    def mean(tags: dict[str, str] | None) -> list[tuple[int, float | int | None]]:
        return store.aggregate(
            "reading",
            "road_surface_temperature",
            function="mean",
            window_ns=HOUR,
            start_ns=W0,
            end_ns=W0 + HOUR,
            tags=tags,
        )

    assert mean(None) == [(W0, 4.0)]
    assert mean({"route": "A1"}) == [(W0, 2.0)]
    assert mean({"device_id": "rst-03"}) == [(W0, 8.0)]
    assert mean({"device_id": "nobody"}) == []
    assert mean({"device_id": "rst-01' OR '1'='1"}) == []


def test_aggregate_floors_windows_before_the_epoch(store: ReadingStore) -> None:
    store.write([reading(t, road_surface_temperature=float(t)) for t in (-4000, -1000, 0, 2999)])

    found = store.aggregate(
        "reading",
        "road_surface_temperature",
        function="count",
        window_ns=3000,
        start_ns=-5000,
        end_ns=5000,
    )

    assert found == [(-6000, 1), (-3000, 1), (0, 2)]


def test_aggregate_refuses_what_it_cannot_compute(store: ReadingStore) -> None:
    store.write([reading(W0, note="probe re-seated", wet=True)])

    def run(field: str, function: str, window_ns: int = HOUR) -> object:
        return store.aggregate(
            "reading",
            field,
            function=function,  # type: ignore[arg-type]  # "median" too
            window_ns=window_ns,
            start_ns=W0,
            end_ns=W0 + HOUR,
        )

    with pytest.raises(StoreRejected, match="only count"):
        run("note", "mean")
    with pytest.raises(StoreRejected, match="only count"):
        run("wet", "max")
    assert run("note", "count") == [(W0, 1)]
    with pytest.raises(ValueError, match="function"):
        run("note", "median")
    with pytest.raises(ValueError, match="window_ns"):
        run("note", "count", window_ns=0)


def test_aggregate_fields_answers_what_one_aggregate_per_field_does(store: ReadingStore) -> None:
    store.write(
        [
            reading(W0 + 1 * MINUTE, road_surface_temperature=1.0, battery_voltage=3.6),
            reading(W0 + 2 * MINUTE, road_surface_temperature=2.0),
            reading(W0 + 20 * MINUTE, battery_voltage=3.5, f_cnt=7),
            reading(W0 + 50 * MINUTE, air_temperature=-1.0, note="probe re-seated"),
        ]
    )
    numeric = ["road_surface_temperature", "battery_voltage", "f_cnt", "air_temperature"]

    def each(
        fields: list[str], function: AggregateFunction, start: int = W0
    ) -> dict[str, list[tuple[int, float | int | None]]]:
        one_by_one = {
            field: store.aggregate(
                "reading",
                field,
                function=function,
                window_ns=15 * MINUTE,
                start_ns=start,
                end_ns=W0 + HOUR,
            )
            for field in fields
        }
        return {field: windows for field, windows in one_by_one.items() if windows}

    def together(
        fields: list[str], function: AggregateFunction, start: int = W0
    ) -> dict[str, list[tuple[int, float | int | None]]]:
        return store.aggregate_fields(
            "reading",
            fields,
            function=function,
            window_ns=15 * MINUTE,
            start_ns=start,
            end_ns=W0 + HOUR,
        )

    for function in AGGREGATE_FUNCTIONS:
        found = together([*numeric, "no_such_field"], function)
        expected = each(numeric, function)
        assert found == expected
        assert repr(sorted(found.items())) == repr(sorted(expected.items()))  # 7 is not 7.0 here
    assert together(numeric, "mean") == {
        "air_temperature": [(W0 + 45 * MINUTE, -1.0)],
        "battery_voltage": [(W0, 3.6), (W0 + 15 * MINUTE, 3.5)],
        "f_cnt": [(W0 + 15 * MINUTE, 7.0)],
        "road_surface_temperature": [(W0, 1.5)],
    }
    assert together(numeric, "count", start=W0 + 15 * MINUTE) == {
        "air_temperature": [(W0 + 45 * MINUTE, 1)],
        "battery_voltage": [(W0 + 15 * MINUTE, 1)],
        "f_cnt": [(W0 + 15 * MINUTE, 1)],
    }
    assert together([], "mean") == {}
    assert together(["note", "air_temperature"], "count") == {
        "air_temperature": [(W0 + 45 * MINUTE, 1)],
        "note": [(W0 + 45 * MINUTE, 1)],
    }
    with pytest.raises(StoreRejected, match="only count"):
        together(["air_temperature", "note"], "mean")
    with pytest.raises(TypeError, match="not one string"):
        together("air_temperature", "mean")  # type: ignore[arg-type]  # a str is a Collection


POINT_TIMES = st.integers(min_value=-3 * HOUR, max_value=3 * HOUR)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_aggregate_agrees_with_a_plain_python_reference(
    store: ReadingStore, data: st.DataObject
) -> None:
    measurement = f"agg_{uuid.uuid4().hex[:12]}"  # examples share the store
    times = data.draw(st.lists(POINT_TIMES, min_size=1, max_size=40, unique=True))
    values = [data.draw(st.integers(-500, 500)) / 4 for _ in times]
    devices = [data.draw(st.sampled_from(["a1", "b2"])) for _ in times]
    window = data.draw(st.sampled_from([SECOND, 7 * SECOND, MINUTE, 15 * MINUTE, HOUR]))
    start = data.draw(POINT_TIMES)
    end = start + data.draw(st.integers(1, 4 * HOUR))
    function: AggregateFunction = data.draw(st.sampled_from(AGGREGATE_FUNCTIONS))
    store.write(
        [
            Point(measurement, {"device_id": device}, {"v": value}, time_ns)
            for time_ns, value, device in zip(times, values, devices, strict=True)
        ]
    )

    groups: dict[int, list[float]] = {}
    for time_ns, value in zip(times, values, strict=True):
        if start <= time_ns < end:
            groups.setdefault(time_ns - time_ns % window, []).append(value)
    reducers: dict[str, Callable[[list[float]], float]] = {
        "mean": lambda v: sum(v) / len(v),
        "min": min,
        "max": max,
        "count": len,
    }
    expected = [(w, reducers[function](v)) for w, v in sorted(groups.items())]

    found = store.aggregate(
        measurement, "v", function=function, window_ns=window, start_ns=start, end_ns=end
    )

    assert [window for window, _ in found] == [window for window, _ in expected]
    assert [value for _, value in found] == pytest.approx([value for _, value in expected])


# -- field names ------------------------------------------------------------------------------


def test_field_names_lists_the_fields_matching_points_carry(store: ReadingStore) -> None:
    store.write(
        [
            reading(T0, {"device_id": "rst-01"}, road_surface_temperature=1.0),
            reading(T0 + 10, {"device_id": "rst-01"}, battery_voltage=3.6),
            reading(T0, {"device_id": "aq-01"}, pm2_5=4.0, note="x"),
        ]
    )

    assert store.field_names("reading") == [
        "battery_voltage", "note", "pm2_5", "road_surface_temperature"
    ]  # fmt: skip
    assert store.field_names("reading", tags={"device_id": "rst-01"}) == [
        "battery_voltage",
        "road_surface_temperature",
    ]
    assert store.field_names("reading", tags={"device_id": "rst-01"}, end_ns=T0 + 10) == [
        "road_surface_temperature"
    ]
    assert store.field_names("reading", tags={"device_id": "nobody"}) == []
    assert store.field_names("nothing_here") == []


# -- volume -----------------------------------------------------------------------------------


def test_ten_thousand_points_in_one_write(store: ReadingStore) -> None:
    points = [
        Point(
            "reading",
            {"device_id": f"rst-{i % 100:03d}", "application_id": "town", "domain": "road"},
            {
                "road_surface_temperature": round(-5 + i * 0.001, 3),
                "f_cnt": i,
                "battery_voltage": 3.6,
            },
            T0 + i * SECOND,
        )
        for i in range(10_000)
    ]

    started = time.perf_counter()
    store.write(points)
    elapsed = time.perf_counter() - started

    assert store.count("reading", "f_cnt") == 10_000
    assert store.query("reading") == points
    assert len(store.query("reading", tags={"device_id": "rst-042"})) == 100
    print(f"{type(store).__name__}: 10,000 points written in {elapsed:.2f}s")


def test_ping_and_close(store: ReadingStore) -> None:
    assert store.ping() is True

    store.close()

    assert store.ping() is False
    with pytest.raises(StoreUnavailable):
        store.write([reading(T0, road_surface_temperature=1.0)])


# -- InfluxDB only: the server going away and coming back -------------------------------------


@pytest.mark.integration
def test_influx_store_reports_unavailable_when_nothing_listens() -> None:
    port = servers.free_port()  # nothing listens here
    store = InfluxStore(f"http://127.0.0.1:{port}", "wherry", timeout=2)

    assert store.ping() is False
    with pytest.raises(StoreUnavailable, match="cannot reach"):
        store.write([reading(T0, road_surface_temperature=1.0)])
    with pytest.raises(StoreUnavailable):
        store.query("reading")
    store.close()


@pytest.mark.integration
@pytest.mark.faults
def test_influx_store_recovers_when_influxd_comes_back(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = servers.influxd(tmp_path_factory.mktemp("influxd-restart"))
    try:
        store = InfluxStore(f"http://127.0.0.1:{server.port}", "wherry", timeout=3)
        store.write([reading(T0, road_surface_temperature=1.0)])

        server.kill()
        assert store.ping() is False
        with pytest.raises(StoreUnavailable):
            store.write([reading(T0 + 1, road_surface_temperature=2.0)])

        server.start()
        store.write([reading(T0 + 1, road_surface_temperature=2.0)])
        assert [p.fields["road_surface_temperature"] for p in store.query("reading")] == [1.0, 2.0]
        store.close()
    finally:
        server.stop()


@pytest.mark.integration
def test_influx_store_creates_a_database_dropped_under_it(
    influxd_server: servers.ServerProcess,
) -> None:
    database = f"contract_{uuid.uuid4().hex}"
    store = InfluxStore(f"http://127.0.0.1:{influxd_server.port}", database)
    store.write([reading(T0, road_surface_temperature=1.0)])

    drop_database(influxd_server.port, database)
    store.write([reading(T0 + 1, road_surface_temperature=2.0)])

    assert store.count("reading", "road_surface_temperature") == 1
    store.close()
    drop_database(influxd_server.port, database)


@pytest.mark.integration
def test_influx_store_without_database_creation_says_the_database_is_missing(
    influxd_server: servers.ServerProcess,
) -> None:
    store = InfluxStore(
        f"http://127.0.0.1:{influxd_server.port}",
        f"missing_{uuid.uuid4().hex}",
        create_database=False,
    )

    with pytest.raises(StoreRejected, match="database not found"):
        store.write([reading(T0, road_surface_temperature=1.0)])
    store.close()


@pytest.mark.integration
def test_influx_store_writes_without_gzip_too(influxd_server: servers.ServerProcess) -> None:
    database = f"contract_{uuid.uuid4().hex}"
    store = InfluxStore(
        f"http://127.0.0.1:{influxd_server.port}", database, gzip=False, max_batch_points=7
    )
    points = [reading(T0 + i, road_surface_temperature=float(i)) for i in range(50)]

    store.write(points)

    assert store.query("reading") == points
    store.close()
    drop_database(influxd_server.port, database)


# -- InfluxDB only: TLS and credentials, against an influxd with https and auth on ---------

ADMIN, ADMIN_PASSWORD = "admin", "adm1n pass:word@"
SENSOR, SENSOR_PASSWORD = "sensor", "s3nsor"


def _secured_influxd(directory: Path) -> tuple[servers.ServerProcess, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(certificate), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = servers.influxd(
        directory,
        name="influxd-secured",
        ping=False,
        http_settings=f"""  auth-enabled = true
  https-enabled = true
  https-certificate = "{certificate}"
  https-private-key = "{key}"
""",
    )
    base = f"https://127.0.0.1:{server.port}"
    admin = httpx.Client(base_url=base, verify=ssl.create_default_context(cafile=str(certificate)))
    deadline = time.monotonic() + 20
    while True:  # the first user may be created without credentials, and must be an admin
        try:
            answer = admin.post(
                "/query",
                data={
                    "q": f"CREATE USER {ADMIN} WITH PASSWORD '{ADMIN_PASSWORD}' WITH ALL PRIVILEGES"
                },
            )
            if answer.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"secured influxd did not start: {server.log_path.read_text()}")
        time.sleep(0.1)
    admin.auth = httpx.BasicAuth(ADMIN, ADMIN_PASSWORD)
    for statement in (
        'CREATE DATABASE "granted"',
        f"CREATE USER {SENSOR} WITH PASSWORD '{SENSOR_PASSWORD}'",
        f'GRANT ALL ON "granted" TO {SENSOR}',
    ):
        admin.post("/query", data={"q": statement}).raise_for_status()
    admin.close()
    return server, certificate


@pytest.fixture(scope="module")
def secured_influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    server, certificate = _secured_influxd(tmp_path_factory.mktemp("influxd-secured"))
    yield server.port, certificate
    server.stop()


@pytest.mark.integration
def test_influx_store_over_tls_with_basic_auth(secured_influxd: tuple[int, Path]) -> None:
    port, certificate = secured_influxd
    password = quote(ADMIN_PASSWORD, safe="")
    store = open_store(
        f"influxdbs://{ADMIN}:{password}@127.0.0.1:{port}/over_tls?ca_file={certificate}"
    )
    point = reading(T0, road_surface_temperature=-2.5)

    store.write([point])

    assert store.query("reading") == [point]
    store.close()


@pytest.mark.integration
def test_influx_store_says_check_credentials_on_a_wrong_password(
    secured_influxd: tuple[int, Path],
) -> None:
    port, certificate = secured_influxd
    store = open_store(
        f"influxdbs://{ADMIN}:wrong@127.0.0.1:{port}/granted", ca_file=str(certificate)
    )

    with pytest.raises(StoreRejected, match="check the user and password"):
        store.write([reading(T0, road_surface_temperature=1.0)])
    with pytest.raises(StoreRejected, match="check the user and password"):
        store.query("reading")
    store.close()


@pytest.mark.integration
def test_influx_store_carries_on_when_it_may_not_create_the_database(
    secured_influxd: tuple[int, Path], caplog: pytest.LogCaptureFixture
) -> None:
    port, certificate = secured_influxd
    with caplog.at_level(logging.WARNING, logger="storage.influx"):
        store = open_store(
            f"influxdbs://{SENSOR}:{SENSOR_PASSWORD}@127.0.0.1:{port}/granted?ca_file={certificate}"
        )
    point = reading(T0, road_surface_temperature=0.5)

    store.write([point])

    assert "could not create InfluxDB database 'granted'" in caplog.text
    assert store.query("reading") == [point]
    store.close()


@pytest.mark.integration
def test_influx_store_refuses_an_unverified_certificate_and_says_how_to_fix_it(
    secured_influxd: tuple[int, Path],
) -> None:
    port, _ = secured_influxd
    store = open_store(f"influxdbs://{ADMIN}:x@127.0.0.1:{port}/granted", timeout=5)

    with pytest.raises(StoreUnavailable, match="ca_file"):
        store.write([reading(T0, road_surface_temperature=1.0)])
    with pytest.raises(StoreUnavailable, match="ca_file"):
        store.query("reading")
    store.close()


@pytest.mark.integration
def test_influx_store_with_verification_off_works_and_warns(
    secured_influxd: tuple[int, Path], caplog: pytest.LogCaptureFixture
) -> None:
    port, _ = secured_influxd
    password = quote(ADMIN_PASSWORD, safe="")
    with caplog.at_level(logging.WARNING, logger="storage.influx"):
        store = open_store(
            f"influxdbs://{ADMIN}:{password}@127.0.0.1:{port}/unverified?verify=false"
        )

    store.write([reading(T0, road_surface_temperature=1.0)])

    assert "verification is OFF" in caplog.text
    assert store.count("reading", "road_surface_temperature") == 1
    store.close()
