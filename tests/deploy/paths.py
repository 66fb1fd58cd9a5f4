"""Where the deployment artefacts live, for the tests of tests/deploy/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCS = REPO / "docs"
VENV_BIN = REPO / ".venv" / "bin"


def load_yaml(path: Path) -> Any:
    """Parse a YAML file safely (merge keys `<<:` resolved, as docker compose does)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))
