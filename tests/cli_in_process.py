"""Run a `wherry` command in this process, through the real CLI, when a subprocess would
add only its start-up (seconds on a busy 2-core machine) to what a test checks.

Each command family also has tests that run it as a subprocess (`tests/wherry_process.py`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from typer.testing import CliRunner

from wherry.cli import app


@dataclass(frozen=True)
class Ran:
    """What `subprocess.run` would have told: the same three names."""

    returncode: int
    stdout: str
    stderr: str


def wherry_here(*args: str, env: Mapping[str, str], input: str | None = None) -> Ran:
    """`wherry ARGS` with only `env`'s WHERRY_* settings; logging is put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    settings: dict[str, str | None] = {k: None for k in os.environ if k.startswith("WHERRY_")}
    settings.update(env)
    try:
        result = CliRunner().invoke(app, list(args), env=settings, input=input)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)
