"""Two `wherry api` replicas on one PostgreSQL registry and one InfluxDB, as behind a load
balancer: webhook uplinks sent to either are stored once, what one replica writes the other
reads at once, concurrent edits through both serialise with an audit entry each, and an API
key issued on one works on the other and stops there within the key cache's 5 s after it is
revoked.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import servers
from tests.faults.harness import Fleet, report, wait_for
from tests.ingest_support import wait_for_http
from tests.scale_support import (
    count_uplinks,
    documented_command,
    influx_database_url,
    postgres_registry,
    register_fleet,
    stored_uplinks,
)
from tests.wherry_process import WherryRun, wherry

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

FLEET = Fleet(devices=20, per_device=20)  # 400 webhook uplinks
SECRET = "replicas-share-this-webhook-secret"
KEY_CACHE_TTL_S = 5.0  # api/key_cache.py


@dataclass
class Replica:
    name: str
    base: str
    run: WherryRun

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=10)


@dataclass
class Replicas:
    a: Replica
    b: Replica
    admin_token: str
    store_url: str

    @property
    def both(self) -> tuple[Replica, Replica]:
        return self.a, self.b


KEYS_CREATE = ("keys", "create", "--role", "admin", "--label", "ops")
NOT_DOCUMENTED = {"WHERRY_ALERTS", "WHERRY_FLUSH_INTERVAL"}  # in words, and test speed


def replica_env(data_dir: Path, port: int, registry_url: str, store_url: str) -> dict[str, str]:
    return {
        "WHERRY_DATA_DIR": str(data_dir),
        "WHERRY_REGISTRY_URL": registry_url,
        "WHERRY_STORE_URL": store_url,
        "WHERRY_API_HOST": "127.0.0.1",
        "WHERRY_API_PORT": str(port),
        "WHERRY_WEBHOOK_SECRET": SECRET,
        "WHERRY_ALERTS": "false",
        "WHERRY_FLUSH_INTERVAL": "0.05",
    }


def test_the_scale_out_page_runs_replicas_and_issues_keys_as_these_tests_do(
    tmp_path: Path,
) -> None:
    settings, command = documented_command("replica")
    assert command == ["wherry", "api"]
    assert set(settings) == set(replica_env(tmp_path, 1, "", "")) - NOT_DOCUMENTED
    settings, command = documented_command("keys")
    assert command == ["wherry", *KEYS_CREATE]
    assert set(settings) == {"WHERRY_DATA_DIR", "WHERRY_REGISTRY_URL"}


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, influxd_server: servers.ServerProcess
) -> Iterator[Replicas]:
    directory = tmp_path_factory.mktemp("replicas")
    store_url = influx_database_url(influxd_server, "wherry_replicas")
    with postgres_registry("wherry_replicas") as registry_url:
        register_fleet(FLEET, directory, registry_url)
        cli = {"WHERRY_DATA_DIR": str(directory / "cli"), "WHERRY_REGISTRY_URL": registry_url}
        result = wherry(*KEYS_CREATE, env=cli)
        assert result.returncode == 0, result.stdout + result.stderr
        admin_token = result.stdout.strip().splitlines()[-1]

        started: list[Replica] = []
        try:
            for name in ("a", "b"):
                port = servers.free_port()
                env = replica_env(directory / name, port, registry_url, store_url)
                run = WherryRun(env, directory / f"{name}.log", command="api")
                started.append(Replica(name, f"http://127.0.0.1:{port}", run))
            for replica in started:
                assert wait_for_http(f"{replica.base}/readyz", timeout=60).status_code == 200
            yield Replicas(started[0], started[1], admin_token, store_url)
            for replica in started:
                assert replica.run.terminate() == 0, replica.run.log[-3000:]
                assert admin_token not in replica.run.log and SECRET not in replica.run.log
        finally:
            for replica in started:
                replica.run.kill()


def post_uplink(client: httpx.Client, body: bytes) -> int:
    answer = client.post(
        "/ingest/ttn",
        content=body,
        headers={"X-Wherry-Webhook-Secret": SECRET, "Content-Type": "application/json"},
    )
    return answer.status_code


def test_webhook_uplinks_alternated_across_replicas_are_stored_once(replicas: Replicas) -> None:
    bodies = [body for _topic, body in FLEET.messages()]
    clients = [replica.client() for replica in replicas.both]
    with ThreadPoolExecutor(16) as pool:
        statuses = list(
            pool.map(lambda n: post_uplink(clients[n % 2], bodies[n]), range(len(bodies)))
        )
        # The network server retries a webhook it thinks failed; the load balancer may send
        # the retry to the other replica. The point is the same, so it is stored once.
        retried = list(pool.map(lambda n: post_uplink(clients[(n + 1) % 2], bodies[n]), range(40)))
    for client in clients:
        client.close()

    assert set(statuses) == {202} and set(retried) == {202}
    wait_for(lambda: count_uplinks(replicas.store_url) >= FLEET.size, 30, "every uplink stored")
    stored = stored_uplinks(replicas.store_url)
    assert [key for key, times in stored.items() if times > 1] == []
    assert set(stored) == FLEET.expected()
    accepted = [metric(replica, "wherry_uplinks_accepted_total") for replica in replicas.both]
    assert sum(accepted) == FLEET.size + 40 and min(accepted) >= FLEET.size // 2
    report("replicated API, webhook ingest", posted=FLEET.size, retried=40, accepted=accepted)


def metric(replica: Replica, name: str) -> int:
    text = httpx.get(f"{replica.base}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError(f"no {name} in {replica.name}'s /metrics")


def new_device(device_id: str, dev_eui: str) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "dev_eui": dev_eui,
        "decoder": "decentlab-dl-ds18",
        "domain": "road",
        "name": "Bank Road (lower)",
        "route_id": "hill",
        "latitude": 53.13905,
        "longitude": -1.55452,
        "public": False,
        "owner": "Highways",
    }


def test_a_device_created_on_one_replica_is_read_on_the_other_at_once(
    replicas: Replicas,
) -> None:
    with (
        replicas.a.client(replicas.admin_token) as a,
        replicas.b.client(replicas.admin_token) as b,
    ):
        created = a.post("/api/v1/devices", json=new_device("rst-bank", "70B3D57BA0000A11"))
        assert created.status_code == 201, created.text
        read = b.get("/api/v1/devices/rst-bank")
        assert read.status_code == 200 and read.json()["dev_eui"].upper() == "70B3D57BA0000A11"
        assert "rst-bank" in {d["device_id"] for d in b.get("/api/v1/devices").json()["devices"]}
        taken = b.post("/api/v1/devices", json=new_device("rst-bank-2", "70B3D57BA0000A11"))
        assert taken.status_code == 409  # B sees A's DevEUI at once


def test_concurrent_edits_through_both_replicas_serialise_with_an_audit_entry_each(
    replicas: Replicas,
) -> None:
    with replicas.a.client(replicas.admin_token) as a:
        assert a.post("/api/v1/devices", json=new_device("rst-race", "70B3D57BA0000B22")).is_success
    # A changes the latitude, B the name, twelve times each, all at once.
    edits: list[tuple[str, dict[str, object]]] = [
        ("a", {"latitude": 53.0 + n / 1000}) for n in range(12)
    ]
    edits += [("b", {"name": f"Race Road {n}"}) for n in range(12)]
    clients = {r.name: r.client(replicas.admin_token) for r in replicas.both}
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda e: clients[e[0]].patch("/api/v1/devices/rst-race", json=e[1]), edits)
        )
    final = clients["b"].get("/api/v1/devices/rst-race").json()
    log = (
        clients["a"]
        .get("/api/v1/audit", params={"entity": "device", "entity_id": "rst-race"})
        .json()
    )
    for client in clients.values():
        client.close()

    assert [answer.status_code for answer in answers] == [200] * len(edits)
    entries = sorted(log["entries"], key=lambda e: e["id"])
    updates = [e for e in entries if e["action"] == "update"]
    assert len(updates) == len(edits)  # one entry per edit, none lost
    for earlier, later in itertools.pairwise(entries):
        assert later["before"] == earlier["after"]  # each edit saw the one before it
    last = updates[-1]["after"]
    assert (final["latitude"], final["name"]) == (last["latitude"], last["name"])
    # Every edit is in the history with exactly the value it sent: none was overwritten unseen.
    assert {e["after"]["latitude"] for e in updates} >= {53.0 + n / 1000 for n in range(12)}
    assert {e["after"]["name"] for e in updates} >= {f"Race Road {n}" for n in range(12)}


def test_a_key_issued_on_one_replica_works_on_the_other_and_its_revocation_reaches_it(
    replicas: Replicas,
) -> None:
    with replicas.a.client(replicas.admin_token) as admin_a:
        issued = admin_a.post("/api/v1/keys", json={"role": "reader", "label": "pupil screen"})
        assert issued.status_code == 201, issued.text
        token, key_id = issued.json()["token"], issued.json()["key_id"]
        with replicas.a.client(token) as a, replicas.b.client(token) as b:
            assert b.get("/api/v1/devices").status_code == 200  # at once, on the other replica
            assert admin_a.post(f"/api/v1/keys/{key_id}/revoke").status_code == 200
            revoked_at = time.monotonic()
            assert a.get("/api/v1/devices").status_code == 401  # at once where it was revoked
            while True:
                asked = time.monotonic()
                if b.get("/api/v1/devices").status_code == 401:
                    break
                assert asked - revoked_at < KEY_CACHE_TTL_S + 1.0, "B still lets it in"
                time.sleep(0.1)
            stale_for = asked - revoked_at
    report("replicated API, key revoked on A", seconds_until_b_refused=round(stale_for, 2))
