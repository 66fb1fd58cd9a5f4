"""Reading systemd unit files: their directives, as systemd-analyze and the stand-in
`systemctl` of the deployment-doc test need them."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.paths import DEPLOY

UNITS = DEPLOY / "systemd"
SERVICES = ("wherry-migrate", "wherry-bridge", "wherry-api")


def directives(path: Path) -> dict[str, dict[str, list[str]]]:
    """section → key → every value in order (keys such as Environment= repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None:
            raise ValueError(f"{path.name}: directive before any section: {line!r}")
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path.name}: not Key=value: {line!r}")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str | None:
    values = unit.get(section, {}).get(key)
    return values[-1] if values else None


def environment_file(path: Path) -> dict[str, str]:
    """An EnvironmentFile= as systemd reads it: NAME=value lines, # comments."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        name, sep, value = line.partition("=")
        if sep:
            values[name.strip()] = value.strip()
    return values
