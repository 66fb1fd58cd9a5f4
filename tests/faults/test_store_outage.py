"""InfluxDB killed with SIGKILL in the middle of 50,000 uplinks and started again a minute
later: wherry spools while it is away, drains when it is back, and every uplink is stored
exactly once."""

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

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(400)]

DOWNTIME_S = 60.0
FLEET = Fleet(devices=100, per_device=500)  # 50,000 uplinks, 100,000 points


def test_influxd_killed_mid_stream_and_back_a_minute_later_loses_and_doubles_nothing(
    bridge: Wherry, influxd: servers.ServerProcess, mosquitto_server: servers.ServerProcess
) -> None:
    run = bridge.start()
    publisher = Publisher(mosquitto_server.port, FLEET.messages()).start()

    wait_for(lambda: count(influxd) >= FLEET.size // 4, 120, "a quarter stored")
    stored_before = count(influxd)
    influxd.kill()  # kill -9, mid-stream
    killed_at = time.monotonic()
    assert publisher.join() == FLEET.size

    # While InfluxDB is away every uplink is acknowledged into the spool.
    def all_handed_off() -> bool:
        gauges = bridge.gauges()
        return (
            gauges.get("uplinks_accepted_total", 0) >= FLEET.size
            and gauges.get("points_waiting", 1) == 0
        )

    wait_for(all_handed_off, DOWNTIME_S, "every uplink written or spooled")
    readiness = bridge.readyz()
    assert readiness.status_code == 503  # the store is down: not ready for reads
    assert readiness.json()["checks"]["spool"] == "ok"  # but still taking uplinks
    assert readiness.json()["spool"]["points"] > 0
    time.sleep(max(0.0, DOWNTIME_S - (time.monotonic() - killed_at)))
    spooled = bridge.gauges()
    assert run.alive()

    influxd.start()  # same port, same data directory
    drained_in = wait_for(lambda: count(influxd) >= FLEET.size, 120, "everything stored")
    wait_for(lambda: bridge.gauges()["spool_points"] == 0, 30, "the spool drained")

    stored = stored_uplinks(influxd)
    repeats = [key for key, times in Counter(stored).items() if times > 1]
    assert not repeats
    assert set(stored) == FLEET.expected()
    assert len(stored) == FLEET.size
    assert count(influxd, "reading", "road_surface_temperature") == FLEET.size
    assert bridge.readyz().status_code == 200

    assert run.terminate() == 0
    counters = bridge.counters(run)
    report(
        "influxd kill -9 for 60 s",
        published=FLEET.size,
        stored_before_kill=stored_before,
        spool_points_at_restart=int(spooled["spool_points"]),
        spool_bytes_at_restart=int(spooled["spool_bytes"]),
        spool_oldest_age_s=round(spooled["spool_oldest_age_seconds"]),
        stored_after=len(stored),
        distinct=len(set(stored)),
        uplinks_accepted=counters["uplinks_accepted"],
        points_written=counters["points_written"],
        seconds_to_all_stored_after_restart=round(drained_in, 1),
    )
