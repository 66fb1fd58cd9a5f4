"""A plain paho-mqtt subscriber that only parses each message with orjson: the ceiling of
any Python bridge on one connection, in its own process.

    python -m bench.e2e.paho_subscriber --port P --topic T --count N --out result.json

Subscribes at QoS 0, prints `subscribed` once the broker granted it, and stops after
`--count` messages or `--idle` seconds without one. Writes the number received and the
monotonic times of the first and last.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--idle", type=float, default=15.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    state: dict[str, Any] = {"received": 0, "first": None, "last": None, "parsed_bytes": 0}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-paho-parse")

    def on_connect(client: mqtt.Client, *_: Any) -> None:
        client.subscribe(args.topic, qos=0)

    def on_subscribe(*_: Any) -> None:
        print("subscribed", flush=True)

    def on_message(_client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        document = orjson.loads(message.payload)
        state["parsed_bytes"] += len(message.payload) if document else 0
        now = time.monotonic()
        if state["first"] is None:
            state["first"] = now
        state["last"] = now
        state["received"] += 1

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect("127.0.0.1", args.port)
    while state["received"] < args.count:
        client.loop(timeout=0.5)
        if state["last"] is not None and time.monotonic() - state["last"] > args.idle:
            break
    client.disconnect()
    args.out.write_text(json.dumps(state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
