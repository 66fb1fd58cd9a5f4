"""`wherry run` as the benchmark runs it: production defaults, QoS 1, alert engine on.

One process subscribes to `v3/{application}@ttn/devices/+/up` with a persistent QoS 1
session (each phase has its own application id, so a stopped bridge's session never
collects a later phase's uplinks). With `workers` > 1, that many processes share
`$share/wherry/…` as docs/scale-out.md runs them (own data dir each, no API, the alert
engine fed from the store by the lease holder: `WHERRY_ALERT_EVALUATION=store`), on the
same SQLite registry. Only what must differ from the defaults is set.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from bench.e2e.fleet import Device, registry_csvs
from bench.e2e.mqtt_wire import discard_session
from tests.wherry_process import WherryRun
from wherry.imports import import_devices_file, import_routes_file
from wherry.settings import Settings


def register(fleet: list[Device], directory: Path) -> str:
    """Register the fleet in a new SQLite registry, as `wherry routes/devices import` do;
    returns the registry URL."""
    directory.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{directory / 'registry.db'}"
    settings = Settings(data_dir=directory / "cli", registry_url=url)
    devices_csv, routes_csv = registry_csvs(fleet, directory)
    said: list[str] = []
    if import_routes_file(settings, routes_csv, dry_run=False, echo=said.append) != 0:
        raise RuntimeError("routes import failed: " + "\n".join(said))
    if import_devices_file(settings, devices_csv, dry_run=False, echo=said.append) != 0:
        raise RuntimeError("devices import failed: " + "\n".join(said))
    return url


@dataclass
class Bridge:
    """The running bridge processes of one phase."""

    runs: list[WherryRun]
    client_ids: list[str]
    counters: list[dict[str, int]] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [run.process.pid for run in self.runs]


def _stopped_counters(log: str) -> dict[str, int]:
    """The counts `wherry run` logs when it stops cleanly (`stopped: {...}`)."""
    found = re.findall(r"stopped: (\{.*\})", log)
    if not found:
        return {}
    counts: dict[str, int] = ast.literal_eval(found[-1])
    return counts


@contextmanager
def wherry_bridge(
    directory: Path,
    *,
    registry_url: str,
    broker_port: int,
    influx_port: int,
    database: str,
    application: str,
    workers: int = 1,
    alert_evaluation: str = "inline",
) -> Iterator[Bridge]:
    """Start the bridge, wait until it is subscribed, yield it; stop it with SIGTERM (as
    systemd does) and drop its broker sessions. One process evaluates alerts as
    `alert_evaluation` says; workers always from the store, as docs/scale-out.md runs them."""
    shared = workers > 1
    directory.mkdir(parents=True, exist_ok=True)
    topic = f"v3/{application}@ttn/devices/+/up"
    runs: list[WherryRun] = []
    client_ids = [f"bench-{database}-{n}" for n in range(1, workers + 1)]
    bridge = Bridge(runs, client_ids)
    try:
        for n, client_id in enumerate(client_ids, 1):
            env = {
                "WHERRY_DATA_DIR": str(directory / f"{database}-{n}"),
                "WHERRY_REGISTRY_URL": registry_url,
                "WHERRY_STORE_URL": f"influxdb://127.0.0.1:{influx_port}/{database}",
                "WHERRY_MQTT_URL": f"mqtt://127.0.0.1:{broker_port}",
                "WHERRY_MQTT_TOPICS": f"$share/wherry/{topic}" if shared else topic,
                "WHERRY_MQTT_QOS": "1",
                "WHERRY_MQTT_CLIENT_ID": client_id,
                "WHERRY_ALERT_EVALUATION": alert_evaluation,
            }
            if shared:
                env |= {"WHERRY_SERVE_API": "false", "WHERRY_ALERT_EVALUATION": "store"}
            runs.append(WherryRun(env, directory / f"wherry-{database}-{n}.log"))
        for run in runs:
            run.wait_for_log("MQTT subscribed to", timeout=120)
        yield bridge
    finally:
        for run in runs:
            try:
                run.terminate(timeout=60)
            except Exception:
                run.kill()
            bridge.counters.append(_stopped_counters(run.log))
        for client_id in client_ids:
            with suppress(OSError):  # the broker is gone already: nothing is queued
                discard_session(broker_port, client_id)
