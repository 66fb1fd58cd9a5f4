"""docs/deployment.md, run: from an empty machine to an uplink on the board.

Every fenced block of the page carries a `<!-- deployment-test: KIND -->` marker. The
`values` and `run` blocks of the single-machine walkthrough are executed in order in one
bash, against a real InfluxDB 1.x (configured by the page's influxdb.conf lines), a real
Mosquitto (configured by the page's commands), and PostgreSQL at 127.0.0.1:5432. What
differs from a real server is stated in the page itself ("How this page is tested"):
host/port values and the database name, paths moved under a temporary root, `sudo` and
`chown` as the test's own user, and `systemctl` as tests/deploy/systemctl_stand_in.py.
Blocks of other kinds are checked here another way.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import typer

from tests import servers
from tests.deploy import dashboards
from tests.deploy.compose_file import services as compose_services
from tests.deploy.doc_blocks import Block, assignments, blocks, exported, of_kind
from tests.deploy.paths import DOCS, REPO, VENV_BIN
from tests.deploy.systemctl_stand_in import Units, map_paths
from tests.deploy.units import UNITS, directives, environment_file, one
from wherry.cli import app as wherry_cli
from wherry.settings import Settings

pytestmark = pytest.mark.integration

PAGE = DOCS / "deployment.md"
KINDS = {
    "values", "run", "packages", "install", "influxdb.conf", "compose-run", "compose",
    "settings", "chirpstack.toml",
}  # fmt: skip
# The only values the test changes: where things listen, and a database name of its own.
OVERRIDDEN = {"MQTT_PORT", "INFLUX_HOSTPORT", "PG_HOSTPORT", "DB_NAME", "API_PORT"}
SHIMS = r"""
set -euo pipefail
# sudo: run as the test's own user (-u USER and other options dropped).
sudo() {
    while [ $# -gt 0 ]; do
        case "$1" in -u|-g) shift 2 ;; --) shift; break ;; -*) shift ;; *) break ;; esac
    done
    "$@"
}
# chown: no wherry or mosquitto account exists here to give files to.
chown() { :; }
systemctl() { "$DEPLOY_TEST_PYTHON" -m tests.deploy.systemctl_stand_in "$@"; }
"""


def postgres_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        return False
    return True


# -- every block is marked -----------------------------------------------------------------


def test_every_block_of_the_page_is_marked_with_how_it_is_checked() -> None:
    unmarked = [b.line for b in blocks(PAGE) if b.kind is None]
    assert unmarked == [], f"docs/deployment.md lines {unmarked}: add a deployment-test marker"
    unknown = {b.kind for b in blocks(PAGE)} - KINDS
    assert unknown == set()
    ran = {b.kind for b in blocks(PAGE)}
    assert ran == KINDS, f"kinds never used: {KINDS - ran}"


def test_the_values_block_generates_every_secret_and_names_every_address() -> None:
    (values,) = of_kind(PAGE, "values")
    names = exported(values)
    assert set(names) >= OVERRIDDEN
    for name, value in names.items():
        if name not in OVERRIDDEN:
            assert value == "$(openssl", f"{name}: a secret is generated, never written down"


# -- blocks checked another way -------------------------------------------------------------


def test_the_packages_exist_in_debian() -> None:
    (block,) = of_kind(PAGE, "packages")
    lines = [line for line in block.text.splitlines() if "apt-get install" in line]
    (line,) = lines
    packages = [word for word in line.split("install", 1)[1].split() if not word.startswith("-")]
    assert {"mosquitto", "influxdb", "postgresql", "python3-venv"} <= set(packages)
    if shutil.which("apt-cache") is None:
        pytest.fail("apt-cache is needed to check the package names")
    shown = subprocess.run(["apt-cache", "show", "--no-all-versions", *packages],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    known = set(re.findall(r"^Package: (\S+)$", shown.stdout, re.MULTILINE))
    assert set(packages) - known == set(), "not in Debian's archive"


def test_the_install_step_matches_the_units_and_pyproject() -> None:
    (block,) = of_kind(PAGE, "install")
    text = block.text
    user = re.search(r"useradd .*?(\S+)$", text, re.MULTILINE)
    assert user is not None
    venv = re.search(r"python3 -m venv (\S+)", text)
    assert venv is not None
    extra = re.search(r"pip install '\.\[(\w+)\]'", text)
    assert extra is not None
    for name in ("wherry-migrate", "wherry-bridge", "wherry-api"):
        unit = directives(UNITS / f"{name}.service")
        assert one(unit, "Service", "User") == user.group(1)
        assert (one(unit, "Service", "ExecStart") or "").startswith(f"{venv.group(1)}/bin/wherry ")
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert extra.group(1) in pyproject["project"]["optional-dependencies"]
    assert pyproject["project"]["scripts"]["wherry"] == "wherry.cli:main"
    # The `wherry` shell function runs commands in the user's home: it must exist.
    assert "--create-home --home-dir /var/lib/wherry" in text
    assert "cd /var/lib/wherry &&" in of_kind(PAGE, "run")[4].text


def test_the_settings_blocks_are_valid_wherry_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings_blocks = of_kind(PAGE, "settings")
    assert len(settings_blocks) >= 3
    for block in settings_blocks:
        values = assignments(block)
        assert values and all(name.startswith("WHERRY_") for name in values)
        for name in list(os.environ):
            if name.startswith("WHERRY_"):
                monkeypatch.delenv(name)
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        Settings()  # raises on anything wherry would refuse at start


def test_the_ttn_block_uses_tls_the_app_at_ttn_user_and_its_topic() -> None:
    ttn = assignments(of_kind(PAGE, "settings")[0])
    url = ttn["WHERRY_MQTT_URL"]
    assert url.startswith("mqtts://my-app%40ttn:NNSXS.") and url.endswith(":8883")
    assert ttn["WHERRY_MQTT_TOPICS"] == "v3/my-app@ttn/devices/+/up"


def test_chirpstack_publishes_json_where_wherry_subscribes_as_a_user_the_acl_allows() -> None:
    (block,) = of_kind(PAGE, "chirpstack.toml")
    mqtt = tomllib.loads(block.text)["integration"]["mqtt"]
    assert mqtt["json"] is True
    topic = mqtt["event_topic"].replace("{{application_id}}", "app-1")
    topic = topic.replace("{{dev_eui}}", "0004a30b001c0530").replace("{{event}}", "up")
    chirpstack_settings = assignments(of_kind(PAGE, "settings")[2])
    (wanted,) = chirpstack_settings["WHERRY_MQTT_TOPICS"].split(",")
    assert re.fullmatch(wanted.replace("+", "[^/]+"), topic)
    acl = (REPO / "deploy" / "mosquitto" / "acl").read_text()
    user_block = acl.split(f"user {mqtt['username']}\n", 1)[1].split("\nuser ", 1)[0]
    assert "topic write application/#" in user_block


def test_the_compose_commands_name_services_and_commands_that_exist() -> None:
    known = compose_services()
    commands = [
        line.strip()
        for block in of_kind(PAGE, "compose")
        for line in block.text.splitlines()
        if line.strip()
    ]
    assert commands and all(line.startswith("docker compose ") for line in commands)
    for line in commands:
        words = line.split()
        verb, rest = words[2], [w for w in words[3:] if not w.startswith("-")]
        if verb in ("logs", "exec"):
            assert rest and rest[0] in known, line
        if verb == "exec":
            inner = rest[1 : rest.index("<")] if "<" in rest else rest[1:]
            assert inner[0] == "wherry"
            assert_wherry_command(inner[1:], line)


def assert_wherry_command(words: list[str], line: str) -> None:
    """`words` start with a wherry (sub)command and use only options it has."""
    command: Any = typer.main.get_command(wherry_cli)
    while words and words[0] in getattr(command, "commands", {}):
        command, words = command.commands[words[0]], words[1:]
    assert not hasattr(command, "commands"), f"{line}: no such wherry command"
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for word in words:
        if word.startswith("--"):
            assert word in options, f"{line}: wherry has no option {word}"


# -- the walkthrough, run ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def influxd_with_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.ServerProcess]:
    """InfluxDB 1.x with the page's influxdb.conf lines (bind-address: the test's port)."""
    (block,) = of_kind(PAGE, "influxdb.conf")
    lines = [line.strip() for line in block.text.splitlines() if line.strip()]
    assert 'bind-address = "127.0.0.1:8086"' in lines and "auth-enabled = true" in lines
    settings = "\n".join(line for line in lines if not line.startswith("bind-address"))
    server = servers.influxd(tmp_path_factory.mktemp("influxd-auth"), http_settings=settings,
                             ping=True)  # fmt: skip
    yield server
    server.stop()


def debian_layout(root: Path) -> None:
    """What the packages and the install step leave behind, under `root`."""
    # var/lib/wherry: the home folder `useradd --create-home` makes.
    for folder in ("etc/mosquitto/conf.d", "etc/systemd/system", "etc/default", "run/mosquitto",
                   "var/lib/mosquitto", "var/log/mosquitto", "opt/wherry/bin",
                   "var/lib/wherry"):  # fmt: skip
        (root / folder).mkdir(parents=True, exist_ok=True)
    # Debian's /etc/mosquitto/mosquitto.conf, its paths moved under root.
    (root / "etc/mosquitto/mosquitto.conf").write_text(
        "\n".join(
            [
                f"pid_file {root}/run/mosquitto/mosquitto.pid",
                "persistence true",
                f"persistence_location {root}/var/lib/mosquitto/",
                f"log_dest file {root}/var/log/mosquitto/mosquitto.log",
                *(["user root"] if os.geteuid() == 0 else []),
                f"include_dir {root}/etc/mosquitto/conf.d",
                "",
            ]
        )
    )
    (root / "opt/wherry/bin/wherry").symlink_to(VENV_BIN / "wherry")


def walkthrough(root: Path, overrides: dict[str, str]) -> str:
    """The page's values and run blocks as one script, with the overrides applied."""
    parts = [SHIMS]
    for block in blocks(PAGE):
        if block.kind == "values":
            text = block.text
            for name, value in overrides.items():
                text, count = re.subn(rf"^export {name}=\S+", f"export {name}={value}", text,
                                      flags=re.MULTILINE)  # fmt: skip
                assert count == 1, name
            parts.append(text)
        elif block.kind == "run":
            # Where a failure happened, and how long each step took, on stderr.
            marker = f"--- docs/deployment.md line {block.line}"
            parts.append(f'echo "{marker}"; echo "{marker} at $SECONDS s" >&2\n')
            parts.append(map_paths(block.text, root))
    parts.append(f'printf "%s" "$ADMIN_KEY" > {root}/admin-key\n')
    parts.append(f'printf "%s" "$MQTT_INGEST_PASSWORD" > {root}/ingest-password\n')
    return "\n".join(parts)


class Walkthrough:
    """The page, run once for the module; the tests below look at what it left."""

    def __init__(self, root: Path, result: subprocess.CompletedProcess[str], api: str) -> None:
        self.root, self.result, self.api = root, result, api
        self.key = (root / "admin-key").read_text() if (root / "admin-key").exists() else ""
        self.values = environment_file(root / "etc/wherry/wherry.env")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.api}{path}", headers={"Authorization": f"Bearer {self.key}"})


@pytest.fixture(scope="module")
def walked(
    influxd_with_auth: servers.ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Walkthrough]:
    if not postgres_answers():
        pytest.skip("PostgreSQL does not answer at 127.0.0.1:5432")
    root = tmp_path_factory.mktemp("server-root")
    work = tmp_path_factory.mktemp("checkout")
    (work / "deploy").symlink_to(REPO / "deploy")
    debian_layout(root)
    database = f"wherry_doc_{secrets.token_hex(4)}"
    overrides = {
        "MQTT_PORT": str(servers.free_port()),
        "INFLUX_HOSTPORT": f"127.0.0.1:{influxd_with_auth.port}",
        "PG_HOSTPORT": "127.0.0.1:5432",
        "DB_NAME": database,
        "API_PORT": str(servers.free_port()),
    }
    assert set(overrides) == OVERRIDDEN
    script = root / "walkthrough.sh"
    script.write_text(walkthrough(root, overrides))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHERRY_")}
    env |= {
        "DEPLOY_TEST_ROOT": str(root),
        "DEPLOY_TEST_PYTHON": sys.executable,
        "PYTHONPATH": str(REPO),
        # `sudo -u postgres psql`: the server's superuser, over TCP.
        "PGHOST": "127.0.0.1",
        "PGPORT": "5432",
        "PGUSER": "postgres",
    }
    units = Units(root)
    try:
        result = subprocess.run(["bash", str(script)], cwd=work, env=env, capture_output=True,
                                text=True, timeout=150, stdin=subprocess.DEVNULL,
                                # no controlling terminal: getpass reads stdin, as in a script
                                start_new_session=True)  # fmt: skip
        yield Walkthrough(root, result, f"http://127.0.0.1:{overrides['API_PORT']}")
    finally:
        for name in ("wherry-api", "wherry-bridge"):
            if units.active(name):
                units.stop(name)
        pid_file = root / "run/mosquitto/mosquitto.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
        with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres",
                             autocommit=True) as connection:  # fmt: skip
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            connection.execute(f'DROP ROLE IF EXISTS "{database}"')


def explain(walked: Walkthrough) -> str:
    units = Units(walked.root)
    logs = "\n".join(f"--- {n}:\n{units.log(n)}" for n in ("wherry-bridge", "wherry-api"))
    result = walked.result
    return f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}\n{logs}"


def test_the_walkthrough_runs_from_an_empty_server_to_an_uplink_on_the_board(
    walked: Walkthrough,
) -> None:
    print(walked.result.stderr)  # each step's start time (shown with -s or on failure)
    assert walked.result.returncode == 0, explain(walked)
    assert walked.key.startswith("wherry_")
    # Through MQTT: the smoke-test block's own output, before the webhook block sends it too.
    mqtt_block = next(b for b in of_kind(PAGE, "run") if "mosquitto_pub" in b.text)
    output = walked.result.stdout.split(f"--- docs/deployment.md line {mqtt_block.line}\n")[1]
    output = output.split("--- docs/deployment.md line")[0]
    assert '"road_surface_temperature"' in output and '"matlock-bank"' in output, output
    latest = walked.get("/api/v1/devices/rst-bank-road-lower/readings/latest")
    assert latest.status_code == 200, latest.text
    readings = {r["quantity"]: r["value"] for r in latest.json()["readings"]}
    assert readings["road_surface_temperature"] == pytest.approx(0.5)
    assert readings["battery_voltage"] == pytest.approx(3.05)
    board = walked.get("/api/v1/board").json()
    (route,) = board["routes"]
    assert route["route_id"] == "matlock-bank"
    assert route["state"] != "UNKNOWN", route  # a decision was made from the uplink
    assert '"accepted"' in walked.result.stdout  # the webhook's 202


def test_the_services_stop_cleanly_on_sigterm_within_their_timeout(walked: Walkthrough) -> None:
    assert walked.result.returncode == 0, explain(walked)
    units = Units(walked.root)
    for name in ("wherry-bridge", "wherry-api"):
        assert units.active(name), explain(walked)
        assert units.stop(name) == 0, units.log(name)
    assert walked.key not in units.log("wherry-api") + units.log("wherry-bridge")


def test_the_broker_wants_a_password_and_applies_the_acl(walked: Walkthrough) -> None:
    assert walked.result.returncode == 0, explain(walked)
    port = walked.values["WHERRY_MQTT_URL"].rsplit(":", 1)[1]
    anonymous = subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-t", "v3/x/devices/y/up", "-m", "{}"],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert anonymous.returncode != 0 and "not authorised" in anonymous.stderr.lower()
    wherry_password = walked.values["WHERRY_MQTT_URL"].split(":")[2].split("@")[0]
    ingest_password = (walked.root / "ingest-password").read_text()
    topic = "v3/acl-check@ttn/devices/acl/up"

    def client(tool: str, user: str, password: str, *args: str) -> list[str]:
        return [tool, "-h", "127.0.0.1", "-p", port, "-u", user, "-P", password, *args]

    # wherry may read uplinks but not publish them; ingest may publish but not read.
    reader = subprocess.Popen(
        client("mosquitto_sub", "wherry", wherry_password, "-t", topic, "-C", "1", "-W", "10"),
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    snooper = subprocess.Popen(
        client("mosquitto_sub", "ingest", ingest_password, "-t", "v3/#", "-C", "1", "-W", "4"),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    for _ in range(40):
        for user, password, body in (
            ("wherry", wherry_password, "denied"),
            ("ingest", ingest_password, "allowed"),
        ):
            subprocess.run(client("mosquitto_pub", user, password, "-t", topic, "-m", body,
                                  "-q", "1"), check=True, timeout=20)  # fmt: skip
        if reader.poll() is not None:
            break
        time.sleep(0.2)
    assert reader.communicate(timeout=15)[0].strip() == "allowed"
    assert snooper.communicate(timeout=15)[0] == "", "ingest must not read uplinks"
    # The compose health check's subscription: wherry reads the broker's uptime.
    uptime = subprocess.run(
        client("mosquitto_sub", "wherry", wherry_password, "-t", "$SYS/broker/uptime",
               "-C", "1", "-W", "5"),
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert uptime.returncode == 0 and "seconds" in uptime.stdout


def test_influxdb_users_wherry_writes_and_grafana_only_reads(walked: Walkthrough) -> None:
    assert walked.result.returncode == 0, explain(walked)
    base = walked.values["WHERRY_STORE_URL"].split("@")[1].split("/")[0]
    grafana_password = (walked.root / "etc/default/grafana-server").read_text()
    password = re.search(r"INFLUX_GRAFANA_PASSWORD=(\w+)", grafana_password)
    assert password is not None
    auth = ("grafana", password.group(1))
    query = httpx.get(f"http://{base}/query", params={
        "db": "wherry", "q": 'SELECT count("road_surface_temperature") FROM "reading"'},
        auth=auth)  # fmt: skip
    assert query.status_code == 200 and "error" not in query.text, query.text
    assert query.json()["results"][0]["series"][0]["values"][0][1] >= 1
    write = httpx.post(f"http://{base}/write", params={"db": "wherry"}, auth=auth,
                       content=b"reading,device_id=x road_surface_temperature=1")  # fmt: skip
    assert write.status_code == 403
    anonymous = httpx.get(f"http://{base}/query", params={"db": "wherry", "q": "SHOW MEASUREMENTS"})
    assert anonymous.status_code == 401


def test_every_dashboard_query_runs_on_the_filled_influxdb_as_grafana(walked: Walkthrough) -> None:
    assert walked.result.returncode == 0, explain(walked)
    defaults = environment_file(walked.root / "etc/default/grafana-server")
    base = defaults["INFLUX_URL"]
    auth = (defaults["INFLUX_GRAFANA_USER"], defaults["INFLUX_GRAFANA_PASSWORD"])
    chosen = {"quantity": "road_surface_temperature", "route": "matlock-bank"}
    answered: dict[str, Any] = {}
    for path in dashboards.dashboard_files():
        for query in dashboards.queries(path):
            text = dashboards.concrete(query.text, chosen)
            reply = httpx.get(f"{base}/query", params={"db": defaults["INFLUX_DATABASE"],
                                                       "q": text}, auth=auth)  # fmt: skip
            assert reply.status_code == 200, f"{query.dashboard} {query.where}: {reply.text}"
            result = reply.json()["results"][0]
            assert "error" not in result, f"{query.dashboard} {query.where}: {result} for {text}"
            answered[f"{query.dashboard} {query.where}"] = result.get("series")
    # The smoke uplink is there to be seen on the board's and the link panels.
    with_data = [where for where, series in answered.items() if series]
    assert any("gritting-board.json panel 'Road surface temperature'" in w for w in with_data)
    assert any("link-quality-battery.json panel 'RSSI" in w for w in with_data)


# -- the compose preparation, run --------------------------------------------------------------


def test_the_compose_preparation_yields_a_broker_that_starts_with_tls_and_the_acl(
    tmp_path: Path,
) -> None:
    deploy = tmp_path / "deploy"
    (deploy / "mosquitto").mkdir(parents=True)
    for name in (".env.example", "mosquitto/compose.conf", "mosquitto/wherry.conf",
                 "mosquitto/acl"):  # fmt: skip
        shutil.copy(REPO / "deploy" / name, deploy / name)
    script = SHIMS + "\n".join(b.text for b in of_kind(PAGE, "compose-run"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHERRY_")}
    done = subprocess.run(["bash", "-c", script], cwd=deploy, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    dotenv = environment_file(deploy / ".env")
    secrets_set = [v for k, v in dotenv.items() if re.search("PASSWORD|TOKEN|SECRET", k)]
    assert len(secrets_set) == 9 and all(re.fullmatch("[0-9a-f]{48}", v) for v in secrets_set)
    assert len(set(secrets_set)) == len(secrets_set)
    assert dotenv["MQTT_TLS_DIR"] == str(deploy / "mosquitto" / "certs")
    assert oct((deploy / ".env").stat().st_mode & 0o777) == "0o600"
    users = [line.split(":")[0] for line in (deploy / "mosquitto/passwd").read_text().split()]
    assert users == ["wherry", "ingest"]
    # Run again (as after an upgrade): nothing that volumes were initialised with changes.
    before = (deploy / ".env").read_text(), (deploy / "mosquitto/certs/server.crt").read_bytes()
    again = subprocess.run(["bash", "-c", script], cwd=deploy, env=env, capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert again.returncode == 0, again.stderr
    after = (deploy / ".env").read_text(), (deploy / "mosquitto/certs/server.crt").read_bytes()
    assert after == before
    start_compose_broker(deploy, dotenv, tmp_path)


def start_compose_broker(deploy: Path, dotenv: dict[str, str], tmp_path: Path) -> None:
    """Mosquitto with compose.conf, its mounts as compose.yaml makes them, ports mapped."""
    container = tmp_path / "container"
    mosquitto = compose_services()["mosquitto"]
    for volume in mosquitto["volumes"]:
        source, target = volume.split(":")[:2]
        place = container / target.lstrip("/")
        place.parent.mkdir(parents=True, exist_ok=True)
        if source == "mosquitto-certs":
            shutil.copytree(dotenv["MQTT_TLS_DIR"], place)
        elif source == "mosquitto-data":
            place.mkdir()
        else:
            shutil.copy(deploy / source, place)
    plain, tls = servers.free_port(), servers.free_port()
    config = container / "mosquitto/config/mosquitto.conf"
    text = config.read_text().replace("/mosquitto/", f"{container}/mosquitto/")
    text = text.replace("listener 1883", f"listener {plain} 127.0.0.1")
    text = text.replace("listener 8883", f"listener {tls} 127.0.0.1")
    config.write_text(text + ("user root\n" if os.geteuid() == 0 else ""))
    broker = servers.ServerProcess("mosquitto-compose", tls, tmp_path, ["mosquitto", "-c",
                                                                        str(config)])  # fmt: skip
    broker.start()
    try:
        servers.wait_for_port(plain)
        health = " ".join(mosquitto["healthcheck"]["test"][1:]).replace("$$", "$")
        checked = subprocess.run(["sh", "-c", health.replace("-p 1883", f"-p {plain}")],
                                 env={**os.environ, **dotenv}, capture_output=True, text=True,
                                 timeout=20)  # fmt: skip
        assert checked.returncode == 0, f"compose's health check fails: {checked.stderr}"
        subscriber = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(plain), "-u", "wherry",
             "-P", dotenv["MQTT_WHERRY_PASSWORD"], "-t", "v3/+/devices/+/up", "-C", "1",
             "-W", "10", "-q", "1"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        certificate = container / "mosquitto/certs/server.crt"
        for _ in range(50):  # until the subscription is in place
            sent = subprocess.run(
                ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(tls), "--cafile",
                 str(certificate), "--insecure", "-u", "ingest",
                 "-P", dotenv["MQTT_INGEST_PASSWORD"], "-t", "v3/app@ttn/devices/d/up",
                 "-m", "over-tls", "-q", "1"],
                capture_output=True, text=True, timeout=20,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stderr
            if subscriber.poll() is not None:
                break
            time.sleep(0.2)
        out, _ = subscriber.communicate(timeout=15)
        assert out.strip() == "over-tls"
        plain_tls = subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(tls), "-u", "ingest",
             "-P", dotenv["MQTT_INGEST_PASSWORD"], "-t", "v3/a/devices/d/up", "-m", "x"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        assert plain_tls.returncode != 0, "port 8883 must not accept plain MQTT"
    finally:
        broker.stop()


def test_blocks_module_sees_the_page_in_order() -> None:
    kinds = [b.kind for b in blocks(PAGE)]
    assert kinds.index("packages") < kinds.index("install") < kinds.index("values")
    assert kinds.index("values") < kinds.index("run")
    first_run: Block = of_kind(PAGE, "run")[0]
    assert "systemctl restart influxdb" in first_run.text
