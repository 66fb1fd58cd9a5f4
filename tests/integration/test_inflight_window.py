"""A broker's in-flight window does not throttle ingest (docs/performance.md).

Mosquitto sends a QoS 1 subscriber at most `max_inflight_messages` unacknowledged
messages (20 unless configured), and wherry acknowledges only once a message's points are
stored. If the store writer then waited for a full batch or its flush interval, ingest
would run at one window per flush interval: here 20 uplinks per 30 s. It writes as soon
as the broker stops sending instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import open_store
from tests import servers
from tests.faults.harness import Fleet, Publisher, prepare_wherry, running, wait_for

pytestmark = pytest.mark.integration


def test_a_default_mosquitto_window_with_a_long_flush_interval(tmp_path: Path) -> None:
    broker = servers.mosquitto(tmp_path / "mosquitto", max_inflight_messages=20)
    store_url = f"sqlite:///{tmp_path / 'readings.db'}"
    fleet = Fleet(devices=20, per_device=50)  # 1,000 uplinks
    try:
        bridge = prepare_wherry(
            tmp_path, fleet, store_url=store_url, mqtt_port=broker.port, flush_interval="30"
        )
        with running(bridge):
            bridge.start()
            published = Publisher(broker.port, fleet.messages()).start().join()
            store = open_store(store_url)
            try:
                wait_for(
                    lambda: store.count("uplink", "f_cnt") == fleet.size,
                    timeout=60,
                    what=f"{fleet.size} uplinks stored through a 20-message window",
                )
            finally:
                store.close()
    finally:
        broker.stop()
    assert published == fleet.size
