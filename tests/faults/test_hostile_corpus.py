"""A hostile corpus interleaved with good traffic, over MQTT and the webhook, into a real
`wherry run` writing to a real InfluxDB.

Good uplinks are all stored intact; every bad message is dead-lettered with its reason
(or, from an unknown device, kept as a sighting with its id intact); nothing the
messages contain reaches line protocol or SQL as syntax: no extra measurement, tag key
or series appears in InfluxDB, and the registry's tables are untouched.

Observed counts are printed (pytest -s) for docs/reliability.md.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage import open_store
from storage.registry import Registry
from tests import servers
from tests.ingest_support import (
    ROAD_DEVICES,
    dev_eui,
    publish_all,
    register_fleet,
    road_uplink,
    wait_for_http,
    wait_until,
)
from tests.uplinks import encode, ttn_topic
from tests.wherry_process import WherryRun

pytestmark = [pytest.mark.faults, pytest.mark.integration]

APP = "council-roads"
SECRET = "hostile-corpus-webhook-secret-42"
START_NS = 1_768_446_000_000_000_000
SECOND_NS = 1_000_000_000

# Unknown devices: kept as sightings, their ids byte for byte (NUL escaped as \x00, which
# PostgreSQL could not store).
HOSTILE_IDS = {
    "evil,tag=x": "evil,tag=x",
    "a b=c d": "a b=c d",
    'q"uote\\"': 'q"uote\\"',
    "x'); DROP TABLE devices;--": "x'); DROP TABLE devices;--",
    "ctl\x01\x1b[31mred": "ctl\x01\x1b[31mred",
    "line\nbreak,x=1 y=2 3": "line\nbreak,x=1 y=2 3",
    "nul\x00id": "nul\\x00id",
}
# Registered devices (matched by DevEUI) reporting a hostile device id: filed under the
# registered id (road-a), so the hostile id never becomes a tag at all.
CARRIABLE_TAG = 'road-a,injected=1 x="y"'
UNCARRIABLE_TAG = "road-a\nsneaky,device_id=z f=1 1"
HOSTILE_APPLICATION = 'app x,evil=1 "q"'
HOSTILE_GATEWAY = "gw,evil=1 x"


@dataclass(frozen=True)
class Bad:
    name: str
    body: bytes
    reason: str | None  # dead-letter reason; None: an uplink that is not a dead letter
    webhook_status: int


def good(f_cnt: int) -> tuple[str, bytes]:
    device_id = ROAD_DEVICES[f_cnt % len(ROAD_DEVICES)]
    message = road_uplink(device_id, START_NS + f_cnt * SECOND_NS, f_cnt, APP)
    return ttn_topic(device_id, APP), encode(message)


def variant(f_cnt: int, change: Any) -> bytes:
    message = road_uplink("road-a", START_NS + f_cnt * SECOND_NS + 1, f_cnt, APP)
    change(message)
    return json.dumps(message).encode()


def set_path(message: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        message = message[int(part)] if part.isdigit() else message[part]  # type: ignore[index]
    message[last] = value


def corpus(f_cnt: int) -> list[Bad]:
    body = good(f_cnt)[1]
    bad = [
        Bad("invalid utf-8", b"\xff\xfe" + body, "malformed_json", 400),
        Bad("truncated json", body[: len(body) // 3], "malformed_json", 400),
        Bad("deep arrays", b"[" * 5000 + b"]" * 5000, "malformed_json", 400),
        Bad("deep objects", b'{"a":' * 1000 + b"1" + b"}" * 1000, "malformed_json", 400),
        Bad("NaN", body.replace(b'"rssi":-97.0', b'"rssi":NaN'), "malformed_json", 400),
        Bad("Infinity", body.replace(b'"snr":7.5', b'"snr":-Infinity'), "malformed_json", 400),
        Bad("lone surrogate", body.replace(b'"road-', b'"\\ud800road-'), "malformed_json", 400),
        Bad("10 MB", body[:-1] + b',"pad":"' + b"x" * 10_000_000 + b'"}', "oversize", 413),
        Bad(
            "f_cnt as text",
            variant(f_cnt, lambda m: set_path(m, "uplink_message.f_cnt", "many")),
            "invalid_envelope",
            422,
        ),
        Bad(
            "device id a number",
            variant(f_cnt, lambda m: set_path(m, "end_device_ids.device_id", 42)),
            "invalid_envelope",
            422,
        ),
        Bad(
            "payload an object",
            variant(f_cnt, lambda m: set_path(m, "uplink_message.frm_payload", {"$ne": 1})),
            "invalid_envelope",
            422,
        ),
        Bad("a JSON array", b'[{"end_device_ids": {}}]', "invalid_envelope", 422),
        Bad(
            "invalid base64",
            variant(f_cnt, lambda m: set_path(m, "uplink_message.frm_payload", "A=B*C")),
            "invalid_base64",
            422,
        ),
    ]
    for device_id in HOSTILE_IDS:
        hostile = road_uplink(device_id, START_NS + f_cnt * SECOND_NS + 2, f_cnt, APP)
        hostile["end_device_ids"]["dev_eui"] = "0004A30B001C0530"  # nobody's
        bad.append(Bad(f"unknown id {device_id!r}", json.dumps(hostile).encode(), None, 202))
    return bad


def registered_with_hostile_metadata(f_cnt: int) -> list[bytes]:
    """Uplinks of road-a (found by its DevEUI) whose ids a forger filled with syntax."""
    at = START_NS + f_cnt * SECOND_NS
    messages = []
    for n, (path, value) in enumerate(
        [
            ("end_device_ids.device_id", CARRIABLE_TAG),
            ("end_device_ids.device_id", UNCARRIABLE_TAG),
            ("end_device_ids.application_ids.application_id", HOSTILE_APPLICATION),
            ("uplink_message.rx_metadata.0.gateway_ids.gateway_id", HOSTILE_GATEWAY),
        ],
        start=3,
    ):
        message = road_uplink("road-a", at + n, f_cnt, APP)
        message["end_device_ids"]["dev_eui"] = dev_eui("road-a").upper()
        set_path(message, path, value)
        messages.append(json.dumps(message).encode())
    # A number JSON allows that overflows to infinity: the uplink point (rssi) is refused
    # by the store and dead-lettered; the readings of the same uplink are stored.
    overflow = encode(road_uplink("road-a", at + 7, f_cnt, APP))
    messages.append(overflow.replace(b'"rssi":-97.0', b'"rssi":1e999'))
    return messages


def influx(port: int, database: str, query: str) -> list[list[Any]]:
    answer = httpx.get(f"http://127.0.0.1:{port}/query", params={"db": database, "q": query})
    answer.raise_for_status()
    result = answer.json()["results"][0]
    assert "error" not in result, result
    return [row for series in result.get("series", []) for row in series["values"]]


@dataclass
class Running:
    run: WherryRun
    env: dict[str, str]
    database: str
    api: str


@pytest.fixture
def running(
    tmp_path: Path,
    influxd_server: servers.ServerProcess,
    mosquitto_server: servers.ServerProcess,
) -> Iterator[Running]:
    database = f"hostile_{uuid.uuid4().hex[:10]}"
    api_port = servers.free_port()
    env = {
        "WHERRY_DATA_DIR": str(tmp_path / "data"),
        "WHERRY_STORE_URL": f"influxdb://127.0.0.1:{influxd_server.port}/{database}",
        "WHERRY_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto_server.port}",
        "WHERRY_MQTT_TOPICS": f"v3/{APP}@ttn/devices/+/up",
        "WHERRY_MQTT_QOS": "1",
        "WHERRY_MQTT_CLIENT_ID": f"wherry-hostile-{uuid.uuid4().hex[:8]}",
        "WHERRY_FLUSH_INTERVAL": "0.2",
        "WHERRY_API_PORT": str(api_port),
        "WHERRY_WEBHOOK_SECRET": SECRET,
        "WHERRY_MAX_MESSAGE_BYTES": "65536",
    }
    register_fleet(tmp_path, env, ROAD_DEVICES)
    run = WherryRun(env, tmp_path / "wherry.log")
    try:
        run.wait_for_log("subscribed", 30)
        api = f"http://127.0.0.1:{api_port}"
        wait_for_http(f"{api}/healthz")
        yield Running(run, env, database, api)
    finally:
        run.kill()


def test_hostile_corpus_over_mqtt_and_webhook(
    running: Running,
    influxd_server: servers.ServerProcess,
    mosquitto_server: servers.ServerProcess,
) -> None:
    rounds = 3
    stream: list[tuple[str, bytes]] = []
    expected_letters: Counter[str] = Counter()
    f_cnt = 0
    for _ in range(rounds):
        for bad in corpus(f_cnt):
            stream.append(good(f_cnt))
            f_cnt += 1
            stream.append((ttn_topic("hostile", APP), bad.body))
            if bad.reason is not None:
                expected_letters[bad.reason] += 1
        for body in registered_with_hostile_metadata(f_cnt):
            stream.append((ttn_topic("road-a", APP), body))
    mqtt_good = f_cnt
    publish_all(mosquitto_server.port, stream)

    # The same corpus through the webhook, each answered with its reason.
    statuses: Counter[tuple[str, int]] = Counter()
    with httpx.Client(base_url=running.api, headers={"X-Wherry-Webhook-Secret": SECRET}) as web:
        for bad in corpus(f_cnt):
            assert web.post("/ingest/ttn", content=good(f_cnt)[1]).status_code == 202
            f_cnt += 1
            answer = web.post("/ingest/ttn", content=bad.body, timeout=60)
            assert answer.status_code == bad.webhook_status, (bad.name, answer.text)
            if bad.reason is not None:
                assert answer.json()["reason"] == bad.reason, bad.name
                expected_letters[bad.reason] += 1
            statuses[(bad.name, answer.status_code)] += 1
    total_good = f_cnt

    database = running.database
    store = open_store(f"influxdb://127.0.0.1:{influxd_server.port}/{database}")
    try:
        road_counts = {
            device_id: store.count(
                "reading", "road_surface_temperature", tags={"device_id": device_id}
            )
            for device_id in ROAD_DEVICES
        }

        def all_good_stored() -> bool:
            road_counts.update(
                {
                    d: store.count("reading", "road_surface_temperature", tags={"device_id": d})
                    for d in ROAD_DEVICES
                }
            )
            # + road-a under the two hostile ids, the hostile application and gateway, and
            # with rssi 1e999
            return sum(road_counts.values()) >= total_good + 5 * rounds

        wait_until(all_good_stored, 120, "every good uplink stored")
        time.sleep(1.5)  # let the dead-letter and sighting batches land
        assert all_good_stored() and sum(road_counts.values()) == total_good + 5 * rounds
        # Values intact: road-b's readings are exactly what was sent.
        road_b = store.query("reading", tags={"device_id": "road-b"})
        assert [p.time_ns for p in road_b] == [
            START_NS + n * SECOND_NS for n in range(total_good) if n % 3 == 1
        ]
    finally:
        store.close()
    assert running.run.alive()

    # -- no injection into line protocol ------------------------------------------------------
    port = influxd_server.port
    measurements = {row[0] for row in influx(port, database, "SHOW MEASUREMENTS")}
    assert measurements == {"uplink", "reading"}
    tag_keys = {row[0] for row in influx(port, database, "SHOW TAG KEYS")}
    assert tag_keys == {"device_id", "application_id", "gateway", "domain", "route"}
    device_ids = {
        row[1]
        for row in influx(port, database, 'SHOW TAG VALUES FROM "uplink" WITH KEY = "device_id"')
    }
    assert device_ids == set(ROAD_DEVICES)
    applications = {
        row[1] for row in influx(port, database, 'SHOW TAG VALUES WITH KEY = "application_id"')
    }
    assert applications == {APP, HOSTILE_APPLICATION}
    gateways = {row[1] for row in influx(port, database, 'SHOW TAG VALUES WITH KEY = "gateway"')}
    assert gateways == {"council-gw-017", HOSTILE_GATEWAY}
    series = [row[0] for row in influx(port, database, "SHOW SERIES")]
    # uplink: road-a/b/c, and road-a under the hostile application and gateway; reading:
    # the same less the gateway one (readings carry no gateway tag). No more.
    assert sum(key.startswith("uplink,") for key in series) == len(ROAD_DEVICES) + 2
    assert sum(key.startswith("reading,") for key in series) == len(ROAD_DEVICES) + 1
    assert len(series) == 2 * len(ROAD_DEVICES) + 3
    field_keys = {row[0] for row in influx(port, database, 'SHOW FIELD KEYS FROM "uplink"')}
    assert field_keys <= {"bytes", "gateways", "f_cnt", "f_port", "rssi", "snr",
                          "spreading_factor", "airtime_ms"}  # fmt: skip

    assert running.run.terminate() == 0, running.run.log

    # -- every bad message kept with its reason; no SQL ran from the data ------------------------
    registry = Registry(f"sqlite:///{Path(running.env['WHERRY_DATA_DIR']) / 'registry.db'}")
    try:
        counts = registry.dead_letter_counts()
        rejected = counts.pop("store_rejected", 0)
        assert counts == dict(expected_letters)
        # per round: the uplink point whose rssi overflowed to infinity
        assert rejected == rounds
        sightings = {s.device_id: s.count for s in registry.sightings()}
        assert sightings == {stored: rounds + 1 for stored in HOSTILE_IDS.values()}
        assert sorted(d.device_id for d in registry.devices()) == sorted(ROAD_DEVICES)
        oversize = registry.dead_letters(reason="oversize", limit=1)[0]
        assert oversize.truncated and oversize.body_size > 65536
    finally:
        registry.close()

    print(
        f"\nhostile corpus: good uplinks {total_good} (MQTT {mqtt_good}, webhook "
        f"{total_good - mqtt_good}) all stored; dead letters {dict(expected_letters)} "
        f"+ store_rejected {rejected}; sightings {len(HOSTILE_IDS)} ids x {rounds + 1}; "
        f"InfluxDB measurements {sorted(measurements)}, {len(series)} series"
    )
