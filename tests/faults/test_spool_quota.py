"""The spool's quota reached while InfluxDB is away: the warning and the full alarm fire,
wherry stops acknowledging (the broker keeps the messages), stays up, and once the store
is back every uplink is stored exactly once."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from storage.registry import Registry
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

FLEET = Fleet(devices=100, per_device=150)  # 15,000 uplinks, 30,000 points
QUOTA_MB = "0.1"  # ~105 KB: about 10,000 compressed points
BUFFER_POINTS = 2000  # what may wait in memory once the spool is full
HELD_FOR_S = 5.0

SETTINGS = {
    "spool_quota_mb": QUOTA_MB,
    "batch_size": "500",
    "buffer_points": str(BUFFER_POINTS),
}


def test_a_full_spool_alarms_holds_messages_with_the_broker_and_loses_nothing(
    bridge: Wherry, influxd: servers.ServerProcess, mosquitto_server: servers.ServerProcess
) -> None:
    run = bridge.start()
    influxd.kill()
    publisher = Publisher(mosquitto_server.port, FLEET.messages()).start()
    assert publisher.join() == FLEET.size

    wait_for(lambda: bridge.gauges().get("spool_level") == 2, 60, "the spool fills up")
    run.wait_for_log("spool is full")
    assert "spool is 8" in run.log or "spool is 9" in run.log  # the 80 % warning came first
    wait_for(lambda: spool_alert(bridge) == ("critical", "raised"), 30, "the spool alert")
    readiness = bridge.readyz()
    assert readiness.status_code == 503
    assert readiness.json()["checks"]["spool"].startswith("full")
    assert readiness.json()["spool"]["level"] == "full"

    time.sleep(HELD_FOR_S)  # held: the process stays up, memory does not grow without bound
    assert run.alive()
    held = bridge.gauges()
    assert held["spool_level"] == 2
    assert held["spool_bytes"] <= held["spool_quota_bytes"]
    assert held["points_waiting"] <= BUFFER_POINTS + 500  # memory is bounded: backpressure
    assert held["uplinks_accepted_total"] < FLEET.size  # the broker keeps the rest

    influxd.start()
    took = wait_for(lambda: count(influxd) >= FLEET.size, 120, "everything stored")
    wait_for(lambda: bridge.gauges()["spool_points"] == 0, 30, "the spool drained")
    stored = stored_uplinks(influxd)
    assert not [key for key, times in Counter(stored).items() if times > 1]
    assert set(stored) == FLEET.expected()
    assert count(influxd, "reading", "road_surface_temperature") == FLEET.size
    assert bridge.readyz().status_code == 200
    run.wait_for_log("spool is back under 80 %")
    wait_for(lambda: spool_alert(bridge) is None, 30, "the spool alert cleared")
    assert run.terminate() == 0
    report(
        "spool quota reached",
        quota_bytes=int(held["spool_quota_bytes"]),
        spool_points_at_full=int(held["spool_points"]),
        spool_bytes_at_full=int(held["spool_bytes"]),
        points_held_in_memory=int(held["points_waiting"]),
        uplinks_accepted_while_full=int(held["uplinks_accepted_total"]),
        published=FLEET.size,
        stored=len(stored),
        distinct=len(set(stored)),
        seconds_to_all_stored_after_influxd_start=round(took, 1),
    )


def spool_alert(bridge: Wherry) -> tuple[str, str] | None:
    """(severity, status) of the open spool alert in the registry, or None."""
    with Registry(bridge.env["WHERRY_REGISTRY_URL"]) as registry:
        found = [a for a in registry.open_alerts() if a.key == "spool:points"]
    return (found[0].severity, found[0].status) if found else None
