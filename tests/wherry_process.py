"""Run the real `wherry` command in a subprocess, as a user or systemd would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from tests.servers import free_port


def wherry_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment without the caller's WHERRY_* settings, plus `extra`.

    A test that does not choose an API port gets a free one, not 8080: tests run in
    parallel, and two processes on one port would refuse each other.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHERRY_")}
    env["WHERRY_API_PORT"] = str(free_port())
    env.update(extra)
    return env


def wherry(
    *args: str, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run one wherry command to completion and return its output."""
    return subprocess.run(
        [sys.executable, "-m", "wherry", *args],
        env=wherry_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class WherryRun:
    """`wherry run` (or another long-running command, e.g. `api`) in the background with its
    log in a file."""

    def __init__(self, env: Mapping[str, str], log_path: Path, command: str = "run") -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wherry", command],
            env=wherry_env(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text.lower() in self.log.lower():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"wherry run exited {self.process.returncode}:\n{self.log}")
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} in wherry's log after {timeout}s:\n{self.log}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, as systemd sends it, and the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()
