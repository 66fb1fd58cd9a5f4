"""SIGTERM mid-stream, as systemd sends it: wherry stops taking messages, stores or spools
what is in flight, exits 0, and after a restart nothing is missing or doubled."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests import servers
from tests.faults.harness import (
    Fleet,
    Publisher,
    Wherry,
    count,
    report,
    stored_uplinks,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(300)]

FLEET = Fleet(devices=100, per_device=200)  # 20,000 uplinks
STOP_WITHIN_S = 15.0


def assert_stored_exactly_once(influxd: servers.ServerProcess) -> int:
    stored = stored_uplinks(influxd)
    assert not [key for key, times in Counter(stored).items() if times > 1]
    assert set(stored) == FLEET.expected()
    assert count(influxd, "reading", "road_surface_temperature") == FLEET.size
    return len(stored)


def terminate_timed(bridge: Wherry) -> tuple[int, float]:
    started = time.monotonic()
    status = bridge.current.terminate(timeout=60)
    return status, time.monotonic() - started


def test_sigterm_mid_stream_with_the_store_up(
    bridge: Wherry, influxd: servers.ServerProcess, mosquitto_server: servers.ServerProcess
) -> None:
    first = bridge.start()
    publisher = Publisher(mosquitto_server.port, FLEET.messages()).start()
    wait_for(lambda: count(influxd) >= FLEET.size // 3, 120, "a third stored")
    status, took = terminate_timed(bridge)
    assert status == 0 and took < STOP_WITHIN_S
    stored_at_stop = count(influxd)
    handled_first = bridge.counters(first)["uplinks_accepted"]
    assert publisher.join() == FLEET.size

    second = bridge.start()
    wait_for(lambda: count(influxd) >= FLEET.size, 120, "everything stored")
    stored = assert_stored_exactly_once(influxd)
    status, _ = terminate_timed(bridge)
    assert status == 0
    handled_second = bridge.counters(second)["uplinks_accepted"]
    assert handled_first == stored_at_stop  # everything handled before the stop was written
    assert handled_first + handled_second == FLEET.size  # and acknowledged: none came back
    report(
        "SIGTERM mid-stream, store up",
        published=FLEET.size,
        seconds_to_exit=round(took, 2),
        handled_and_stored_by_first_run=handled_first,
        handled_by_second_run=handled_second,
        handled_twice=handled_first + handled_second - FLEET.size,
        stored=stored,
    )


def test_sigterm_with_the_store_down_spools_and_the_next_run_drains(
    bridge: Wherry, influxd: servers.ServerProcess, mosquitto_server: servers.ServerProcess
) -> None:
    first = bridge.start()
    influxd.kill()
    publisher = Publisher(mosquitto_server.port, FLEET.messages()).start()
    wait_for(
        lambda: bridge.gauges().get("spool_points", 0) >= FLEET.size // 2,
        120,
        "a quarter of the points spooled",
    )
    status, took = terminate_timed(bridge)
    assert status == 0 and took < STOP_WITHIN_S
    assert "neither stored nor spooled" not in first.log
    handled_first = bridge.counters(first)["uplinks_accepted"]
    spool_files = list((bridge.directory / "data" / "spool").glob("*.spool"))
    assert spool_files and sum(path.stat().st_size for path in spool_files) > 0
    assert publisher.join() == FLEET.size

    influxd.start()
    second = bridge.start()
    took_to_store = wait_for(lambda: count(influxd) >= FLEET.size, 120, "everything stored")
    wait_for(lambda: bridge.gauges()["spool_points"] == 0, 30, "the spool drained")
    stored = assert_stored_exactly_once(influxd)
    status, _ = terminate_timed(bridge)
    assert status == 0
    handled_second = bridge.counters(second)["uplinks_accepted"]
    assert "spool drained" in second.log
    assert not list((bridge.directory / "data" / "spool").glob("*.spool"))
    assert handled_first + handled_second == FLEET.size
    report(
        "SIGTERM mid-stream, store down",
        published=FLEET.size,
        seconds_to_exit=round(took, 2),
        spooled_by_first_run=handled_first,
        handled_by_second_run=handled_second,
        handled_twice=handled_first + handled_second - FLEET.size,
        stored=stored,
        seconds_to_all_stored=round(took_to_store, 1),
    )
