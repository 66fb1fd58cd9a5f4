"""Bridge workers on one shared subscription: each gets its own default client id (one per
data dir), while a lone bridge keeps the id earlier releases gave it (its session resumes)."""

from __future__ import annotations

import threading
import time

from gateway_bridge.intake import Intake
from gateway_bridge.sources.mqtt import MqttOptions
from gateway_bridge.uplink import RawMessage

SHARED = ["$share/wherry/v3/+/devices/+/up"]
PLAIN = ["v3/+/devices/+/up"]


def test_shared_workers_on_one_host_get_distinct_default_client_ids() -> None:
    ids = {
        MqttOptions.from_url("mqtt://broker", SHARED, worker=f"/srv/wherry/worker-{n}")
        for n in range(3)
    }
    assert len({options.effective_client_id for options in ids}) == 3


def test_a_shared_worker_keeps_its_client_id_across_restarts() -> None:
    first = MqttOptions.from_url("mqtt://u:a@broker", SHARED, worker="/srv/wherry/worker-1")
    again = MqttOptions.from_url("mqtt://u:b@broker", SHARED, worker="/srv/wherry/worker-1")
    assert first.effective_client_id == again.effective_client_id


def test_an_unshared_subscription_keeps_the_client_id_of_earlier_releases() -> None:
    lone = MqttOptions.from_url("mqtt://broker", PLAIN, worker="/srv/wherry/data")
    before = MqttOptions.from_url("mqtt://broker", PLAIN)  # no worker: as earlier releases
    assert lone.effective_client_id == before.effective_client_id


def test_an_explicit_client_id_wins() -> None:
    options = MqttOptions.from_url("mqtt://broker", SHARED, client_id="w-1", worker="/srv/a")
    assert options.effective_client_id == "w-1"


def test_shared_topics_are_the_ones_to_leave() -> None:
    options = MqttOptions.from_url("mqtt://broker", [*SHARED, "application/+/device/+/event/up"])
    assert options.shared_topics == tuple(SHARED)


def _message(n: int) -> RawMessage:
    return RawMessage(topic="t", body=b"%d" % n, arrived_ns=0, acknowledge=lambda: None)


def test_drain_waits_until_the_broker_has_stopped_sending() -> None:
    handled: list[RawMessage] = []
    intake = Intake(handled.append)

    def trickle() -> None:  # what a broker still sends after the worker left the group
        for n in range(10):
            intake.handle(_message(n))
            time.sleep(0.05)

    sender = threading.Thread(target=trickle)
    started = time.monotonic()
    sender.start()
    assert intake.drain(quiet=0.3, timeout=5)
    sender.join()
    assert len(handled) == 10 and time.monotonic() - started >= 0.45 + 0.3


def test_drain_gives_up_after_its_timeout_while_messages_keep_coming() -> None:
    intake = Intake(lambda message: None)
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            intake.handle(_message(0))
            time.sleep(0.02)

    sender = threading.Thread(target=flood)
    sender.start()
    try:
        started = time.monotonic()
        assert not intake.drain(quiet=0.3, timeout=0.8)
        assert time.monotonic() - started < 1.5
    finally:
        stop.set()
        sender.join()
