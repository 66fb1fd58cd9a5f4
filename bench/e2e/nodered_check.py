"""Checks of the Node-RED peer outside the harness's measured run.

    python -m bench.e2e.nodered_check                  # decoders, then both flows, 300 uplinks
    python -m bench.e2e.nodered_check --count 20000    # a burst: rate, loss and RSS per flow

- `check_decoders()` (needs only `node`): the function node's JavaScript decodes the
  benchmark's three payloads exactly as wherry's decoders do, and times each point with
  the uplink's received_at to the nanosecond. The harness calls it before a run, so a
  peer that stores different numbers is never measured.
- `check_flow()`: one flow end to end against its own Mosquitto and InfluxDB, fed by the
  harness's publisher: how many uplinks were stored, at what rate, Node-RED's peak RSS,
  and (when asked) that every stored point carries the values wherry's decoders read.
"""

from __future__ import annotations

import argparse
import base64
import calendar
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.e2e import nodered  # noqa: E402
from bench.e2e.fleet import Uplinks, devices  # noqa: E402
from decoders.registry import get_decoder  # noqa: E402
from tests import servers  # noqa: E402

APPLICATION = "wherry-bench"
TOPIC = "v3/+/devices/+/up"
DEFAULT_CACHE = Path.home() / ".cache" / "wherry-bench" / "node-red"
# No new point for this long after the last PUBACK: the flow is done. The per-message flow
# stalls for 20 s and more in a burst (thousands of parallel HTTP writes wait on InfluxDB's
# WAL) and then catches up, so anything shorter counts late points as lost.
SETTLE_S = 30.0
_RUN_JS = """
const fs = require("fs");
const source = fs.readFileSync(process.argv[1], "utf8");
const decodeUplink = new Function("Buffer", source + "\\nreturn decodeUplink;")(Buffer);
const uplinks = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(uplinks.map(decodeUplink)));
"""


_DECODER_OF = {device.device_id: device.decoder for device in devices(1000)}


class PeerMismatch(AssertionError):
    """The Node-RED peer stores something other than what wherry's decoders read."""


def received_at_ns(text: str) -> int:
    """RFC 3339 with up to nine fractional digits and a Z, in nanoseconds since the epoch."""
    seconds, _, fraction = text.rstrip("Z").partition(".")
    whole = calendar.timegm(datetime.strptime(seconds, "%Y-%m-%dT%H:%M:%S").timetuple())
    return whole * 1_000_000_000 + int(fraction.ljust(9, "0")[:9] or 0)


def expected_point(uplink: dict[str, Any]) -> tuple[str, dict[str, Any], int]:
    """(device_id, fields, time_ns) of the point a flow should store, by wherry's decoders."""
    device_id = uplink["end_device_ids"]["device_id"]
    message = uplink["uplink_message"]
    decoder = get_decoder(_DECODER_OF[device_id])
    fields = decoder.decode_fields(base64.b64decode(message["frm_payload"]), message.get("f_port"))
    fields = {k: v for k, v in fields.items() if k not in {"protocol_version", "device_id"}}
    fields["f_cnt"] = message.get("f_cnt", 0)
    return device_id, fields, received_at_ns(message["received_at"])


def same_fields(got: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Same field names, and values equal but for float rounding (JS and Python divide alike)."""
    return got.keys() == wanted.keys() and all(
        math.isclose(float(got[k]), float(wanted[k]), rel_tol=1e-9, abs_tol=1e-9) for k in wanted
    )


def sample_uplinks(count: int = 30) -> list[dict[str, Any]]:
    """The harness's own uplinks (every kind of device): 0…count-1 of a 1,000-device fleet."""
    uplinks = Uplinks(1000, APPLICATION, 1_768_446_000_000_000_000)
    return [json.loads(uplinks.body(k)) for k in range(count)]


def check_decoders(uplinks: list[dict[str, Any]] | None = None) -> int:
    """Decode `uplinks` with the flows' JavaScript and with wherry; raise on any difference."""
    uplinks = uplinks if uplinks is not None else sample_uplinks()
    node = nodered.require_program("node")
    result = subprocess.run(
        [node, "-e", _RUN_JS, str(nodered.FLOW_SOURCES / "decoders.js")],
        input=json.dumps(uplinks),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    decoded = json.loads(result.stdout)
    for uplink, got in zip(uplinks, decoded, strict=True):
        device_id, fields, time_ns = expected_point(uplink)
        if got is None:
            raise PeerMismatch(f"the Node-RED decoders read nothing from {device_id}'s uplink")
        if got["device_id"] != device_id or int(got["time"]) != time_ns:
            raise PeerMismatch(f"{device_id}: {got['device_id']} at {got['time']}, not {time_ns}")
        if not same_fields(got["fields"], fields):
            raise PeerMismatch(f"{device_id}: Node-RED decodes {got['fields']}, wherry {fields}")
    return len(uplinks)


@dataclass
class FlowRun:
    flow: str
    published: int
    acknowledged: int
    stored: int
    loss_pct: float
    seconds: float  # first publish → last point stored
    uplinks_per_s: float
    peak_rss_mb: float
    peak_open_files: int  # the per-message flow opens a socket per write in flight
    values_checked: int


class ProcessSampler(threading.Thread):
    """Peak resident memory and open files of one process, sampled every 100 ms from /proc."""

    def __init__(self, pid: int) -> None:
        super().__init__(name="node-red-sampler", daemon=True)
        self.pid = pid
        self.peak_rss_bytes = 0
        self.peak_open_files = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        status, fds = Path(f"/proc/{self.pid}/status"), Path(f"/proc/{self.pid}/fd")
        while not self.stopped.wait(0.1):
            try:
                text = status.read_text()
                open_files = sum(1 for _ in fds.iterdir())
            except OSError:
                return
            self.peak_open_files = max(self.peak_open_files, open_files)
            for line in text.splitlines():
                if line.startswith("VmRSS:"):
                    self.peak_rss_bytes = max(self.peak_rss_bytes, int(line.split()[1]) * 1024)


def influx_query(port: int, database: str, query: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"http://127.0.0.1:{port}/query",
        params={"db": database, "q": query, "epoch": "ns"},
        timeout=30,
    )
    response.raise_for_status()
    series = response.json()["results"][0].get("series", [])
    return [dict(zip(s["columns"], row, strict=True)) for s in series for row in s["values"]]


def stored_count(port: int, database: str) -> int:
    measurement, field = nodered.COUNTED
    rows = influx_query(port, database, f'SELECT count("{field}") FROM "{measurement}"')
    return int(rows[0]["count"]) if rows else 0


def check_values(port: int, database: str, published: list[dict[str, Any]]) -> int:
    """Every stored point is the one wherry's decoders read from a published uplink."""
    measurement, _ = nodered.COUNTED
    rows = influx_query(port, database, f'SELECT * FROM "{measurement}"')
    stored = {(row["device_id"], int(row["time"])): row for row in rows}
    for uplink in published:
        device_id, fields, time_ns = expected_point(uplink)
        row = stored.get((device_id, time_ns))
        if row is None:
            raise PeerMismatch(f"no point for {device_id} at {time_ns}")
        got = {k: v for k, v in row.items() if k in fields}
        if not same_fields(got, fields):
            raise PeerMismatch(f"{device_id} at {time_ns}: stored {row}, wherry reads {fields}")
    return len(published)


def check_flow(
    installed: Path,
    workdir: Path,
    *,
    batched: bool,
    count: int,
    rate: float = 0.0,
    check_stored_values: bool = True,
) -> FlowRun:
    """Publish `count` uplinks (a burst, or paced at `rate`) through one flow and count."""
    broker = servers.mosquitto(workdir / "mosquitto")
    influx = servers.influxd(workdir / "influxd")
    database = "nodered_batched" if batched else "nodered_per_message"
    try:
        with nodered.node_red(
            workdir,
            installed=installed,
            broker_port=broker.port,
            influx_port=influx.port,
            database=database,
            topic=TOPIC,
            batched=batched,
        ) as pid:
            sampler = ProcessSampler(pid)
            sampler.start()
            out = workdir / "publisher.json"
            publisher = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.e2e.publisher",
                    "--port",
                    str(broker.port),
                    "--application",
                    APPLICATION,
                    "--count",
                    str(count),
                    "--rate",
                    str(rate),
                    "--out",
                    str(out),
                ],
                cwd=ROOT,
            )
            stored, last_change = 0, time.monotonic()
            while True:
                time.sleep(0.25)
                now_stored = stored_count(influx.port, database)
                if now_stored != stored:
                    stored, last_change = now_stored, time.monotonic()
                done = publisher.poll() is not None
                if stored >= count or (done and time.monotonic() - last_change > SETTLE_S):
                    break
            publisher.wait()
            sampler.stopped.set()
            report = json.loads(out.read_text())
            checked = 0
            if check_stored_values and stored == count:
                checked = check_values(influx.port, database, sample_uplinks(count))
    finally:
        influx.stop()
        broker.stop()
    seconds = last_change - float(report["started"])
    return FlowRun(
        flow="batched" if batched else "per message",
        published=count,
        acknowledged=int(report["acknowledged"]),
        stored=stored,
        loss_pct=round(100 * (count - stored) / count, 2),
        seconds=round(seconds, 2),
        uplinks_per_s=round(stored / seconds) if seconds > 0 else 0,
        peak_rss_mb=round(sampler.peak_rss_bytes / 2**20, 1),
        peak_open_files=sampler.peak_open_files,
        values_checked=checked,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="uplinks per flow")
    parser.add_argument("--rate", type=float, default=0.0, help="per second; 0: a burst")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--workdir", type=Path, help="keep the servers' and Node-RED's files here")
    parser.add_argument("--flow", choices=["both", "per-message", "batched"], default="both")
    args = parser.parse_args(argv)
    say: Callable[[str], None] = lambda text: print(text, flush=True)  # noqa: E731
    say(f"decoders: {check_decoders()} uplinks decoded as wherry decodes them")
    installed = nodered.install(args.cache, say)
    flows = {"both": (False, True), "per-message": (False,), "batched": (True,)}[args.flow]
    for batched in flows:
        with tempfile.TemporaryDirectory(prefix="wherry-nodered-") as scratch:
            workdir = Path(scratch)
            if args.workdir is not None:
                workdir = args.workdir / ("batched" if batched else "per-message")
                workdir.mkdir(parents=True, exist_ok=True)
            run = check_flow(
                installed,
                workdir,
                batched=batched,
                count=args.count,
                rate=args.rate,
                check_stored_values=args.count <= 5000,
            )
        say(json.dumps(asdict(run)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
