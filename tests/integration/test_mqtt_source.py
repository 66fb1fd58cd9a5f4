"""The MQTT source against real Mosquitto brokers: topics, manual acks, restarts, TLS."""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway_bridge.sources.mqtt import MqttOptions, MqttSource
from gateway_bridge.uplink import RawMessage
from tests import servers

pytestmark = pytest.mark.integration


class Inbox:
    """Collects what a source delivers, for a test thread to wait on."""

    def __init__(self) -> None:
        self._queue: queue.Queue[RawMessage] = queue.Queue()

    def __call__(self, message: RawMessage) -> None:
        self._queue.put(message)

    def get(self, timeout: float = 15) -> RawMessage:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout} s") from None

    def take(self, count: int, timeout: float = 15) -> list[RawMessage]:
        return [self.get(timeout) for _ in range(count)]

    def empty(self) -> bool:
        return self._queue.empty()


def publish(port: int, messages: list[tuple[str, bytes]], qos: int = 1) -> None:
    """Publish and wait until the broker has every message."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, body in messages:
            client.publish(topic, body, qos=qos).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout} s")
        time.sleep(0.05)


@pytest.fixture
def prefix() -> str:
    """A topic prefix of our own on the shared session broker."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def running() -> Iterator[Callable[[MqttOptions, Inbox], MqttSource]]:
    started: list[MqttSource] = []

    def run(options: MqttOptions, inbox: Inbox) -> MqttSource:
        source = MqttSource(options, inbox)
        started.append(source)
        source.start()
        return source

    yield run
    for source in started:
        source.stop()


def test_receives_on_several_topics_and_logs_without_the_password(
    mosquitto_server: servers.ServerProcess,
    prefix: str,
    running: Callable[[MqttOptions, Inbox], MqttSource],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway_bridge.sources.mqtt")
    options = MqttOptions.from_url(
        f"mqtt://bridge:s3cret-pw@127.0.0.1:{mosquitto_server.port}",
        [f"{prefix}/application/+/device/+/event/up", f"{prefix}/lab/#"],
    )
    inbox = Inbox()
    source = running(options, inbox)
    assert source.wait_connected(15), source.last_error  # connected and subscribed

    sent = [
        (f"{prefix}/application/app-1/device/a84041000181c3d9/event/up", b'{"n": 1}'),
        (f"{prefix}/lab/bench/7", b'{"n": 2}'),
        (
            f"{prefix}/application/app-1/device/a84041000181c3d9/event/join",
            b'{"n": 3}',
        ),  # not subscribed
        (f"{prefix}/lab", b'{"n": 4}'),
    ]
    before = time.time_ns()
    publish(mosquitto_server.port, sent)
    got = inbox.take(3)

    assert sorted((m.topic, m.body) for m in got) == sorted([sent[0], sent[1], sent[3]])
    assert all(before <= m.arrived_ns <= time.time_ns() for m in got)
    assert all(m.acknowledge is not None for m in got), "QoS 1 messages carry an acknowledgement"
    for message in got:
        assert message.acknowledge is not None
        message.acknowledge()
        message.acknowledge()  # a second call is harmless
    assert inbox.empty()

    log = caplog.text
    assert "s3cret-pw" not in log
    assert f"connected to 127.0.0.1:{mosquitto_server.port}" in log
    assert options.effective_client_id in log
    assert "session present" in log
    assert "granted qos 1" in log


def test_things_stack_topics_are_qos_0_without_acknowledgement(
    mosquitto_server: servers.ServerProcess,
    prefix: str,
    running: Callable[[MqttOptions, Inbox], MqttSource],
) -> None:
    topic = f"v3/{prefix}@ttn/devices/rst-high-street-01/up"
    options = MqttOptions.from_url(
        f"mqtt://127.0.0.1:{mosquitto_server.port}", [f"v3/{prefix}@ttn/devices/+/up"]
    )
    assert (options.effective_qos, options.effective_persistent) == (0, False)
    inbox = Inbox()
    source = running(options, inbox)
    assert source.wait_connected(15), source.last_error
    publish(mosquitto_server.port, [(topic, b"{}")], qos=1)

    message = inbox.get()
    assert (message.topic, message.body, message.acknowledge) == (topic, b"{}", None)


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_unacknowledged_message_is_redelivered_after_reconnect_and_acknowledged_one_is_not(
    mosquitto_server: servers.ServerProcess,
    prefix: str,
    running: Callable[[MqttOptions, Inbox], MqttSource],
    protocol: str,
) -> None:
    options = MqttOptions.from_url(
        f"mqtt://127.0.0.1:{mosquitto_server.port}",
        [f"{prefix}/up/#"],
        client_id=f"wherry-{prefix}",
        protocol=protocol,
    )
    assert (options.effective_qos, options.effective_persistent) == (1, True)
    first = Inbox()
    source = running(options, first)
    assert source.wait_connected(15), source.last_error

    publish(
        mosquitto_server.port, [(f"{prefix}/up/a", b"acknowledged"), (f"{prefix}/up/b", b"not yet")]
    )
    by_body = {m.body: m for m in first.take(2)}
    acknowledge = by_body[b"acknowledged"].acknowledge
    assert acknowledge is not None
    acknowledge()
    source.stop()  # b stays unacknowledged in the broker's session

    second = Inbox()
    source = running(options, second)
    assert source.wait_connected(15), source.last_error
    redelivered = second.get()
    assert (redelivered.topic, redelivered.body) == (f"{prefix}/up/b", b"not yet")
    publish(mosquitto_server.port, [(f"{prefix}/up/c", b"marker")])
    marker = second.get()
    assert marker.body == b"marker"
    assert second.empty(), "the acknowledged message must not come back"

    for message in (redelivered, marker):
        assert message.acknowledge is not None
        message.acknowledge()
    source.stop()
    third = Inbox()
    source = running(options, third)
    assert source.wait_connected(15), source.last_error
    publish(mosquitto_server.port, [(f"{prefix}/up/d", b"marker 2")])
    assert third.get().body == b"marker 2"
    assert third.empty()


def test_an_acknowledgement_from_an_earlier_connection_is_dropped(
    mosquitto_server: servers.ServerProcess,
    prefix: str,
    running: Callable[[MqttOptions, Inbox], MqttSource],
) -> None:
    """A late ack must never acknowledge whatever the broker now sends under that packet id."""
    options = MqttOptions.from_url(
        f"mqtt://127.0.0.1:{mosquitto_server.port}", [f"{prefix}/#"], client_id=f"wherry-{prefix}"
    )
    inbox = Inbox()
    source = running(options, inbox)
    assert source.wait_connected(15), source.last_error
    publish(mosquitto_server.port, [(f"{prefix}/x", b"held")])
    stale = inbox.get()
    source.stop()
    source = running(options, inbox)
    assert source.wait_connected(15), source.last_error
    again = inbox.get()
    assert again.body == b"held"

    assert stale.acknowledge is not None and again.acknowledge is not None
    stale.acknowledge()  # belongs to the first connection: dropped
    source.stop()
    source = running(options, inbox)
    assert source.wait_connected(15), source.last_error
    assert inbox.get().body == b"held", "the stale ack must not have acknowledged the redelivery"


def test_a_failing_handler_leaves_the_message_unacknowledged_and_the_source_running(
    mosquitto_server: servers.ServerProcess,
    prefix: str,
    running: Callable[[MqttOptions, Inbox], MqttSource],
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox = Inbox()

    def handler(message: RawMessage) -> None:
        if message.body == b"poison":
            raise RuntimeError("pipeline bug")
        inbox(message)

    options = MqttOptions.from_url(
        f"mqtt://127.0.0.1:{mosquitto_server.port}", [f"{prefix}/#"], client_id=f"wherry-{prefix}"
    )
    source = MqttSource(options, handler)
    source.start()
    try:
        assert source.wait_connected(15), source.last_error
        publish(mosquitto_server.port, [(f"{prefix}/1", b"poison"), (f"{prefix}/2", b"fine")])
        assert inbox.get().body == b"fine"
        assert source.connected.is_set()
        assert "pipeline bug" in caplog.text and "unacknowledged" in caplog.text
    finally:
        source.stop()
    redelivered: list[bytes] = []
    source = MqttSource(options, lambda message: redelivered.append(message.body))
    source.start()
    try:
        wait_until(lambda: b"poison" in redelivered, 15, "redelivered")
    finally:
        source.stop()


def test_start_does_not_fail_while_the_broker_is_down_and_connects_when_it_comes(
    tmp_path: Path, running: Callable[[MqttOptions, Inbox], MqttSource]
) -> None:
    broker = servers.mosquitto(tmp_path / "broker")
    broker.stop()
    try:
        options = MqttOptions.from_url(
            f"mqtt://127.0.0.1:{broker.port}", ["lab/#"], reconnect_max_delay=2
        )
        inbox = Inbox()
        source = running(options, inbox)  # must not raise
        assert not source.wait_connected(1.5)
        assert source.last_error is not None and "refused" in source.last_error.lower()

        broker.start()
        assert source.wait_connected(20), source.last_error
        assert source.last_error is None
        publish(broker.port, [("lab/1", b"hello")])
        assert inbox.get().body == b"hello"
    finally:
        broker.stop()


def test_reconnects_and_subscribes_again_after_the_broker_restarts(
    tmp_path: Path,
    running: Callable[[MqttOptions, Inbox], MqttSource],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway_bridge.sources.mqtt")
    broker = servers.mosquitto(tmp_path / "broker")
    try:
        # A clean session: the restarted broker has forgotten the subscription,
        # so only subscribing again on connect brings messages back.
        options = MqttOptions.from_url(
            f"mqtt://127.0.0.1:{broker.port}", ["lab/#"], persistent=False, reconnect_max_delay=2
        )
        inbox = Inbox()
        source = running(options, inbox)
        assert source.wait_connected(15), source.last_error
        publish(broker.port, [("lab/before", b"1")])
        assert inbox.get().body == b"1"

        broker.stop()
        wait_until(lambda: not source.connected.is_set(), 15, "disconnected")
        broker.start()
        assert source.wait_connected(20), source.last_error
        assert caplog.text.count("subscribed to lab/#") == 2
        publish(broker.port, [("lab/after", b"2")])
        assert inbox.get().body == b"2"
        assert "disconnected from" in caplog.text
        assert "reconnecting" in caplog.text
    finally:
        broker.stop()


# -- TLS -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsBroker:
    tls_port: int  # server certificate only
    client_cert_port: int  # also requires a client certificate signed by the CA
    plain_port: int  # for the test's publisher
    ca: Path
    wrong_ca: Path
    client_cert: Path
    client_key: Path


def openssl(directory: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> None:
    openssl(
        directory, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
        "-subj", f"/CN=wherry test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip


def make_leaf(directory: Path, name: str, usage: str, san: str) -> None:
    openssl(
        directory, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
    )  # fmt: skip
    (directory / f"{name}.ext").write_text(
        f"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\n"
        f"subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n{san}"
    )
    openssl(
        directory, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
    )  # fmt: skip


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    directory = tmp_path_factory.mktemp("mosquitto-tls")
    make_ca(directory, "ca")
    make_ca(directory, "wrong-ca")
    make_leaf(directory, "server", "serverAuth", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    make_leaf(directory, "client", "clientAuth", "")
    binary = servers.require_binary("mosquitto", "apt-get install mosquitto")
    tls_port, client_cert_port, plain_port = (servers.free_port() for _ in range(3))
    tls = [
        f"cafile {directory}/ca.pem",
        f"certfile {directory}/server.pem",
        f"keyfile {directory}/server.key",
    ]
    lines = [
        # Started as root, Mosquitto drops to user "mosquitto" before reading the key,
        # which then cannot open pytest's private temporary directory.
        *(["user root"] if os.geteuid() == 0 else []),
        "allow_anonymous true",
        f"listener {tls_port} 127.0.0.1",
        *tls,
        f"listener {client_cert_port} 127.0.0.1",
        *tls,
        "require_certificate true",
        f"listener {plain_port} 127.0.0.1",
        "",
    ]
    config = directory / "mosquitto.conf"
    config.write_text("\n".join(lines))
    broker = servers.ServerProcess("mosquitto", tls_port, directory, [binary, "-c", str(config)])
    broker.start()
    try:
        servers.wait_for_port(client_cert_port, process=broker.process)
        servers.wait_for_port(plain_port, process=broker.process)
        yield TlsBroker(
            tls_port=tls_port,
            client_cert_port=client_cert_port,
            plain_port=plain_port,
            ca=directory / "ca.pem",
            wrong_ca=directory / "wrong-ca.pem",
            client_cert=directory / "client.pem",
            client_key=directory / "client.key",
        )
    finally:
        broker.stop()


def tls_options(port: int, **kw: Any) -> MqttOptions:
    return MqttOptions.from_url(
        f"mqtts://127.0.0.1:{port}", [f"tls/{uuid.uuid4().hex[:8]}/#"], reconnect_max_delay=2, **kw
    )


def test_tls_with_a_ca_file_connects_and_receives(
    tls_broker: TlsBroker, running: Callable[[MqttOptions, Inbox], MqttSource]
) -> None:
    options = tls_options(tls_broker.tls_port, ca_file=str(tls_broker.ca))
    inbox = Inbox()
    source = running(options, inbox)
    assert source.wait_connected(15), source.last_error
    topic = options.topics[0].replace("#", "reading")
    publish(tls_broker.plain_port, [(topic, b"over tls")])
    assert inbox.get().body == b"over tls"


@pytest.mark.parametrize("ca", ["wrong", "system"])
def test_tls_refuses_a_server_its_cas_did_not_sign(
    tls_broker: TlsBroker, running: Callable[[MqttOptions, Inbox], MqttSource], ca: str
) -> None:
    ca_file = str(tls_broker.wrong_ca) if ca == "wrong" else None
    source = running(tls_options(tls_broker.tls_port, ca_file=ca_file), Inbox())
    assert not source.wait_connected(3)
    wait_until(lambda: source.last_error is not None, 10, "reporting the failure")
    assert source.last_error is not None and "certificate" in source.last_error.lower()


def test_tls_insecure_accepts_any_certificate(
    tls_broker: TlsBroker, running: Callable[[MqttOptions, Inbox], MqttSource]
) -> None:
    options = tls_options(tls_broker.tls_port, ca_file=str(tls_broker.wrong_ca), tls_insecure=True)
    source = running(options, Inbox())
    assert source.wait_connected(15), source.last_error


def test_tls_client_certificate(
    tls_broker: TlsBroker, running: Callable[[MqttOptions, Inbox], MqttSource]
) -> None:
    with_cert = tls_options(
        tls_broker.client_cert_port,
        ca_file=str(tls_broker.ca),
        cert_file=str(tls_broker.client_cert),
        key_file=str(tls_broker.client_key),
    )
    without = tls_options(tls_broker.client_cert_port, ca_file=str(tls_broker.ca))
    assert running(with_cert, Inbox()).wait_connected(15)
    refused = running(without, Inbox())
    assert not refused.wait_connected(3)
    assert refused.last_error is not None
