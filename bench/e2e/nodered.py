"""Node-RED, the peer of the end-to-end ingest benchmark, in its two real-world flows.

`install` puts pinned `node-red` and `node-red-contrib-influxdb` from npm into a cache
folder once; `node_red` runs one flow against the run's broker and InfluxDB and yields
Node-RED's pid once its MQTT subscription is in place.

- per message, the flow a hackathon team writes: `mqtt in` → `json` → `function` (decode
  the vendor payload) → `influxdb out`, one HTTP write per uplink;
- batched, an expert's flow: the same function builds point objects, a `join` node gathers
  1,000 of them (or what came within 1 s) and `influxdb batch` writes each array at once.

Both write one point per uplink to the measurement `uplink`, tag `device_id`, fields the
decoded values and `f_cnt`, timestamped with the uplink's `received_at` to the nanosecond.
The function node's JavaScript (the vendors' decoders and each flow's last lines) lives in
`nodered_flows/` beside this file.

"Subscribed" is known for certain, not guessed from a log line: the flow has a second
`mqtt in` on the same broker connection, after the benchmark's, subscribed to a topic
holding a retained message. Node-RED subscribes its topics in flow order on one
connection and the broker handles them in order, so when that retained message reaches
the flow (its function node logs a warning) the benchmark's subscription is in place.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from paho.mqtt.client import Client
from paho.mqtt.enums import CallbackAPIVersion

from tests.servers import free_port

# The newest Node-RED that runs on Debian's nodejs 20 (5.x needs node >= 22.9).
NODE_RED_VERSION = "4.1.15"
MINIMUM_NODE = (18, 5)
INFLUXDB_NODES_VERSION = "0.7.0"
PINNED = {"node-red": NODE_RED_VERSION, "node-red-contrib-influxdb": INFLUXDB_NODES_VERSION}

MEASUREMENT = "uplink"
COUNTED: tuple[str, str] = (MEASUREMENT, "f_cnt")
BATCH_SIZE = 1000
BATCH_TIMEOUT_S = 1
QOS = 1  # as wherry subscribes

# Not `nodered/`: a folder named like this module would shadow it for mypy.
FLOW_SOURCES = Path(__file__).with_name("nodered_flows")
STARTUP_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0


class NodeRedUnavailable(RuntimeError):
    """Node-RED cannot be installed or started here; the message says what to do."""


def install(cache_dir: Path, progress: Callable[[str], None]) -> Path:
    """The folder holding the pinned Node-RED and InfluxDB nodes, installed from npm once.

    Reused when it already holds exactly these versions; installed next to it and moved
    into place, so an interrupted install is never taken for a finished one.
    """
    node = require_program("node")
    npm = require_program("npm")
    _check_node_version(node)
    target = cache_dir / f"node-red-{NODE_RED_VERSION}-influxdb-{INFLUXDB_NODES_VERSION}"
    if installed_versions(target) == PINNED:
        progress(f"Node-RED {NODE_RED_VERSION} already installed in {target}")
        return target
    progress(
        f"installing node-red@{NODE_RED_VERSION} and "
        f"node-red-contrib-influxdb@{INFLUXDB_NODES_VERSION} from npm into {target}"
    )
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    (partial / "package.json").write_text(
        json.dumps({"name": "wherry-bench-node-red", "private": True, "dependencies": PINNED})
    )
    command = [npm, "install", "--no-audit", "--no-fund", "--omit=dev", "--loglevel=error"]
    result = subprocess.run(command, cwd=partial, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise NodeRedUnavailable(
            f"`npm install` of Node-RED failed (status {result.returncode}) in {partial}:\n"
            f"{result.stderr[-3000:]}"
        )
    if installed_versions(partial) != PINNED:
        raise NodeRedUnavailable(
            f"npm installed {installed_versions(partial)} in {partial}, not {PINNED}"
        )
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    progress(f"Node-RED {NODE_RED_VERSION} installed in {target}")
    return target


def installed_versions(directory: Path) -> dict[str, str]:
    """Which of the pinned packages `directory/node_modules` holds, at which version."""
    versions = {}
    for package in PINNED:
        manifest = directory / "node_modules" / package / "package.json"
        try:
            versions[package] = str(json.loads(manifest.read_text())["version"])
        except (OSError, ValueError, KeyError):
            continue
    return versions


def require_program(program: str) -> str:
    """The path of `node` or `npm`; NodeRedUnavailable with the Debian packages to install."""
    path = shutil.which(program)
    if path is None:
        raise NodeRedUnavailable(
            f"`{program}` is not installed: the Node-RED peer needs Node.js and npm "
            "(apt-get install nodejs npm)"
        )
    return path


def _check_node_version(node: str) -> None:
    text = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    match = re.match(r"v(\d+)\.(\d+)", text)
    if match is None or (int(match[1]), int(match[2])) < MINIMUM_NODE:
        wanted = ".".join(map(str, MINIMUM_NODE))
        raise NodeRedUnavailable(
            f"Node-RED {NODE_RED_VERSION} needs Node.js >= {wanted}; `node --version` says "
            f"{text or 'nothing'}"
        )


def function_source(*, batched: bool) -> str:
    """The function node's JavaScript: the measurement, the decoders, the flow's last lines."""
    tail = "batched.js" if batched else "per_message.js"
    return "".join(
        [
            f"var MEASUREMENT = {json.dumps(MEASUREMENT)};\n",
            (FLOW_SOURCES / "decoders.js").read_text(),
            "\n",
            (FLOW_SOURCES / tail).read_text(),
        ]
    )


def flows(
    *,
    broker_port: int,
    influx_port: int,
    database: str,
    topic: str,
    batched: bool,
    ready_topic: str,
) -> list[dict[str, Any]]:
    """The flow file: one tab with the uplink path and the readiness probe after it."""
    tab = "wherry-bench"
    writer = "influx-batch" if batched else "influx-out"

    def node(node_id: str, kind: str, row: int, column: int, **settings: Any) -> dict[str, Any]:
        position = {"x": 120 + 170 * column, "y": 80 + 100 * row}
        return {"id": node_id, "type": kind, "z": tab, "name": node_id, **position, **settings}

    def subscriber(node_id: str, row: int, subscribed: str, to: str) -> dict[str, Any]:
        return node(
            node_id,
            "mqtt in",
            row,
            0,
            topic=subscribed,
            qos=str(QOS),
            datatype="utf8",
            broker="mqtt-server",
            nl=False,
            rap=True,
            rh=0,
            inputs=0,
            wires=[[to]],
        )

    def function(node_id: str, row: int, column: int, source: str, to: list[str]) -> dict[str, Any]:
        return node(
            node_id,
            "function",
            row,
            column,
            func=source,
            outputs=len(to),
            timeout=0,
            noerr=0,
            initialize="",
            finalize="",
            libs=[],
            wires=[to] if to else [],
        )

    label = "batched (join 1,000 → influxdb batch)" if batched else "per message (influxdb out)"
    uplink_path = [
        subscriber("uplinks", 0, topic, "parse-json"),
        node(
            "parse-json",
            "json",
            0,
            1,
            property="payload",
            action="obj",
            pretty=False,
            wires=[["decode"]],
        ),
        function(
            "decode",
            0,
            2,
            function_source(batched=batched),
            ["batch-of-1000" if batched else writer],
        ),
    ]
    if batched:
        uplink_path += [
            node(
                "batch-of-1000",
                "join",
                0,
                3,
                mode="custom",
                build="array",
                property="payload",
                propertyType="msg",
                key="topic",
                joiner="\\n",
                joinerType="str",
                useparts=False,
                accumulate=False,
                timeout=str(BATCH_TIMEOUT_S),
                count=str(BATCH_SIZE),
                reduceRight=False,
                reduceExp="",
                reduceInit="",
                reduceInitType="",
                reduceFixup="",
                wires=[[writer]],
            ),
            node(
                writer,
                "influxdb batch",
                0,
                4,
                influxdb="influx-server",
                precision="n",
                retentionPolicy="",
                **_v2_defaults(),
            ),
        ]
    else:
        uplink_path.append(
            node(
                writer,
                "influxdb out",
                0,
                3,
                influxdb="influx-server",
                measurement=MEASUREMENT,
                precision="n",
                retentionPolicy="",
                **_v2_defaults(),
            )
        )
    ready = [
        subscriber("ready-probe", 1, ready_topic, "announce"),
        function("announce", 1, 1, _ANNOUNCE, []),
    ]
    return [
        {"id": tab, "type": "tab", "label": f"wherry bench: {label}", "disabled": False},
        *uplink_path,
        *ready,
        {
            "id": "mqtt-server",
            "type": "mqtt-broker",
            "name": "benchmark broker",
            "broker": "127.0.0.1",
            "port": str(broker_port),
            "clientid": "",
            "autoConnect": True,
            "usetls": False,
            "protocolVersion": "4",
            "keepalive": "60",
            "cleansession": True,
            "autoUnsubscribe": True,
            "birthTopic": "",
            "closeTopic": "",
            "willTopic": "",
        },
        {
            "id": "influx-server",
            "type": "influxdb",
            "hostname": "127.0.0.1",
            "port": str(influx_port),
            "protocol": "http",
            "database": database,
            "name": "benchmark influxdb",
            "usetls": False,
            "tls": "",
            "influxdbVersion": "1.x",
            "url": "",
            "timeout": "10",
            "rejectUnauthorized": True,
        },
    ]


# The readiness probe's function: log the retained message (not the empty one that clears it).
_ANNOUNCE = 'if (msg.payload) {\n    node.warn("subscribed " + msg.payload);\n}\nreturn null;\n'


def _v2_defaults() -> dict[str, str]:
    """Settings the InfluxDB nodes keep for 1.8-flux and 2.x; unused with 1.x."""
    return {"precisionV18FluxV20": "ns", "retentionPolicyV18Flux": "", "org": "", "bucket": ""}


def settings_js(*, user_dir: Path, admin_port: int) -> str:
    """Node-RED's settings: editor on localhost, no login, no projects, warnings only."""
    settings = {
        "uiHost": "127.0.0.1",
        "uiPort": admin_port,
        "userDir": str(user_dir),
        "flowFile": "flows.json",
        "credentialSecret": False,
        "logging": {"console": {"level": "warn", "metrics": False, "audit": False}},
        "editorTheme": {"projects": {"enabled": False}, "tours": False},
        "telemetry": {"enabled": False, "updateNotification": False},
        "diagnostics": {"enabled": False},
        "externalModules": {"autoInstall": False, "palette": {"allowInstall": False}},
        "functionExternalModules": False,
        "mqttReconnectTime": 1000,
    }
    return f"module.exports = {json.dumps(settings, indent=2)};\n"


def create_database(influx_port: int, database: str) -> None:
    """`CREATE DATABASE`, which InfluxDB 1.x answers the same when it exists already."""
    quoted = database.replace("\\", "\\\\").replace('"', '\\"')
    response = httpx.post(
        f"http://127.0.0.1:{influx_port}/query",
        data={"q": f'CREATE DATABASE "{quoted}"'},
        timeout=30,
    )
    response.raise_for_status()


@contextmanager
def node_red(
    workdir: Path,
    *,
    installed: Path,
    broker_port: int,
    influx_port: int,
    database: str,
    topic: str,
    batched: bool,
) -> Iterator[int]:
    """Node-RED running one of the two flows; yields its pid once it is subscribed."""
    node = require_program("node")
    user_dir = workdir / ("node-red-batched" if batched else "node-red-per-message")
    shutil.rmtree(user_dir, ignore_errors=True)
    user_dir.mkdir(parents=True)
    token = secrets.token_hex(8)
    ready_topic = f"wherry-bench/node-red/{token}/ready"
    (user_dir / "flows.json").write_text(
        json.dumps(
            flows(
                broker_port=broker_port,
                influx_port=influx_port,
                database=database,
                topic=topic,
                batched=batched,
                ready_topic=ready_topic,
            ),
            indent=1,
        )
    )
    settings = user_dir / "settings.js"
    settings.write_text(settings_js(user_dir=user_dir, admin_port=free_port()))
    create_database(influx_port, database)
    _retain(broker_port, ready_topic, token.encode())
    log_path = user_dir / "node-red.log"
    red = installed / "node_modules" / "node-red" / "red.js"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [node, str(red), "--settings", str(settings), "--userDir", str(user_dir)],
            cwd=user_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "NODE_RED_DISABLE_TELEMETRY": "1"},
        )
    try:
        _wait_until_subscribed(process, log_path, f"subscribed {token}")
        _retain(broker_port, ready_topic, b"")  # clear the broker's retained message
        yield process.pid
    finally:
        _stop(process)


def _retain(broker_port: int, topic: str, payload: bytes) -> None:
    """Leave `payload` as the topic's retained message (empty: remove it)."""
    client = Client(CallbackAPIVersion.VERSION2, client_id=f"wherry-bench-{secrets.token_hex(4)}")
    client.connect("127.0.0.1", broker_port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1, retain=True).wait_for_publish(timeout=30)
    finally:
        client.disconnect()
        client.loop_stop()


def _wait_until_subscribed(process: subprocess.Popen[bytes], log_path: Path, line: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if line in log_path.read_text(errors="replace"):
            return
        if _exited(process):
            raise NodeRedUnavailable(
                f"Node-RED exited before subscribing; {log_path}:\n{_tail(log_path)}"
            )
        time.sleep(0.1)
    raise NodeRedUnavailable(
        f"Node-RED did not subscribe within {STARTUP_TIMEOUT_S:.0f} s; {log_path}:\n"
        f"{_tail(log_path)}"
    )


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to Node-RED's process group (it closes its flows), SIGKILL to what lingers.

    Node-RED is reaped only after both, so the group id is still its own when signalled.
    """
    if process.returncode is not None:
        return
    _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while not _exited(process) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_group(process, signal.SIGKILL)
    process.wait()


def _exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether the process has ended, without reaping it."""
    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
    return os.waitid(os.P_PID, process.pid, flags) is not None


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
