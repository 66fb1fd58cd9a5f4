"""The alert engine inside a real `wherry run`: cold readings over a real Mosquitto turn a route
to TREAT on the board, a signed webhook reaches a real HTTP server, and a restart neither
forgets the open alert nor announces it again."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest

from alerts.notify.webhook import signature
from api.keys import issue_key
from storage import open_store
from storage.registry import NewApiKey, NewSubscription, Registry
from tests import servers
from tests.alerts.notify.receivers import WebhookReceiver
from tests.uplinks import dl_ds18_payload, encode, ttn_topic, ttn_uplink
from tests.wherry_process import WherryRun, wherry

pytestmark = pytest.mark.integration

APP = "wherry-alerts"
SECRET = "a-webhook-secret-for-the-test"
TEN_MINUTES_NS = 600 * 1_000_000_000
ROUTES = "route_id,name,length_km,priority,area\nbank,Bank Road,6.4,1,Matlock\n"
DEVICES = (
    "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,field_map\n"
    "rst-1,70b3d57ed0000a01,Bank Road lower,decentlab-dl-ds18,road,bank,53.139,-1.554,false,,\n"
    "rst-2,70b3d57ed0000a02,Bank Road upper,decentlab-dl-ds18,road,bank,53.141,-1.553,false,,\n"
)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def setup(
    tmp_path: Path, mosquitto_server: servers.ServerProcess, receiver: WebhookReceiver
) -> tuple[dict[str, str], str]:
    env = {
        "WHERRY_DATA_DIR": str(tmp_path / "data"),
        "WHERRY_REGISTRY_URL": f"sqlite:///{tmp_path / 'registry.db'}",
        "WHERRY_STORE_URL": f"sqlite:///{tmp_path / 'readings.db'}",
        "WHERRY_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto_server.port}",
        "WHERRY_MQTT_TOPICS": f"v3/{APP}@ttn/devices/+/up",
        "WHERRY_MQTT_QOS": "1",
        "WHERRY_MQTT_CLIENT_ID": f"wherry-alerts-{uuid.uuid4().hex[:8]}",
        "WHERRY_API_PORT": str(servers.free_port()),
        "WHERRY_FLUSH_INTERVAL": "0.2",
    }
    (tmp_path / "routes.csv").write_text(ROUTES)
    (tmp_path / "devices.csv").write_text(DEVICES)
    for kind in ("routes", "devices"):
        result = wherry(kind, "import", str(tmp_path / f"{kind}.csv"), env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    key = issue_key()
    with Registry(env["WHERRY_REGISTRY_URL"]) as registry:
        registry.create_api_key(
            NewApiKey(key.key_id, "duty officer", "highways", key.secret_hash, None), actor="test"
        )
        registry.create_subscription(
            NewSubscription(
                "control room", "webhook", receiver.url, secret=SECRET, domains=("road",)
            ),
            actor="test",
        )
    return env, key.token


def cold_night(now_ns: int, f_cnt_from: int = 0) -> list[tuple[str, bytes]]:
    """Two hours of both sensors cooling from +3.0 °C to -0.5 °C, ending now."""
    messages = []
    for step in range(13):
        at = now_ns - (12 - step) * TEN_MINUTES_NS
        for number, device in enumerate(("rst-1", "rst-2"), start=1):
            celsius = round(3.0 - step * 0.29 + number * 0.05, 2)
            uplink = ttn_uplink(
                device,
                received_at_ns=at + number,
                f_cnt=f_cnt_from + step,
                payload=dl_ds18_payload(number, celsius, 3.1),
                application_id=APP,
                dev_eui=f"70b3d57ed0000a0{number}",
            )
            messages.append((ttn_topic(device, APP), encode(uplink)))
    return messages


def publish(port: int, messages: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, body in messages:
            client.publish(topic, body, qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


def gritting_raised(receiver: WebhookReceiver) -> list[dict[str, object]]:
    bodies = [json.loads(r.body) for r in receiver.received]
    return [b for b in bodies if b["key"] == "gritting:bank" and b["event"] == "raised"]


def test_cold_readings_turn_the_route_to_treat_and_a_signed_webhook_goes_out_once(
    tmp_path: Path,
    setup: tuple[dict[str, str], str],
    receiver: WebhookReceiver,
    mosquitto_server: servers.ServerProcess,
) -> None:
    env, token = setup
    api = f"http://127.0.0.1:{env['WHERRY_API_PORT']}/api/v1"
    run = WherryRun(env, tmp_path / "wherry.log")
    try:
        run.wait_for_log("subscribed")
        publish(mosquitto_server.port, cold_night(time.time_ns()))
        deadline = time.monotonic() + 30
        while not gritting_raised(receiver) and time.monotonic() < deadline:
            time.sleep(0.2)
        [raised] = gritting_raised(receiver)
        delivery = next(r for r in receiver.received if json.loads(r.body) == raised)
        stamp = int(delivery.headers["x-wherry-timestamp"])
        assert delivery.headers["x-wherry-signature"] == signature(SECRET, stamp, delivery.body)
        assert raised["severity"] == "critical" and raised["route_id"] == "bank"
        bank = board_route(api, token)
        deadline = time.monotonic() + 10  # the decision is saved by its own writer thread
        while bank["recommendation"] != "TREAT" and time.monotonic() < deadline:
            time.sleep(0.1)
            bank = board_route(api, token)
        assert (bank["state"], bank["recommendation"]) in (
            ("FREEZING", "TREAT"),
            ("ICE_LIKELY", "TREAT"),
        )
        assert "rst-" in bank["explanation"]
        assert run.terminate() == 0
    finally:
        run.kill()
    arrived_before_restart = len(receiver.received)

    again = WherryRun(env, tmp_path / "wherry-2.log")
    try:
        again.wait_for_log("warmed up")
        again.wait_for_log("subscribed")
        publish(mosquitto_server.port, cold_night(time.time_ns(), f_cnt_from=100)[-2:])
        store = open_store(env["WHERRY_STORE_URL"])
        try:
            deadline = time.monotonic() + 20
            while store.count("uplink", "f_cnt") < 28 and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            store.close()
        time.sleep(2)  # time for a (wrong) second announcement to arrive
        assert len(gritting_raised(receiver)) == 1
        assert all(
            json.loads(r.body)["event"] != "raised"
            for r in receiver.received[arrived_before_restart:]
        )
        with Registry(env["WHERRY_REGISTRY_URL"]) as registry:
            [open_alert] = [a for a in registry.open_alerts() if a.key == "gritting:bank"]
            assert open_alert.severity == "critical"
        assert again.terminate() == 0
    finally:
        again.kill()


def board_route(api: str, token: str) -> dict[str, object]:
    [route] = httpx.get(f"{api}/board", headers={"X-API-Key": token}).json()["routes"]
    return dict(route)
