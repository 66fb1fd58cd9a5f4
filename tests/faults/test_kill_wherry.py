"""wherry killed with SIGKILL mid-stream, QoS 1 and a persistent session: after a restart
nothing the broker delivered is lost and nothing is stored twice. Once with the store up
(the broker redelivers what was not acknowledged), once while points wait in the spool
(the spool survives the kill and drains after the restart)."""

from __future__ import annotations

import re
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


def assert_stored_exactly_once(influxd: servers.ServerProcess) -> list[tuple[str, int]]:
    stored = stored_uplinks(influxd)
    assert not [key for key, times in Counter(stored).items() if times > 1]
    assert set(stored) == FLEET.expected()
    assert len(stored) == FLEET.size
    assert count(influxd, "reading", "road_surface_temperature") == FLEET.size
    return stored


def test_kill_9_mid_stream_with_the_store_up(
    bridge: Wherry, influxd: servers.ServerProcess, mosquitto_server: servers.ServerProcess
) -> None:
    first = bridge.start()
    publisher = Publisher(mosquitto_server.port, FLEET.messages()).start()
    wait_for(lambda: count(influxd) >= FLEET.size // 3, 120, "a third stored")
    first.kill()  # SIGKILL: no flush, no acknowledgement of what was in flight
    stored_at_kill = count(influxd)
    assert publisher.join() == FLEET.size  # the broker queues the rest for the session

    second = bridge.start()
    took = wait_for(lambda: count(influxd) >= FLEET.size, 120, "everything stored")
    stored = assert_stored_exactly_once(influxd)
    assert second.terminate() == 0
    accepted = bridge.counters(second)["uplinks_accepted"]
    assert accepted >= FLEET.size - stored_at_kill
    report(
        "wherry kill -9, store up",
        published=FLEET.size,
        stored_at_kill=stored_at_kill,
        handled_after_restart=accepted,
        redelivered_and_overwritten=stored_at_kill + accepted - FLEET.size,
        stored=len(stored),
        distinct=len(set(stored)),
        seconds_to_all_stored_after_restart=round(took, 1),
    )


def test_kill_9_while_points_wait_in_the_spool(
    bridge: Wherry, influxd: servers.ServerProcess, mosquitto_server: servers.ServerProcess
) -> None:
    first = bridge.start()
    influxd.kill()  # the store is away: points go to the spool
    publisher = Publisher(mosquitto_server.port, FLEET.messages()).start()
    wait_for(
        lambda: bridge.gauges().get("spool_points", 0) >= FLEET.size // 2,
        120,
        "a quarter of the points spooled",
    )
    first.kill()  # SIGKILL while spooling
    assert publisher.join() == FLEET.size

    second = bridge.start()  # the store is still away: the spool is read back and grows
    wait_for(
        lambda: (
            bridge.gauges().get("points_waiting", 1) == 0
            and bridge.gauges().get("uplinks_accepted_total", 0) > 0
            and bridge.gauges().get("spool_points", 0) >= 2 * FLEET.size
        ),
        120,
        "the rest spooled",
    )
    spooled = bridge.gauges()["spool_points"]
    recovered = re.search(r"spool: (\d+) items in (\d+) batches waiting", second.log)
    assert recovered is not None
    influxd.start()
    took = wait_for(lambda: count(influxd) >= FLEET.size, 120, "everything stored")
    wait_for(lambda: bridge.gauges()["spool_points"] == 0, 30, "the spool drained")
    stored = assert_stored_exactly_once(influxd)
    assert second.terminate() == 0
    counters = bridge.counters(second)
    report(
        "wherry kill -9 while spooling",
        published=FLEET.size,
        points_recovered_from_spool=int(recovered.group(1)),
        uplinks_handled_after_restart=counters["uplinks_accepted"],
        spool_points_before_drain=int(spooled),
        stored=len(stored),
        distinct=len(set(stored)),
        seconds_to_all_stored_after_influxd_start=round(took, 1),
    )
