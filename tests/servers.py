"""Start real Mosquitto and InfluxDB processes on free ports in temporary directories.

Never the machine's shared services: each test session gets its own, and stops them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@dataclass
class ServerProcess:
    name: str
    port: int
    directory: Path
    command: list[str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.name}.log"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_for_port(self.port, process=self.process)
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise RuntimeError(f"{self.name} did not start: {self.log_path.read_text()}") from exc

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """kill -9, for fault tests."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


def require_binary(name: str, hint: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )
    if path is None:
        raise RuntimeError(f"{name} is not installed: {hint}")
    return path


def mosquitto(directory: Path, *, max_inflight_messages: int = 1000) -> ServerProcess:
    """A Mosquitto that queues bursts instead of dropping them (max_queued_messages 0)."""
    binary = require_binary(
        "mosquitto", "apt-get install mosquitto (the README's test command does)"
    )
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "mosquitto.conf"
    config.write_text(
        "\n".join(
            [
                f"listener {port} 127.0.0.1",
                "allow_anonymous true",
                # As root, Mosquitto drops to its own user and cannot write the temp dir.
                *(["user root"] if os.geteuid() == 0 else []),
                "persistence true",
                f"persistence_location {directory}/",
                "max_queued_messages 0",
                f"max_inflight_messages {max_inflight_messages}",
                "message_size_limit 0",
                "",
            ]
        )
    )
    server = ServerProcess("mosquitto", port, directory, [binary, "-c", str(config)])
    server.start()
    return server


def influxd(
    directory: Path, *, http_settings: str = "", name: str = "influxd", ping: bool = True
) -> ServerProcess:
    """InfluxDB 1.x with its HTTP API on a free port and all data under `directory`.

    `http_settings` adds lines to the `[http]` section (auth, https); with `ping`
    off the caller checks readiness itself (an https server does not answer http).
    """
    binary = require_binary("influxd", "apt-get install influxdb (the README's test command does)")
    http_port, bind_port = free_port(), free_port()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "influxdb.conf"
    config.write_text(
        f"""
reporting-disabled = true
bind-address = "127.0.0.1:{bind_port}"
[meta]
  dir = "{directory}/meta"
[data]
  dir = "{directory}/data"
  wal-dir = "{directory}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
  max-body-size = 0
{http_settings}
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"""
    )
    server = ServerProcess(name, http_port, directory, [binary, "-config", str(config)])
    server.start()
    if not ping:
        return server
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/ping", timeout=1).status_code == 204:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"influxd did not answer /ping: {server.log_path.read_text()}")
