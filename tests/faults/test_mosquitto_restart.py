"""Mosquitto stopped and restarted mid-stream under a real `wherry run`.

- Own broker, QoS 1, persistent session: every message the broker accepted is stored,
  exactly once, although the broker went away with messages queued and in flight.
- The Things Network's way (QoS 0): what was published while the broker was down is
  lost from MQTT; the backfill after the reconnect fetches it from the Storage
  Integration (a local server in the documented format).

Observed counts are printed (pytest -s) for docs/reliability.md.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway_bridge.envelopes.timestamps import parse_rfc3339_ns
from storage import open_store
from tests import servers
from tests.ingest_support import ROAD_DEVICES, register_fleet, road_uplink, wait_until
from tests.ttn_storage_server import RunningStorage, storage_server
from tests.uplinks import encode, ttn_topic
from tests.wherry_process import WherryRun

pytestmark = [pytest.mark.faults, pytest.mark.integration]

APP = "council-roads"
KEY = "NNSXS.FAULTTEST.K3Y0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ01234567"
SECOND_NS = 1_000_000_000


class Publisher:
    """A QoS 1 publisher that rides out the broker's restart: paho keeps what it could not
    send and resends what was not acknowledged after reconnecting. `wait_all` fails
    unless the broker acknowledged every message."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"publisher-{uuid.uuid4().hex[:8]}",
            clean_session=False,
        )
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_publish = self._on_publish
        self._acknowledged: set[int] = set()
        self._lock = threading.Lock()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.mids: list[int] = []

    def _on_publish(self, client: object, userdata: object, mid: int, *rest: object) -> None:
        with self._lock:
            self._acknowledged.add(mid)

    def publish(self, topic: str, body: bytes, qos: int = 1) -> None:
        info = self.client.publish(topic, body, qos=qos)
        assert info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN), info.rc
        self.mids.append(info.mid)

    def wait_all(self, timeout: float = 120) -> None:
        def all_acknowledged() -> bool:
            with self._lock:
                return self._acknowledged.issuperset(self.mids)

        wait_until(all_acknowledged, timeout, "every message acknowledged by the broker")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[servers.ServerProcess]:
    server = servers.mosquitto(tmp_path / "broker")
    yield server
    server.stop()


def counters_at_stop(run: WherryRun) -> dict[str, int]:
    line = run.log.rsplit("stopped: ", 1)[1].splitlines()[0]
    counters: dict[str, int] = json.loads(line.replace("'", '"'))
    return counters


def test_own_broker_restart_mid_stream_loses_nothing(
    tmp_path: Path, broker: servers.ServerProcess
) -> None:
    env = {
        "WHERRY_DATA_DIR": str(tmp_path / "data"),
        "WHERRY_API_PORT": str(servers.free_port()),
        "WHERRY_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
        "WHERRY_MQTT_TOPICS": f"v3/{APP}@ttn/devices/+/up",
        "WHERRY_MQTT_QOS": "1",
        "WHERRY_MQTT_CLIENT_ID": f"wherry-fault-{uuid.uuid4().hex[:8]}",
        "WHERRY_FLUSH_INTERVAL": "0.2",
    }
    register_fleet(tmp_path, env, ROAD_DEVICES)
    total = 3000
    start_ns = time.time_ns() - 3600 * SECOND_NS
    messages = []
    for f_cnt in range(total):
        device_id = ROAD_DEVICES[f_cnt % len(ROAD_DEVICES)]
        at = start_ns + f_cnt * SECOND_NS + f_cnt
        messages.append((ttn_topic(device_id, APP), encode(road_uplink(device_id, at, f_cnt, APP))))

    store = open_store(f"sqlite:///{tmp_path / 'data' / 'readings.db'}")
    run = WherryRun(env, tmp_path / "wherry.log")
    publisher: Publisher | None = None
    try:
        run.wait_for_log("subscribed", 30)
        publisher = Publisher(broker.port)
        restarted = threading.Event()
        published_at_stop: list[int] = []

        def restart_mid_stream() -> None:
            assert publisher is not None
            wait_until(lambda: store.count("uplink", "f_cnt") >= 800, 60, "800 stored")
            broker.stop()  # SIGTERM: Mosquitto saves its queues and goes away
            published_at_stop.append(len(publisher.mids))
            time.sleep(2)
            broker.start()
            restarted.set()

        restarter = threading.Thread(target=restart_mid_stream)
        restarter.start()
        for n, (topic, body) in enumerate(messages):
            publisher.publish(topic, body)
            if n % 100 == 99:
                time.sleep(0.2)  # about 500 a second: the restart lands mid-stream
        restarter.join(90)
        assert restarted.is_set()
        assert 800 <= published_at_stop[0] < total  # the broker went away mid-stream
        publisher.wait_all()
        wait_until(lambda: store.count("uplink", "f_cnt") >= total, 120, f"{total} stored")
        time.sleep(1)  # let any late redelivery land: it must not add anything
        stored = store.count("uplink", "f_cnt")
        readings = store.count("reading", "road_surface_temperature")
    finally:
        if publisher is not None:
            publisher.close()
        status = run.terminate()
        store.close()
    assert status == 0, run.log
    assert "MQTT disconnected from" in run.log
    assert run.log.count("MQTT subscribed to") >= 2
    assert (stored, readings) == (total, total)
    counters = counters_at_stop(run)
    assert counters["uplinks_accepted"] >= total  # redeliveries counted, stored once
    print(
        f"\nown broker restart after {published_at_stop[0]} published: "
        f"published {total}, stored {stored} distinct, "
        f"accepted {counters['uplinks_accepted']} (redelivered "
        f"{counters['uplinks_accepted'] - total}), reconnects "
        f"{run.log.count('MQTT subscribed to') - 1}"
    )


@pytest.fixture
def storage() -> Iterator[RunningStorage]:
    with storage_server(KEY, applications=(APP,)) as running:
        yield running


def test_things_network_gap_is_backfilled_after_the_reconnect(
    tmp_path: Path, broker: servers.ServerProcess, storage: RunningStorage
) -> None:
    env = {
        "WHERRY_DATA_DIR": str(tmp_path / "data"),
        "WHERRY_API_PORT": str(servers.free_port()),
        "WHERRY_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
        "WHERRY_MQTT_TOPICS": f"v3/{APP}@ttn/devices/+/up",  # TTN: QoS 0, no session
        "WHERRY_FLUSH_INTERVAL": "0.2",
        "WHERRY_TTN_STORAGE_URL": storage.url,
        "WHERRY_TTN_API_KEY": KEY,
    }
    register_fleet(tmp_path, env, ROAD_DEVICES)
    f_cnt = 0

    def uplink_now() -> tuple[str, bytes]:
        """What The Things Stack does with an uplink: store it, and publish it."""
        nonlocal f_cnt
        device_id = ROAD_DEVICES[f_cnt % len(ROAD_DEVICES)]
        message = road_uplink(device_id, time.time_ns(), f_cnt, APP)
        storage.state.add(APP, parse_rfc3339_ns(message["received_at"]), message)
        f_cnt += 1
        return ttn_topic(device_id, APP), encode(message)

    store = open_store(f"sqlite:///{tmp_path / 'data' / 'readings.db'}")
    run = WherryRun(env, tmp_path / "wherry.log")
    try:
        run.wait_for_log("subscribed", 30)
        run.wait_for_log("uplinks in", 30)  # the start-up backfill (nothing yet)
        publisher = Publisher(broker.port)
        for _ in range(200):
            publisher.publish(*uplink_now(), qos=0)
        wait_until(lambda: store.count("uplink", "f_cnt") >= 200, 60, "200 live stored")
        publisher.close()

        broker.stop()
        gap = [uplink_now() for _ in range(150)]  # stored by TTN, published to nobody
        broker.start()
        wait_until(lambda: run.log.count("uplinks in") >= 2, 60, "a backfill after reconnect")
        wait_until(lambda: store.count("uplink", "f_cnt") >= 350, 60, "the gap stored")

        publisher = Publisher(broker.port)
        for _ in range(100):
            publisher.publish(*uplink_now(), qos=0)
        wait_until(lambda: store.count("uplink", "f_cnt") >= 450, 60, "450 stored")
        publisher.close()
        stored = store.count("uplink", "f_cnt")
    finally:
        status = run.terminate()
        store.close()
    assert status == 0, run.log
    assert len(gap) == 150 and stored == 450
    after_reconnect = storage.state.requests[-1]
    resumed_from = parse_rfc3339_ns(after_reconnect.after or "")
    # from the last live uplink handed off (less the overlap), not 24 hours back
    assert time.time_ns() - resumed_from < 15 * 60 * SECOND_NS
    print(
        f"\nTTN gap: 200 live, 150 while the broker was down (backfilled), 100 live after; "
        f"stored {stored}; backfill requests {len(storage.state.requests)}"
    )
