"""The benchmark's publisher, in its own process so the harness's GIL never slows it:

    python -m bench.e2e.publisher --port P --application A --count N [--rate R]
                                  [--devices 1000] [--base-ns T] [--first-round F]
                                  --out checkpoints.json

Publishes uplinks 0…N-1 of `fleet.Uplinks` at QoS 1 on one connection, as fast as the
broker takes them (at most `--window` unacknowledged) or paced at `--rate` per second
(open loop: uplink k is due at start + k / rate). A reader thread counts PUBACKs.

It writes `(monotonic time, sent, acknowledged)` checkpoints at least every 10 ms to
`--out` when done; `time.monotonic()` is the system-wide CLOCK_MONOTONIC, so the harness
compares these times with its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.e2e.fleet import Uplinks  # noqa: E402
from bench.e2e.mqtt_wire import DISCONNECT, PUBACK_SIZE, open_session, publish_qos1  # noqa: E402

BURST_BATCH = 400
CHECKPOINT_EVERY_S = 0.01
PACE_TICK_S = 0.002


def peak_rss_mb() -> float:
    """VmHWM of this process (ru_maxrss would carry the parent's peak over fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class AckCounter(threading.Thread):
    """Counts PUBACKs: after CONNACK the broker sends this client nothing else."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(name="puback-reader", daemon=True)
        self.sock = sock
        self.received_bytes = 0
        self.closed = False

    @property
    def acknowledged(self) -> int:
        return self.received_bytes // PUBACK_SIZE

    def run(self) -> None:
        while True:
            try:
                chunk = self.sock.recv(1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                return
            self.received_bytes += len(chunk)


def publish(
    port: int,
    uplinks: Uplinks,
    count: int,
    *,
    rate: float,
    window: int,
    timeout_s: float,
) -> dict[str, object]:
    sock = open_session(port, f"bench-publisher-{uuid.uuid4().hex[:8]}")
    acks = AckCounter(sock)
    acks.start()
    checkpoints: list[tuple[float, int, int]] = []
    topics, body = uplinks.topics, uplinks.body
    devices = len(uplinks.fleet)
    sent, last_checkpoint = 0, 0.0
    started = time.monotonic()
    checkpoints.append((started, 0, 0))
    while sent < count:
        now = time.monotonic()
        if rate > 0:
            due = min(count, int((now - started) * rate) + 1)
            if due <= sent:
                time.sleep(PACE_TICK_S)
                continue
            batch = due - sent
        else:
            room = window - (sent - acks.acknowledged)
            if room <= 0:
                if acks.closed:
                    raise ConnectionError("the broker closed the connection")
                time.sleep(0.0005)
                continue
            batch = min(BURST_BATCH, count - sent, room)
        frames = []
        for k in range(sent, sent + batch):
            frames.append(publish_qos1(topics[k % devices], k % 65535 + 1, body(k)))
        sock.sendall(b"".join(frames))
        sent += batch
        now = time.monotonic()
        if now - last_checkpoint >= CHECKPOINT_EVERY_S or sent == count:
            checkpoints.append((now, sent, acks.acknowledged))
            last_checkpoint = now
    sent_done = time.monotonic()
    deadline = sent_done + timeout_s
    while acks.acknowledged < count and time.monotonic() < deadline and not acks.closed:
        time.sleep(0.001)
    acked_done = time.monotonic()
    checkpoints.append((acked_done, sent, acks.acknowledged))
    sock.sendall(DISCONNECT)
    sock.close()
    used = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_s": round(used.ru_utime + used.ru_stime, 2),
        "rss_peak_mb": peak_rss_mb(),
        "count": count,
        "acknowledged": acks.acknowledged,
        "rate": rate,
        "started": started,
        "sent_done": sent_done,
        "acked_done": acked_done,
        "checkpoints": checkpoints,
    }


@dataclass(frozen=True)
class Feed:
    """What one publisher process sends: `count` uplinks of application `application`."""

    application: str
    count: int
    devices: int
    base_ns: int
    rate: float = 0.0  # per second; 0: a burst
    first_round: int = 0


def launch(port: int, feed: Feed, out: Path) -> subprocess.Popen[bytes]:
    """Start the publisher process (its own session: Ctrl-C reaches the harness only)."""
    command = [
        sys.executable,
        "-m",
        "bench.e2e.publisher",
        f"--port={port}",
        f"--application={feed.application}",
        f"--count={feed.count}",
        f"--rate={feed.rate}",
        f"--devices={feed.devices}",
        f"--base-ns={feed.base_ns}",
        f"--first-round={feed.first_round}",
        f"--out={out}",
    ]
    return subprocess.Popen(command, cwd=ROOT, start_new_session=True)


def result(out: Path) -> dict[str, Any]:
    """What a finished publisher wrote: times, counts and `(t, sent, acked)` checkpoints."""
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--application", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0.0, help="per second; 0: a burst")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--base-ns", type=int, default=1_768_446_000_000_000_000)
    parser.add_argument("--first-round", type=int, default=0)
    parser.add_argument("--window", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    uplinks = Uplinks(args.devices, args.application, args.base_ns, args.first_round)
    result = publish(
        args.port, uplinks, args.count, rate=args.rate, window=args.window, timeout_s=args.timeout
    )
    args.out.write_text(json.dumps(result))
    return 0 if result["acknowledged"] == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
