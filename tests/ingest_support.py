"""Shared by the backfill, webhook, fault and security tests: a small registered fleet,
TTN uplinks for it, and waiting for a condition."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.uplinks import dl_ds18_payload, ttn_uplink
from tests.wherry_process import wherry

ROAD_DEVICES = ("road-a", "road-b", "road-c")


def dev_eui(device_id: str) -> str:
    return "70b3d57ed0" + hashlib.sha256(device_id.encode()).hexdigest()[:6]


def register_fleet(directory: Path, env: Mapping[str, str], devices: tuple[str, ...]) -> None:
    """Register road sensors (Decentlab DL-DS18) with `wherry routes/devices import`."""
    routes = directory / "routes.csv"
    routes.write_text("route_id,name,length_km,priority,area\nhill,Castle Hill,4.2,1,north\n")
    lines = [
        "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,field_map"
    ]
    for n, device_id in enumerate(devices):
        lines.append(
            f"{device_id},{dev_eui(device_id)},Road {n},decentlab-dl-ds18,road,hill,"
            "52.62,1.29,false,council,"
        )
    devices_csv = directory / "devices.csv"
    devices_csv.write_text("\n".join(lines) + "\n")
    for args in (("routes", "import", str(routes)), ("devices", "import", str(devices_csv))):
        result = wherry(*args, env=env)
        assert result.returncode == 0, result.stdout + result.stderr


def road_uplink(
    device_id: str, received_at_ns: int, f_cnt: int, application_id: str
) -> dict[str, Any]:
    return ttn_uplink(
        device_id,
        received_at_ns=received_at_ns,
        f_cnt=f_cnt,
        payload=dl_ds18_payload(1, round(2.0 - (f_cnt % 64) / 16, 4)),
        dev_eui=dev_eui(device_id),
        application_id=application_id,
    )


def publish_all(port: int, messages: list[tuple[str, bytes]], qos: int = 1) -> None:
    """Publish in order and return once the broker has acknowledged every message."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"publisher-{uuid.uuid4().hex[:8]}")
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, body, qos=qos) for topic, body in messages]
        for info in infos:
            info.wait_for_publish(timeout=60)
            assert info.is_published()
    finally:
        client.loop_stop()
        client.disconnect()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout} s")
        time.sleep(0.2)


def wait_for_http(url: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
