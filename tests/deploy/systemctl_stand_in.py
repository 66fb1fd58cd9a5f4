"""A stand-in for `systemctl` in tests/deploy/test_deployment_doc.py.

It runs the unit files the walkthrough installed as systemd would start them: ExecStart
with Environment= and EnvironmentFile=, Requires= first, StateDirectory= created,
Type=oneshot to completion, SIGTERM and TimeoutStopSec= on stop. It leaves out the
sandboxing (test_systemd_units.py verifies that part). Debian's own services are the
test's: `mosquitto` is (re)started with the configuration the walkthrough wrote,
`influxdb` must answer, and `grafana-server`, not installed in tests, has its
provisioning checked. Paths under /etc, /var, /run and /opt/wherry live under
$DEPLOY_TEST_ROOT.

    python -m tests.deploy.systemctl_stand_in enable --now wherry-bridge wherry-api
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.deploy.units import directives, environment_file, one

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MAPPED = re.compile(r"(?<=[\s'\"=(])/(etc|var|run|opt/wherry)(?=/|\s|$)")


def map_paths(text: str, root: Path) -> str:
    """/etc/…, /var/…, /run/…, /opt/wherry/… → the same under `root`."""
    return MAPPED.sub(lambda m: f"{root}/{m.group(1)}", text)


class Failed(Exception):
    """A unit did not start or stop as systemd would have reported success."""


class Units:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.run = root / "run"
        self.logs = root / "var" / "log"

    # -- the commands ---------------------------------------------------------------------
    def start(self, name: str, *, restart: bool = False) -> None:
        if name == "influxdb":
            return self._influxdb()
        if name == "mosquitto":
            return self._mosquitto()
        if name == "grafana-server":
            return self._grafana()
        if self.active(name):
            if not restart:
                return
            self.stop(name)
        unit = self._unit(name)
        for required in (one(unit, "Unit", "Requires") or "").split():
            self.start(required.removesuffix(".service"))
        command = map_paths(" " + (one(unit, "Service", "ExecStart") or ""), self.root).split()
        env = self._environment(unit)
        log = (self.logs / f"{name}.log").open("ab")
        if one(unit, "Service", "Type") == "oneshot":
            done = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  cwd="/", timeout=120, check=False)  # fmt: skip
            if done.returncode != 0:
                raise Failed(f"{name}: exit status {done.returncode}\n{self.log(name)}")
            if one(unit, "Service", "RemainAfterExit") == "yes":
                (self.run / f"{name}.oneshot").write_text("done")
            return None
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "tests.deploy.systemctl_stand_in", "--supervise", name,
             *command],
            env={**env, "DEPLOY_TEST_ROOT": str(self.root),
                 "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
            stdout=log, stderr=subprocess.STDOUT, cwd="/", start_new_session=True,
        )  # fmt: skip
        (self.run / f"{name}.pid").write_text(str(supervisor.pid))
        time.sleep(0.5)
        if supervisor.poll() is not None:
            raise Failed(f"{name} exited at once\n{self.log(name)}")
        return None

    def stop(self, name: str) -> int | None:
        """SIGTERM, wait TimeoutStopSec, and the service's exit status (None: oneshot)."""
        oneshot = self.run / f"{name}.oneshot"
        if oneshot.exists():
            oneshot.unlink()
            return None
        pid_file = self.run / f"{name}.pid"
        if not pid_file.exists():
            return None
        pid = int(pid_file.read_text())
        timeout = float((one(self._unit(name), "Service", "TimeoutStopSec") or "90").rstrip("s"))
        status_file = self.run / f"{name}.status"
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not status_file.exists():
            if time.monotonic() > deadline:
                os.killpg(pid, signal.SIGKILL)
                raise Failed(f"{name} did not stop within TimeoutStopSec={timeout:g}s")
            time.sleep(0.1)
        pid_file.unlink()
        return int(status_file.read_text())

    def active(self, name: str) -> bool:
        if (self.run / f"{name}.oneshot").exists():
            return True
        pid_file = self.run / f"{name}.pid"
        if not pid_file.exists() or (self.run / f"{name}.status").exists():
            return False
        try:
            os.kill(int(pid_file.read_text()), 0)
        except ProcessLookupError:
            return False
        return True

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # -- the parts -----------------------------------------------------------------------
    def _unit(self, name: str) -> dict[str, dict[str, list[str]]]:
        path = self.root / "etc" / "systemd" / "system" / f"{name}.service"
        if not path.exists():
            raise Failed(f"Unit {name}.service not found.")
        return directives(path)

    def _environment(self, unit: dict[str, dict[str, list[str]]]) -> dict[str, str]:
        env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
        state = self.root / "var" / "lib"
        for directory in (one(unit, "Service", "StateDirectory") or "").split():
            (state / directory).mkdir(parents=True, exist_ok=True)
        for assignment in unit.get("Service", {}).get("Environment", []):
            name, _, value = assignment.partition("=")
            env[name] = value.replace("%S", str(state)).replace("%t", str(self.run))
        for path in unit.get("Service", {}).get("EnvironmentFile", []):
            env.update(environment_file(Path(map_paths(" " + path, self.root).strip())))
        return env

    def _influxdb(self) -> None:
        url = f"http://{os.environ['INFLUX_HOSTPORT']}/ping"
        if httpx.get(url, timeout=5).status_code != 204:
            raise Failed("influxdb does not answer /ping")

    def _mosquitto(self) -> None:
        pid_file = self.run / "mosquitto" / "mosquitto.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            time.sleep(0.3)
        config = self.root / "etc" / "mosquitto" / "mosquitto.conf"
        done = subprocess.run(["mosquitto", "-c", str(config), "-d"], capture_output=True,
                              text=True, timeout=20, check=False,
                              env={"PATH": SYSTEM_PATH})  # fmt: skip
        if done.returncode != 0:
            raise Failed(f"mosquitto did not start: {done.stderr}")
        port = int(os.environ["MQTT_PORT"])
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    log = self.logs / "mosquitto" / "mosquitto.log"
                    raise Failed(f"mosquitto not listening on {port}: {log.read_text()}") from None
                time.sleep(0.1)

    def _grafana(self) -> None:
        provisioning = self.root / "etc" / "grafana" / "provisioning"
        source = provisioning / "datasources" / "wherry.yaml"
        for path in (source, provisioning / "dashboards" / "wherry.yaml"):
            if not path.exists():
                raise Failed(f"grafana-server: {path} is missing")
        if len(list((self.root / "var/lib/grafana/dashboards").glob("*.json"))) != 3:
            raise Failed("grafana-server: the three dashboards are not in place")
        defaults = environment_file(self.root / "etc" / "default" / "grafana-server")
        for variable in re.findall(r"\$\{(\w+)\}", source.read_text()):
            if not defaults.get(variable):
                raise Failed(f"grafana-server: {variable} is not set in /etc/default")
        print("grafana-server: provisioning in place (Grafana itself is not run in tests)")


def supervise(name: str, command: list[str]) -> int:
    """Run `command`, pass SIGTERM on, and record its exit status (what systemd logs)."""
    root = Path(os.environ.pop("DEPLOY_TEST_ROOT"))
    os.environ.pop("PYTHONPATH", None)
    child = subprocess.Popen(command, cwd="/")
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    status = child.wait()
    (root / "run" / f"{name}.status").write_text(str(status))
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--supervise":
        return supervise(argv[1], argv[2:])
    units = Units(Path(os.environ["DEPLOY_TEST_ROOT"]))
    words = [word for word in argv if not word.startswith("-")]
    verb, names = words[0], [word.removesuffix(".service") for word in words[1:]]
    try:
        if verb == "daemon-reload":
            return 0
        if verb in ("start", "restart") or (verb == "enable" and "--now" in argv):
            for name in names:
                units.start(name, restart=verb == "restart")
            return 0
        if verb == "stop":
            for name in names:
                status = units.stop(name)
                print(f"{name}: exit status {status}")
            return 0
        if verb == "is-active":
            states = [units.active(name) for name in names]
            print("\n".join("active" if s else "inactive" for s in states))
            return 0 if all(states) else 3
    except Failed as exc:
        print(f"systemctl (test stand-in): {exc}", file=sys.stderr)
        return 1
    print(f"systemctl (test stand-in): {' '.join(argv)} is not something the doc should need",
          file=sys.stderr)  # fmt: skip
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
