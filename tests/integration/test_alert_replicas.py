"""Three real `wherry run` processes on one PostgreSQL registry and one InfluxDB: only the holder
of the alert lease evaluates and notifies, it sees readings the others ingested, and when it is
killed a standby takes over without sending anything twice.

Readings go in through the webhook (`POST /ingest/ttn`) of the processes that do *not* hold the
lease, so the holder can only decide from what it reads back from the store.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from storage.registry import NewSubscription, Registry
from tests import servers
from tests.alerts.notify.receivers import WebhookReceiver
from tests.scale_support import influx_database_url, postgres_registry
from tests.uplinks import dl_ds18_payload, ttn_uplink
from tests.wherry_process import WherryRun, wherry

pytestmark = pytest.mark.integration

APP = "wherry-replicas"
INGEST_SECRET = "an-ingest-secret-for-the-replicas"
NOTIFY_SECRET = "a-webhook-secret-for-the-test"
MINUTE_NS = 60 * 1_000_000_000
LEASE_S = 3.0
ROUTES = "route_id,name,length_km,priority,area\nbank,Bank Road,6.4,1,Matlock\n"
DEVICES = (
    "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,field_map\n"
    "rst-1,70b3d57ed0000b01,Bank Road lower,decentlab-dl-ds18,road,bank,53.139,-1.554,false,,\n"
    "rst-2,70b3d57ed0000b02,Bank Road upper,decentlab-dl-ds18,road,bank,53.141,-1.553,false,,\n"
)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def registry_url() -> Iterator[str]:
    with postgres_registry("wherry_alert_replicas") as url:
        yield url


def uplinks(
    start_ns: int,
    celsius: Callable[[int], float],
    steps: int,
    f_cnt_from: int,
    rst_1_battery_v: float = 3.1,
) -> list[bytes]:
    """Both sensors every 10 minutes from `start_ns`, at `celsius(step)` (rst-2 0.05 °C warmer)."""
    bodies = []
    for step in range(steps):
        for number, device in enumerate(("rst-1", "rst-2"), start=1):
            uplink = ttn_uplink(
                device,
                received_at_ns=start_ns + step * 10 * MINUTE_NS + number,
                f_cnt=f_cnt_from + step,
                payload=dl_ds18_payload(
                    number,
                    round(celsius(step) + (number - 1) * 0.05, 2),
                    rst_1_battery_v if number == 1 else 3.1,
                ),
                application_id=APP,
                dev_eui=f"70b3d57ed0000b0{number}",
            )
            bodies.append(json.dumps(uplink).encode())
    return bodies


def post_round_robin(runs: list[tuple[WherryRun, int]], bodies: list[bytes]) -> None:
    with httpx.Client(timeout=10) as client:
        for n, body in enumerate(bodies):
            _, port = runs[n % len(runs)]
            response = client.post(
                f"http://127.0.0.1:{port}/ingest/ttn",
                content=body,
                headers={
                    "X-Wherry-Webhook-Secret": INGEST_SECRET,
                    "Content-Type": "application/json",
                },
            )
            assert response.status_code < 300, response.text


def notifications(receiver: WebhookReceiver) -> list[dict[str, object]]:
    return [json.loads(r.body) for r in receiver.received]


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def test_one_holder_evaluates_every_replicas_readings_and_a_standby_takes_over_after_a_kill(
    tmp_path: Path,
    registry_url: str,
    receiver: WebhookReceiver,
    influxd_server: servers.ServerProcess,
) -> None:
    base = {
        "WHERRY_REGISTRY_URL": registry_url,
        "WHERRY_STORE_URL": influx_database_url(influxd_server, "wherry_alert_replicas"),
        "WHERRY_WEBHOOK_SECRET": INGEST_SECRET,
        "WHERRY_ALERT_EVALUATION": "store",
        "WHERRY_ALERT_LEASE_S": str(LEASE_S),
        "WHERRY_ALERT_FOLLOW_INTERVAL_S": "0.3",
        # The test's readings are up to 160 minutes old when they arrive (real ones are
        # seconds old): the holder must look back that far to find them.
        "WHERRY_ALERT_FOLLOW_LOOKBACK_S": "10800",
        "WHERRY_FLUSH_INTERVAL": "0.2",
        "WHERRY_NOTIFY_BACKOFF_S": "0.2",
    }
    (tmp_path / "routes.csv").write_text(ROUTES)
    (tmp_path / "devices.csv").write_text(DEVICES)
    setup = {**base, "WHERRY_DATA_DIR": str(tmp_path / "setup")}
    for kind in ("routes", "devices"):
        result = wherry(kind, "import", str(tmp_path / f"{kind}.csv"), env=setup)
        assert result.returncode == 0, result.stdout + result.stderr
    registry = Registry(registry_url)
    registry.create_subscription(
        NewSubscription(
            "control room", "webhook", receiver.url, secret=NOTIFY_SECRET, domains=("road",)
        ),
        actor="test",
    )

    runs: list[tuple[WherryRun, int]] = []
    try:
        for n in range(3):
            port = servers.free_port()
            env = {
                **base,
                "WHERRY_DATA_DIR": str(tmp_path / f"data-{n}"),
                "WHERRY_API_PORT": str(port),
            }
            runs.append((WherryRun(env, tmp_path / f"wherry-{n}.log"), port))
        started = time.monotonic()
        for run, _ in runs:
            run.wait_for_log("HTTP API at", timeout=90)  # slow on a busy machine
        print(f"[replicas] three processes up in {time.monotonic() - started:.1f} s")

        def holder() -> int | None:
            lease = registry.lease("alerts")
            if lease is None or lease.expires_at.timestamp() < time.time():
                return None
            found = [n for n in range(len(runs)) if lease.holder.endswith(f"/data-{n}")]
            return found[0] if found else None  # holders are named by host and data dir

        wait_for(lambda: holder() is not None, 20, "a process takes the alert lease")
        first = holder()
        assert first is not None
        runs[first][0].wait_for_log("this process evaluates alerts")
        standbys = [runs[n] for n in range(3) if n != first]

        # A cold night, ending 40 minutes ago, through the two standbys only.
        now_ns = time.time_ns()
        cold = uplinks(now_ns - 160 * MINUTE_NS, lambda step: 3.0 - step * 0.29, 13, 0)
        post_round_robin(standbys, cold)

        def bank_treated() -> bool:
            states = [s.state for s in registry.route_statuses() if s.route_id == "bank"]
            return bool(states) and states[0] in ("FREEZING", "ICE_LIKELY")

        wait_for(bank_treated, 30, "the holder turns bank to TREAT from the standbys' readings")
        wait_for(
            lambda: any(
                b["key"] == "gritting:bank"
                and b["severity"] == "critical"
                and b["status"] != "cleared"
                for b in notifications(receiver)
            ),
            15,
            "the TREAT alert is notified",
        )
        time.sleep(LEASE_S)  # time for a (wrong) second announcement from another process
        before_kill = notifications(receiver)
        steps = Counter((b["alert_id"], b["event"]) for b in before_kill)
        assert steps and max(steps.values()) == 1, steps
        treat = [
            t
            for t in registry.route_transitions(route_id="bank")
            if t.recommendation == "TREAT" and t.state != "UNKNOWN"
        ]
        assert len(treat) == 1, treat
        [open_bank] = [a for a in registry.open_alerts() if a.key == "gritting:bank"]
        assert open_bank.severity == "critical"
        for n, (run, _) in enumerate(runs):
            if n != first:
                assert "this process evaluates alerts" not in run.log

        # The holder dies; a standby takes over and carries on without repeating anything.
        killed_at = time.monotonic()
        runs[first][0].process.kill()
        runs[first][0].process.wait()
        wait_for(lambda: holder() not in (None, first), 4 * LEASE_S + 10, "a standby takes over")
        second = holder()
        assert second is not None and second != first
        runs[second][0].wait_for_log("this process evaluates alerts")
        takeover_s = time.monotonic() - killed_at
        survivors = [runs[n] for n in range(3) if n != first]

        # The night goes on, through the survivors; rst-1's battery runs low: a new alert,
        # announced once by the new holder, while the TREAT already announced stays unsaid.
        colder = uplinks(now_ns - 30 * MINUTE_NS, lambda step: -0.6, 3, 100, rst_1_battery_v=2.8)
        post_round_robin(survivors, colder)
        wait_for(
            lambda: any(
                b["key"] == "battery:rst-1" and b["event"] == "raised"
                for b in notifications(receiver)
            ),
            30,
            "the low battery is notified",
        )
        time.sleep(LEASE_S)  # time for a (wrong) repeat of anything
        after = notifications(receiver)[len(before_kill) :]
        assert [b["key"] for b in after if b["event"] == "raised"] == ["battery:rst-1"], after
        repeated = {(b["alert_id"], b["event"]) for b in after} & set(steps)
        assert repeated == set(), f"sent again after the takeover: {repeated}"
        everything = Counter((b["alert_id"], b["event"]) for b in notifications(receiver))
        assert max(everything.values()) == 1, everything
        treat_after = [
            t
            for t in registry.route_transitions(route_id="bank")
            if t.recommendation == "TREAT" and t.state != "UNKNOWN"
        ]
        assert treat_after == treat  # the takeover's warm-up is not a new transition
        assert "this process evaluates alerts" not in runs[3 - first - second][0].log
        print(f"[replicas] takeover after kill -9: {takeover_s:.1f} s (lease {LEASE_S} s)")
        assert takeover_s < 2 * LEASE_S + 10
    finally:
        for run, _ in runs:
            if run.alive():
                run.terminate(30)
            run.kill()
        registry.close()
