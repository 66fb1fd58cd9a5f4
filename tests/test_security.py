"""The security pass: no secret in any log line, secrets not kept in clear, TLS checked by
default by every client wherry has.

The log test runs the real `wherry run` at DEBUG against a Mosquitto that requires a
password, an InfluxDB with authentication, a Storage Integration that requires its key,
with webhooks on and API keys in use, once with the right secrets and once with wrong
ones (whose failures are logged), and greps everything it logged for every secret.
"""

from __future__ import annotations

import importlib.util
import os
import re
import ssl
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests import servers
from tests.ingest_support import ROAD_DEVICES, register_fleet, road_uplink, wait_until
from tests.ttn_storage_server import RunningStorage, storage_server
from tests.uplinks import encode, ttn_topic
from tests.wherry_process import WherryRun, wherry

pytestmark = pytest.mark.integration

APP = "council-roads"
MQTT_USER = "wherry-bridge"
MQTT_PASSWORD = "Mq77-pa55w0rd-Xq9"
INFLUX_USER = "wherry"
INFLUX_PASSWORD = "InF1ux-pa55w0rd-Zk4"
TTN_KEY = "NNSXS.SECURITYTEST.TTNK3YSECRETPART0123456789ABCDEFGHIJKLMNOP"
WEBHOOK_SECRET = "W3bh00k-shared-secret-0123456789"


@dataclass
class Stack:
    mqtt_port: int
    influx_port: int
    storage: RunningStorage


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("secure")
    passwords = directory / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(passwords), MQTT_USER, MQTT_PASSWORD],
        check=True,
        capture_output=True,
    )
    passwords.chmod(0o600)
    port = servers.free_port()
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
        + ("user root\n" if os.geteuid() == 0 else "")
    )
    broker = servers.ServerProcess(
        "mosquitto",
        port,
        directory,
        [servers.require_binary("mosquitto", "apt-get install mosquitto"), "-c", str(config)],
    )
    broker.start()
    influxd = servers.influxd(directory / "influxd", http_settings="  auth-enabled = true")
    statement = f"CREATE USER {INFLUX_USER} WITH PASSWORD '{INFLUX_PASSWORD}' WITH ALL PRIVILEGES"
    created = httpx.post(f"http://127.0.0.1:{influxd.port}/query", data={"q": statement})
    assert created.status_code == 200, created.text
    try:
        with storage_server(TTN_KEY, applications=(APP,)) as storage:
            yield Stack(port, influxd.port, storage)
    finally:
        broker.stop()
        influxd.stop()


def secrets_in(text: str, secrets: list[str]) -> list[str]:
    """The secrets (or their URL-encoded forms, or their second halves) found in `text`."""
    found = []
    for secret in secrets:
        forms = {secret, quote(secret, safe=""), secret[len(secret) // 2 :]}
        if any(form in text for form in forms):
            found.append(secret)
    return found


def environment(tmp_path: Path, stack: Stack, *, mqtt_password: str, influx_password: str,
                ttn_key: str) -> dict[str, str]:  # fmt: skip
    return {
        "WHERRY_DATA_DIR": str(tmp_path / "data"),
        "WHERRY_LOG_LEVEL": "DEBUG",
        "WHERRY_API_PORT": str(servers.free_port()),
        "WHERRY_MQTT_URL": f"mqtt://{MQTT_USER}:{quote(mqtt_password, safe='')}"
        f"@127.0.0.1:{stack.mqtt_port}",
        "WHERRY_MQTT_TOPICS": f"v3/{APP}@ttn/devices/+/up",
        "WHERRY_MQTT_QOS": "1",
        "WHERRY_MQTT_CLIENT_ID": f"wherry-secure-{uuid.uuid4().hex[:8]}",
        "WHERRY_STORE_URL": f"influxdb://{INFLUX_USER}:{quote(influx_password, safe='')}"
        f"@127.0.0.1:{stack.influx_port}/secure_{uuid.uuid4().hex[:8]}",
        "WHERRY_TTN_STORAGE_URL": stack.storage.url,
        "WHERRY_TTN_API_KEY": ttn_key,
        "WHERRY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "WHERRY_FLUSH_INTERVAL": "0.2",
    }


def test_no_secret_in_any_log_line_and_none_kept_in_clear(tmp_path: Path, stack: Stack) -> None:
    env = environment(
        tmp_path, stack, mqtt_password=MQTT_PASSWORD, influx_password=INFLUX_PASSWORD,
        ttn_key=TTN_KEY,
    )  # fmt: skip
    register_fleet(tmp_path, env, ROAD_DEVICES)
    created = wherry("keys", "create", "--role", "admin", "--label", "security test", env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    api = f"http://127.0.0.1:{env['WHERRY_API_PORT']}"
    now = time.time_ns()
    minute_ago = now - 60_000_000_000
    stack.storage.state.add(APP, minute_ago, road_uplink("road-a", minute_ago, 1, APP))

    run = WherryRun(env, tmp_path / "wherry.log")
    try:
        run.wait_for_log("MQTT subscribed", 30)
        run.wait_for_log("uplinks in", 30)  # the start-up backfill used the TTN key
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="secure-publisher")
        publisher.username_pw_set(MQTT_USER, MQTT_PASSWORD)
        publisher.connect("127.0.0.1", stack.mqtt_port)
        publisher.loop_start()
        for f_cnt in range(2, 7):
            message = road_uplink("road-b", now + f_cnt, f_cnt, APP)
            publisher.publish(ttn_topic("road-b", APP), encode(message), qos=1).wait_for_publish(10)
        publisher.loop_stop()
        publisher.disconnect()
        with httpx.Client(base_url=api, timeout=10) as client:
            hook = {"X-Wherry-Webhook-Secret": WEBHOOK_SECRET}
            body = encode(road_uplink("road-c", now + 9, 9, APP))
            assert client.post("/ingest/ttn", content=body, headers=hook).status_code == 202
            wrong = {"X-Wherry-Webhook-Secret": WEBHOOK_SECRET[::-1]}
            assert client.post("/ingest/ttn", content=body, headers=wrong).status_code == 401
            # A key where keys do not belong (the URL), a key that is not valid, a valid one.
            assert client.get(f"/api/v1/devices?api_key={token}&key={token}").status_code == 401
            bad = {"Authorization": f"Bearer {token[:-4]}XXXX"}
            assert client.get("/api/v1/devices", headers=bad).status_code == 401
            good = {"Authorization": f"Bearer {token}"}
            wait_until(
                lambda: (
                    len(client.get("/api/v1/readings/latest", headers=good).json()["devices"]) >= 3
                ),
                30,
                "readings from MQTT, webhook and backfill",
            )
    finally:
        assert run.terminate() == 0, run.log
    log = run.log
    assert "readings store: influxdb://wherry:***@" in log
    assert "MQTT connecting to mqtt://wherry-bridge:***@" in log
    key_secret = token.split("_", 2)[2]
    secrets = [MQTT_PASSWORD, INFLUX_PASSWORD, TTN_KEY, WEBHOOK_SECRET, WEBHOOK_SECRET[::-1],
               token, key_secret]  # fmt: skip
    assert secrets_in(log, secrets) == []

    # Nothing wherry keeps on disk holds a secret in clear (API keys: a SHA-256 only).
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            content = path.read_bytes().decode("latin-1")
            assert secrets_in(content, secrets) == [], path


def test_failures_with_wrong_secrets_are_logged_without_them(tmp_path: Path, stack: Stack) -> None:
    wrong_mqtt, wrong_influx = "Wr0ng-mqtt-pa55w0rd-77", "Wr0ng-influx-pa55w0rd-88"
    wrong_key = "NNSXS.WRONGKEYSECURITY.NOTTHEKEYSECRETPART0123456789ABCDEFGH"
    env = environment(
        tmp_path, stack, mqtt_password=wrong_mqtt, influx_password=wrong_influx, ttn_key=wrong_key
    )
    second_ago = time.time_ns() - 10**9
    stack.storage.state.add(APP, second_ago, road_uplink("road-a", second_ago, 3, APP))
    run = WherryRun(env, tmp_path / "wherry.log")
    try:
        run.wait_for_log("Not authorized", 30)  # Mosquitto refused the password
        run.wait_for_log(f"backfill of {APP} refused", 30)  # and the Storage Integration the key
        run.wait_for_log("401: authorization failed", 30)  # and InfluxDB the password
        with httpx.Client(base_url=f"http://127.0.0.1:{env['WHERRY_API_PORT']}") as client:
            client.post(
                "/ingest/ttn",
                content=encode(road_uplink("road-c", time.time_ns(), 1, APP)),
                headers={"X-Wherry-Webhook-Secret": WEBHOOK_SECRET},
                timeout=30,
            )
    finally:
        run.terminate()
    secrets = [wrong_mqtt, wrong_influx, wrong_key, MQTT_PASSWORD, INFLUX_PASSWORD, TTN_KEY,
               WEBHOOK_SECRET]  # fmt: skip
    assert secrets_in(run.log, secrets) == [], run.log


def test_tls_certificates_are_verified_by_default_by_every_client() -> None:
    from alerts.notify.email import SmtpOptions
    from alerts.notify.webhook import WebhookOptions
    from gateway_bridge.sources.mqtt import MqttOptions, _tls_context
    from gateway_bridge.sources.ttn_storage import StorageOptions
    from storage import parse_store_url
    from storage.influx import _tls_verification
    from wherry.settings import Settings

    mqtt_options = MqttOptions.from_url("mqtts://broker.example", ["v3/+/devices/+/up"])
    context = _tls_context(mqtt_options)
    assert mqtt_options.tls_insecure is False
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    influx = parse_store_url("influxdbs://influx.example:8086/wherry")
    assert influx.verify is True  # type: ignore[union-attr]
    assert _tls_verification(True, None, "https://influx.example:8086") is True
    assert StorageOptions(base_url="https://eu1.cloud.thethings.network", api_key="k").verify
    assert WebhookOptions().verify_tls is True
    assert SmtpOptions.from_url("smtp://mail.example").starttls is True
    defaults = Settings.model_construct()
    assert defaults.mqtt_tls_insecure is False
    # The backfill has no switch to turn verification off, and sends its key only over https
    # (plain http only to this machine).
    assert not [name for name in Settings.model_fields if "ttn" in name and "insecure" in name]
    with pytest.raises(ValueError, match="use https://"):
        Settings(ttn_storage_url="http://eu1.cloud.thethings.network", ttn_api_key="k",
                 ttn_applications="a")  # fmt: skip


def audit_script() -> Any:
    path = Path(__file__).resolve().parents[1] / "scripts" / "audit_dependencies.py"
    spec = importlib.util.spec_from_file_location("audit_dependencies", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_dependency_audit_fails_on_a_finding_and_not_on_a_missing_network() -> None:
    judge = audit_script().judge
    finding = {
        "dependencies": [
            {"name": "httpx", "version": "0.28.1", "vulns": []},
            {"name": "jinja2", "version": "3.1.2", "vulns": [
                {"id": "GHSA-h75v-3vvj-5mfj", "fix_versions": ["3.1.4"]}]},
        ]
    }  # fmt: skip
    verdict = judge(1, finding, "", strict=False)
    assert (
        verdict.failed and "jinja2 3.1.2: GHSA-h75v-3vvj-5mfj (fixed in 3.1.4)" in verdict.message
    )
    clean = {"dependencies": [{"name": "httpx", "version": "0.28.1", "vulns": []}]}
    assert not judge(0, clean, "", strict=True).failed
    unknown = {"dependencies": [{"name": "httpx", "skip_reason": "Dependency not found on PyPI"}]}
    assert not judge(0, unknown, "", strict=False).failed
    assert judge(0, unknown, "", strict=True).failed
    offline = "requests.exceptions.ConnectionError: Failed to resolve 'api.osv.dev'"
    assert not judge(1, None, offline, strict=False).failed
    assert "unreachable" in judge(1, None, offline, strict=False).message
    assert judge(1, None, offline, strict=True).failed


def test_the_lock_pins_every_dependency_wherry_declares() -> None:
    root = Path(__file__).resolve().parents[1]
    locked = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (root / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    }
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    names = {re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0].lower() for spec in declared}
    assert names - locked == set(), "run scripts/lock"
