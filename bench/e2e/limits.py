"""The two limits wherry sits between, measured in the same run as wherry itself.

- The broker's delivery rate: the same uplinks, published as fast as the broker takes them,
  delivered at QoS 0 to a plain `mosquitto_sub -C N` (output to /dev/null) and to a plain
  paho-mqtt subscriber that parses each message with orjson (`paho_subscriber`), each
  alone. Rate = N / (first publish → subscriber has the N-th). The publisher shares the two
  cores, so the figure is what this machine delivers end to end (as wherry is measured),
  not the broker alone; the broker alone is `mosquitto_sub` draining a queued session.
- InfluxDB's ingest rate for exactly the line protocol wherry writes for these uplinks
  (`gateway_bridge.points` through `storage.line_protocol`), posted in 5,000-line
  batches from one writer, uncompressed, one request after another.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.e2e import publisher
from bench.e2e.fleet import FIELD_MAPS, Device, Uplinks
from bench.e2e.lifecycle import stopped_at_exit
from bench.e2e.mqtt_wire import discard_session
from decoders import decode, parse_field_map
from gateway_bridge.envelopes import parse_message
from gateway_bridge.points import reading_points, uplink_point
from storage.line_protocol import encode_point
from storage.registry import DeviceRecord
from tests.servers import require_binary

LINES_PER_POST = 5_000
Progress = Callable[[str], None]


def _publish_and_wait(
    subscriber: subprocess.Popen[bytes],
    broker_port: int,
    feed: publisher.Feed,
    workdir: Path,
    timeout_s: float,
) -> tuple[dict[str, Any], float | None]:
    """Publish `feed` while `subscriber` listens: (publisher's result, when the subscriber
    exited, or None if it did not within `timeout_s`)."""
    out = workdir / f"publisher-{feed.application}.json"
    process = publisher.launch(broker_port, feed, out)
    with stopped_at_exit(process):
        deadline = time.monotonic() + timeout_s
        exited_at: float | None = None
        while time.monotonic() < deadline:
            if exited_at is None and subscriber.poll() is not None:
                exited_at = time.monotonic()
            if exited_at is not None and process.poll() is not None:
                break
            time.sleep(0.002)
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
    return publisher.result(out), exited_at


def _mosquitto_sub(broker_port: int, feed: publisher.Feed, *, qos: int) -> list[str]:
    """`mosquitto_sub` on the feed's uplink topic (more options follow it)."""
    binary = require_binary("mosquitto_sub", "apt-get install mosquitto-clients")
    topic = f"v3/{feed.application}@ttn/devices/+/up"
    return [binary, "-h", "127.0.0.1", "-p", str(broker_port), "-t", topic, "-q", str(qos)]


def _start_quietly(command: list[str]) -> subprocess.Popen[bytes]:
    """A subscriber whose output is thrown away, in its own session (stopped as a group)."""
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def mosquitto_sub_rate(
    broker_port: int, feed: publisher.Feed, workdir: Path, timeout_s: float = 300.0
) -> dict[str, Any]:
    subscriber = _start_quietly([*_mosquitto_sub(broker_port, feed, qos=0), "-C", str(feed.count)])
    with stopped_at_exit(subscriber):
        time.sleep(1.0)  # mosquitto_sub says nothing when subscribed; it is by now
        published, done = _publish_and_wait(subscriber, broker_port, feed, workdir, timeout_s)
    return _rate("mosquitto_sub (QoS 0)", feed.count, published, done, feed.count if done else None)


def mosquitto_sub_drain_rate(
    broker_port: int, feed: publisher.Feed, workdir: Path, timeout_s: float = 300.0
) -> dict[str, Any]:
    """The broker alone: the feed is queued first for an offline persistent QoS 1 session,
    then `mosquitto_sub -C N` reconnects and takes it all; rate = N / (connect → exit).

    Nothing else runs while it drains, so this is the broker's delivery rate without the
    publisher sharing the cores (QoS 1: the broker also handles a PUBACK per message)."""
    client_id = f"bench-drain-{feed.application}"
    session = [*_mosquitto_sub(broker_port, feed, qos=1), "-c", "-i", client_id]
    subprocess.run([*session, "-E"], check=True, timeout=30, capture_output=True)
    out = workdir / f"publisher-{feed.application}.json"
    process = publisher.launch(broker_port, feed, out)
    with stopped_at_exit(process):
        process.wait(timeout=timeout_s)
    published = publisher.result(out)
    started = time.monotonic()
    subscriber = _start_quietly([*session, "-C", str(feed.count)])
    with stopped_at_exit(subscriber):
        try:
            subscriber.wait(timeout=timeout_s)
            seconds: float | None = time.monotonic() - started
        except subprocess.TimeoutExpired:
            seconds = None
    discard_session(broker_port, client_id)
    return {
        "label": "mosquitto_sub draining a queued session (QoS 1)",
        "uplinks": feed.count,
        "received": feed.count if seconds is not None else None,
        "seconds": None if seconds is None else round(seconds, 3),
        "per_second": None if seconds is None else round(feed.count / seconds),
        "publisher_per_second": round(
            feed.count / (published["acked_done"] - published["started"])
        ),
    }


def paho_parse_rate(
    broker_port: int, feed: publisher.Feed, workdir: Path, timeout_s: float = 300.0
) -> dict[str, Any]:
    out = workdir / "paho-subscriber.json"
    command = [
        sys.executable,
        "-m",
        "bench.e2e.paho_subscriber",
        f"--port={broker_port}",
        f"--topic=v3/{feed.application}@ttn/devices/+/up",
        f"--count={feed.count}",
        f"--out={out}",
    ]
    subscriber = subprocess.Popen(
        command, cwd=publisher.ROOT, stdout=subprocess.PIPE, start_new_session=True
    )
    with stopped_at_exit(subscriber):
        assert subscriber.stdout is not None
        if subscriber.stdout.readline().strip() != b"subscribed":
            raise RuntimeError("the paho subscriber did not subscribe")
        published, _ = _publish_and_wait(subscriber, broker_port, feed, workdir, timeout_s)
        subscriber.wait(timeout=60)
    state = json.loads(out.read_text())
    done = state["last"] if state["received"] >= feed.count else None
    return _rate("paho-mqtt + orjson.loads (QoS 0)", feed.count, published, done, state["received"])


def _rate(
    label: str, count: int, published: dict[str, Any], done: float | None, received: int | None
) -> dict[str, Any]:
    seconds = None if done is None else done - published["started"]
    publish_s = published["acked_done"] - published["started"]
    return {
        "label": label,
        "uplinks": count,
        "received": received,
        "seconds": None if seconds is None else round(seconds, 3),
        "per_second": None if seconds is None else round(count / seconds),
        "publisher_per_second": round(count / publish_s) if publish_s > 0 else None,
    }


# -- InfluxDB -------------------------------------------------------------------------------


def device_record(device: Device) -> DeviceRecord:
    return DeviceRecord(
        device_id=device.device_id,
        dev_eui=device.dev_eui,
        name=None,
        decoder=device.decoder,
        domain=device.kind,
        route_id=device.route_id,
        latitude=None,
        longitude=None,
        public=device.kind == "air",
        owner="council",
        field_map=parse_field_map(FIELD_MAPS[device.kind]),
        site=None,
        application_id=None,
        status="active",
        notes=None,
    )


def wherry_lines(uplinks: Uplinks, count: int, progress: Progress) -> list[bytes]:
    """The line protocol wherry writes for uplinks 0…count-1: one line per point."""
    records = [device_record(d) for d in uplinks.fleet]
    lines: list[bytes] = []
    for k in range(count):
        device = records[uplinks.device(k)]
        uplink = parse_message(uplinks.topics[uplinks.device(k)].decode(), uplinks.body(k))
        assert uplink is not None
        decoded = decode(device.decoder, uplink.payload, uplink.f_port, field_map=device.field_map)
        points = [uplink_point(uplink, device.device_id)]
        points.extend(reading_points(uplink, device, decoded.readings))
        lines.extend(encode_point(p).encode() for p in points)
        if k and k % 50_000 == 0:
            progress(f"InfluxDB limit: line protocol for {k:,} of {count:,} uplinks built")
    return lines


def influx_ingest_rate(
    influx_port: int, database: str, lines: list[bytes], uplinks: int
) -> dict[str, Any]:
    with httpx.Client(base_url=f"http://127.0.0.1:{influx_port}", timeout=120) as client:
        client.post("/query", params={"q": f'CREATE DATABASE "{database}"'}).raise_for_status()
        bodies = [
            b"\n".join(lines[at : at + LINES_PER_POST])
            for at in range(0, len(lines), LINES_PER_POST)
        ]
        started = time.monotonic()
        for body in bodies:
            response = client.post(
                "/write", params={"db": database, "precision": "ns"}, content=body
            )
            if response.status_code != 204:
                raise RuntimeError(f"InfluxDB refused a batch: {response.text[:300]}")
        seconds = time.monotonic() - started
    return {
        "label": f"InfluxDB /write, {LINES_PER_POST:,}-line batches, one writer",
        "points": len(lines),
        "uplinks": uplinks,
        "points_per_uplink": round(len(lines) / uplinks, 2),
        "seconds": round(seconds, 3),
        "points_per_second": round(len(lines) / seconds),
        "per_second": round(uplinks / seconds),
    }
