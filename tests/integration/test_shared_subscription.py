"""Three bridge workers on one MQTT shared subscription (`$share/wherry/…`) on a real Mosquitto,
sharing a PostgreSQL registry and an InfluxDB: the broker splits the uplinks between them,
each is stored exactly once; a worker stopped with SIGTERM mid-stream leaves the group and
hands its share to the others without losing or doubling a message; a worker killed with
SIGKILL stays in the group, and its share waits in its session until it comes back.

The workers are configured as docs/scale-out.md says (no client id given: each gets its own
from its data dir), one of them speaking MQTT 5, the others 3.1.1.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway_bridge.sources.mqtt import MqttOptions, MqttSource
from gateway_bridge.uplink import RawMessage
from tests import servers
from tests.faults.harness import Fleet, Publisher, report, wait_for
from tests.ingest_support import publish_all
from tests.scale_support import (
    count_uplinks,
    documented_command,
    influx_database_url,
    postgres_registry,
    register_fleet,
    stopped_counters,
    stored_uplinks,
)
from tests.wherry_process import WherryRun

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

FLEET = Fleet(devices=30, per_device=100)  # 3,000 uplinks a test
SHARED_TOPIC = "$share/wherry/v3/+/devices/+/up"
WORKERS = 3
STOP_WITHIN_S = 15.0


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One registry for every worker, with the fleet registered through the CLI."""
    with postgres_registry("wherry_share") as url:
        register_fleet(FLEET, tmp_path_factory.mktemp("fleet"), url)
        yield url


AS_DOCUMENTED = {  # docs/scale-out.md shows these values; the rest differ by site
    "WHERRY_MQTT_TOPICS": SHARED_TOPIC,
    "WHERRY_MQTT_QOS": "1",
    "WHERRY_SERVE_API": "false",
}
NOT_DOCUMENTED = {  # what the page explains in words, and test speed
    "WHERRY_MQTT_PROTOCOL",
    "WHERRY_ALERTS",
    "WHERRY_FLUSH_INTERVAL",
}


def worker_env(
    directory: Path, n: int, registry_url: str, store_url: str, mqtt_port: int
) -> dict[str, str]:
    return {
        "WHERRY_DATA_DIR": str(directory / f"worker-{n}"),
        "WHERRY_REGISTRY_URL": registry_url,
        "WHERRY_STORE_URL": store_url,
        "WHERRY_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}",
        **AS_DOCUMENTED,
        "WHERRY_MQTT_PROTOCOL": "5" if n == WORKERS else "3.1.1",
        "WHERRY_ALERTS": "false",
        "WHERRY_FLUSH_INTERVAL": "0.2",
    }


def test_the_scale_out_page_runs_workers_as_these_tests_do(tmp_path: Path) -> None:
    settings, command = documented_command("worker")
    assert command == ["wherry", "run"]
    assert set(settings) == set(worker_env(tmp_path, 1, "", "", 1)) - NOT_DOCUMENTED
    assert {name: settings[name] for name in AS_DOCUMENTED} == AS_DOCUMENTED


class Workers:
    """`WORKERS` bridge processes, each with its own data dir and log."""

    def __init__(self, directory: Path, registry_url: str, store_url: str, port: int) -> None:
        self.directory = directory
        self.envs = [
            worker_env(directory, n, registry_url, store_url, port) for n in range(1, WORKERS + 1)
        ]
        self.runs = [
            WherryRun(env, directory / f"worker-{n}.log") for n, env in enumerate(self.envs, 1)
        ]
        self.earlier: list[WherryRun] = []
        for run in self.runs:
            run.wait_for_log("MQTT subscribed to", timeout=60)

    def restart(self, index: int) -> WherryRun:
        """Start worker `index` again on its data dir (so under its client id)."""
        self.earlier.append(self.runs[index])
        run = WherryRun(self.envs[index], self.directory / f"worker-{index + 1}-again.log")
        self.runs[index] = run
        run.wait_for_log("MQTT subscribed to", timeout=60)
        return run

    def client_ids(self) -> list[str]:
        return [re.findall(r"MQTT connected to .*client_id=([^,]+)", r.log)[0] for r in self.runs]

    def stop(self, run: WherryRun) -> tuple[int, float]:
        started = time.monotonic()
        status = run.terminate(timeout=60)
        return status, time.monotonic() - started

    def kill_all(self) -> None:
        for run in self.runs + self.earlier:
            run.kill()


@pytest.fixture
def store_url(influxd_server: servers.ServerProcess) -> str:
    return influx_database_url(influxd_server, "wherry_share")


@pytest.fixture
def workers(
    tmp_path: Path,
    registry_url: str,
    store_url: str,
    mosquitto_server: servers.ServerProcess,
) -> Iterator[Workers]:
    started = Workers(tmp_path, registry_url, store_url, mosquitto_server.port)
    try:
        yield started
    finally:
        started.kill_all()


class Throttled:
    """Messages at a steady rate, so a stop lands in the middle of the stream."""

    def __init__(self, messages: Iterator[tuple[str, bytes]], per_second: float) -> None:
        self.messages = messages
        self.per_second = per_second
        self.handed_out = 0

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        started = time.monotonic()
        for message in self.messages:
            ahead = self.handed_out / self.per_second - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
            self.handed_out += 1
            yield message


def assert_stored_exactly_once(store_url: str, expected: set[tuple[str, int]]) -> None:
    stored = stored_uplinks(store_url)
    assert [key for key, times in stored.items() if times > 1] == []
    assert set(stored) == expected


def test_workers_split_the_uplinks_and_store_each_once(
    workers: Workers, store_url: str, mosquitto_server: servers.ServerProcess
) -> None:
    assert len(set(workers.client_ids())) == WORKERS  # none takes another's session

    published = Publisher(mosquitto_server.port, FLEET.messages()).start().join()
    wait_for(lambda: count_uplinks(store_url) >= FLEET.size, 60, "every uplink stored")
    statuses = [workers.stop(run)[0] for run in workers.runs]

    assert statuses == [0] * WORKERS
    assert published == FLEET.size
    assert_stored_exactly_once(store_url, FLEET.expected())
    handled = [stopped_counters(run)["uplinks_accepted"] for run in workers.runs]
    assert sum(handled) == FLEET.size  # none handled twice
    assert min(handled) > FLEET.size * 0.10, handled  # each takes a real share
    report(
        "shared subscription, three workers",
        published=published,
        handled_per_worker=handled,
        shares=[f"{h / FLEET.size:.1%}" for h in handled],
    )


def test_a_worker_stopped_mid_stream_hands_its_share_to_the_others(
    workers: Workers, store_url: str, mosquitto_server: servers.ServerProcess
) -> None:
    leaving = workers.runs[1]
    streamed = Throttled(FLEET.messages(range(0, 70)), per_second=400)
    stream = Publisher(mosquitto_server.port, iter(streamed)).start()
    wait_for(lambda: streamed.handed_out >= 600, 30, "the stream under way")
    published_at_stop = streamed.handed_out
    status, took = workers.stop(leaving)
    assert status == 0 and took < STOP_WITHIN_S, leaving.log[-3000:]
    assert published_at_stop < 70 * FLEET.devices  # the stop came mid-stream
    assert "MQTT left $share/wherry/" in leaving.log
    handled_by_leaver = stopped_counters(leaving)["uplinks_accepted"]

    stream.join()
    after = Publisher(mosquitto_server.port, FLEET.messages(range(70, FLEET.per_device))).start()
    after.join()  # published wholly after the stop: only the two others can take it
    wait_for(lambda: count_uplinks(store_url) >= FLEET.size, 60, "every uplink stored")
    stayers = [run for run in workers.runs if run is not leaving]
    statuses = [workers.stop(run)[0] for run in stayers]

    assert statuses == [0, 0]
    assert_stored_exactly_once(store_url, FLEET.expected())
    handled_by_stayers = [stopped_counters(run)["uplinks_accepted"] for run in stayers]
    assert handled_by_leaver + sum(handled_by_stayers) == FLEET.size  # nothing came back twice
    assert min(handled_by_stayers) > FLEET.size * 0.10, handled_by_stayers
    report(
        "shared subscription, one worker stopped mid-stream",
        published=FLEET.size,
        published_when_stopped=published_at_stop,
        seconds_to_exit=round(took, 2),
        handled_by_stopped_worker=handled_by_leaver,
        handled_by_the_others=handled_by_stayers,
    )


def test_a_killed_worker_keeps_its_share_waiting_until_it_comes_back(
    workers: Workers, store_url: str, mosquitto_server: servers.ServerProcess
) -> None:
    crashed = workers.runs[0]
    client_id = workers.client_ids()[0]
    crashed.kill()  # kill -9: no time to leave the group
    rounds = range(0, 20)
    published = Publisher(mosquitto_server.port, FLEET.messages(rounds)).start().join()
    wait_for(lambda: count_uplinks(store_url) >= published // 2, 30, "the others' share stored")
    held_back = settled_count(store_url)
    assert held_back < published  # the killed worker's share waits in its session

    back = workers.restart(0)
    wait_for(lambda: count_uplinks(store_url) >= published, 30, "its share stored after all")
    statuses = [workers.stop(run)[0] for run in workers.runs]

    assert statuses == [0] * WORKERS
    assert f"client_id={client_id}, session present=True" in back.log
    assert_stored_exactly_once(store_url, {(d, f) for d, f in FLEET.expected() if f in rounds})
    report(
        "shared subscription, one worker killed",
        published=published,
        stored_while_it_was_down=held_back,
        handled_after_its_restart=stopped_counters(back)["uplinks_accepted"],
    )


def settled_count(store_url: str, quiet: float = 1.5) -> int:
    """The stored count once it has not changed for `quiet` seconds."""
    last, since = count_uplinks(store_url), time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.25)
        now = count_uplinks(store_url)
        if now != last:
            last, since = now, time.monotonic()
    return last


class Member:
    """A shared-subscription member that holds its acknowledgements until told to give them."""

    def __init__(self, *, acknowledging: bool) -> None:
        self.received: list[RawMessage] = []
        self._held: list[RawMessage] = []
        self._acknowledging = acknowledging
        self._lock = threading.Lock()

    def __call__(self, message: RawMessage) -> None:
        with self._lock:
            self.received.append(message)
            if not self._acknowledging:
                self._held.append(message)
                return
        assert message.acknowledge is not None
        message.acknowledge()

    def acknowledge_from_now_on(self) -> None:
        with self._lock:
            self._acknowledging = True
            held, self._held = self._held, []
        for message in held:
            assert message.acknowledge is not None
            message.acknowledge()


def test_a_source_that_left_gets_what_was_queued_for_it_and_nothing_new(
    mosquitto_server: servers.ServerProcess,
) -> None:
    """The broker behaviour a clean stop relies on, without wherry processes: after the
    UNSUBACK only what the broker had already queued for the leaver still reaches it."""
    prefix = f"leave{uuid.uuid4().hex[:8]}"
    leaver, stayer = Member(acknowledging=False), Member(acknowledging=True)
    sources = [
        MqttSource(
            MqttOptions(
                host="127.0.0.1",
                port=mosquitto_server.port,
                topics=(f"$share/g/{prefix}/+",),
                qos=1,
                client_id=f"{prefix}-{n}",
            ),
            member,
        )
        for n, member in enumerate((leaver, stayer))
    ]
    for source in sources:
        source.start()
        assert source.wait_connected(10)
    try:
        first = [(f"{prefix}/{n % 7}", b"%d" % n) for n in range(2400)]
        publish_all(mosquitto_server.port, first)
        # Half each; the leaver holds 1,000 in flight (the broker's window), the rest queued.
        wait_for(lambda: len(leaver.received) >= 1000, 20, "the leaver's window full")
        in_flight = len(leaver.received)
        assert sources[0].leave_shared()
        leaver.acknowledge_from_now_on()  # as a draining worker stores and acknowledges
        wait_for(lambda: len(leaver.received) + len(stayer.received) >= 2400, 20, "all first")
        then = [(f"{prefix}/{n % 7}", b"%d" % n) for n in range(2400, 2700)]
        publish_all(mosquitto_server.port, then)
        wait_for(lambda: len(stayer.received) + len(leaver.received) >= 2700, 20, "all then")
    finally:
        for source in sources:
            source.stop()

    bodies = sorted(m.body for m in leaver.received + stayer.received)
    assert bodies == sorted(body for _topic, body in first + then)  # each exactly once
    assert len(leaver.received) > in_flight  # its queued share still came after it left
    assert {m.body for m in leaver.received}.isdisjoint(body for _topic, body in then)
    assert all(m.topic.startswith(prefix + "/") for m in leaver.received)  # the real topic
