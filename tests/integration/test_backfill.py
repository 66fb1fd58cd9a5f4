"""`wherry run` backfills from a Storage Integration: paging, a stream cut short, a restart
that resumes from the saved cursor, and a refused key. A local HTTP server serves the
documented format; the store is real SQLite, the process is the real `wherry run`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway_bridge.sources.cursors import FILE_NAME, format_rfc3339_ns
from storage import open_store
from tests.ingest_support import ROAD_DEVICES, register_fleet, road_uplink, wait_until
from tests.servers import free_port
from tests.ttn_storage_server import RunningStorage, storage_server
from tests.wherry_process import WherryRun

pytestmark = pytest.mark.integration

APP = "council-roads"
KEY = "NNSXS.BACKFILLTEST.K3Y0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
SECOND_NS = 1_000_000_000
OVERLAP_NS = 300 * SECOND_NS


@pytest.fixture
def storage() -> Iterator[RunningStorage]:
    with storage_server(KEY) as running:
        yield running


def add_uplinks(storage: RunningStorage, first: int, count: int, start_ns: int) -> None:
    for f_cnt in range(first, first + count):
        device_id = ROAD_DEVICES[f_cnt % len(ROAD_DEVICES)]
        at = received_at(start_ns, f_cnt)
        storage.state.add(APP, at, road_uplink(device_id, at, f_cnt, APP))


def received_at(start_ns: int, f_cnt: int) -> int:
    return start_ns + f_cnt * 2 * SECOND_NS + f_cnt  # nanoseconds that must survive


def environment(tmp_path: Path, storage: RunningStorage, key: str = KEY) -> dict[str, str]:
    return {
        "WHERRY_DATA_DIR": str(tmp_path / "data"),
        "WHERRY_API_PORT": str(free_port()),
        "WHERRY_TTN_STORAGE_URL": storage.url,
        "WHERRY_TTN_API_KEY": key,
        "WHERRY_TTN_APPLICATIONS": APP,
        "WHERRY_FLUSH_INTERVAL": "0.2",
    }


def test_start_up_backfill_pages_survives_a_cut_stream_and_resumes_after_a_restart(
    tmp_path: Path, storage: RunningStorage
) -> None:
    env = environment(tmp_path, storage)
    register_fleet(tmp_path, env, ROAD_DEVICES)
    start_ns = time.time_ns() - 3 * 3600 * SECOND_NS
    add_uplinks(storage, 0, 2500, start_ns)
    storage.state.cut_after = 700  # the first answer stops part-way

    store = open_store(f"sqlite:///{tmp_path / 'data' / 'readings.db'}")
    run = WherryRun(env, tmp_path / "first.log")
    try:
        wait_until(lambda: store.count("uplink", "f_cnt") >= 2500, 90, "2500 uplinks stored")
        run.wait_for_log("uplinks in", 30)  # the run after the cut has finished
    finally:
        assert run.terminate() == 0, run.log
    assert store.count("uplink", "f_cnt") == 2500
    assert store.count("reading", "road_surface_temperature") == 2500
    assert "the answer was cut short" in run.log and "retrying in" in run.log
    newest = received_at(start_ns, 2499)
    [first_point] = store.query("uplink", tags={"device_id": ROAD_DEVICES[0]}, limit=1)
    assert first_point.time_ns == start_ns  # f_cnt 0: exact nanoseconds
    requests = storage.state.requests
    assert all(r.limit == 1000 and r.order == "received_at" for r in requests)
    # Cut after 700; the retry resumes 5 minutes before the 700th (a page of 1000), then
    # pages on from a microsecond before the newest it has seen.
    assert [r.after for r in requests] == [
        requests[0].after,
        format_rfc3339_ns(received_at(start_ns, 699) - OVERLAP_NS),
        format_rfc3339_ns(received_at(start_ns, 1549) - 1_000),
    ]
    cursor = json.loads((tmp_path / "data" / FILE_NAME).read_text())
    assert cursor["applications"][APP]["received_at"] == format_rfc3339_ns(newest)

    # While wherry was stopped, 40 more uplinks were stored by The Things Stack.
    add_uplinks(storage, 2500, 40, start_ns)
    already = len(requests)
    run = WherryRun(env, tmp_path / "second.log")
    try:
        wait_until(lambda: store.count("uplink", "f_cnt") >= 2540, 60, "2540 uplinks stored")
        run.wait_for_log("uplinks in", 30)
    finally:
        assert run.terminate() == 0, run.log
        store.close()
    resumed = storage.state.requests[already]
    assert resumed.after == format_rfc3339_ns(newest - OVERLAP_NS)  # from the cursor, not 24 h
    assert KEY not in run.log


def test_a_refused_key_is_reported_and_wherry_keeps_running(
    tmp_path: Path, storage: RunningStorage
) -> None:
    add_uplinks(storage, 0, 5, time.time_ns() - 3600 * SECOND_NS)
    wrong = "NNSXS.WRONGKEY.THISISNOTTHEKEY0123456789"
    env = environment(tmp_path, storage, key=wrong)
    run = WherryRun(env, tmp_path / "wherry.log")
    try:
        run.wait_for_log(f"backfill of {APP} refused", 30)
        assert run.alive()
    finally:
        assert run.terminate() == 0, run.log
    assert "the API key was not accepted (401)" in run.log
    assert "WHERRY_TTN_API_KEY" in run.log
    assert wrong not in run.log and "THISISNOTTHEKEY" not in run.log
    assert len(storage.state.requests) == 1  # not retried: a refusal will not change by itself
