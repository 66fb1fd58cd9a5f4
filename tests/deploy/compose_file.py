"""Reading deploy/compose.yaml and deploy/.env.example the way docker compose does, for the
structural checks (the tests have no `docker compose` to run `config` with)."""

from __future__ import annotations

import re
from typing import Any

from tests.deploy.paths import DEPLOY, load_yaml

COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
# ${NAME}, ${NAME:-default}, ${NAME:?message}; $$ is a literal dollar.
REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")
BARE_REFERENCE = re.compile(r"(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)")


def compose() -> dict[str, Any]:
    document = load_yaml(COMPOSE)
    assert isinstance(document, dict)
    return document


def services() -> dict[str, dict[str, Any]]:
    found = compose()["services"]
    assert isinstance(found, dict)
    return found


def strings(node: Any) -> list[str]:
    """Every string in a YAML tree (keys included), for the variable checks."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in [*strings(key), *strings(value)]]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return []


def references(text: str) -> set[str]:
    return {match.group(1) for match in REFERENCE.finditer(text)}


def env_example() -> dict[str, str]:
    """NAME → value of .env.example, commented-out optional lines (`# NAME=…`) included."""
    values: dict[str, str] = {}
    for raw in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"#?\s*([A-Z_][A-Z0-9_]*)=(.*)", raw.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


def required_in_env_example() -> set[str]:
    """Uncommented names of .env.example: the ones a user must fill in."""
    return {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if re.match(r"[A-Z_][A-Z0-9_]*=", line)
    }


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (compose allows a list of NAME=value too)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(str(item).split("=", 1) for item in env)
    return {str(key): str(value) for key, value in env.items()}


def interpolate(text: str, values: dict[str, str]) -> str:
    """compose's interpolation of ${…} (and $$ → $) with `values`; missing required → KeyError."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        value = values.get(name)
        if operator in (":-", "-"):
            return value if value else (argument or "")
        if operator in (":?", "?"):
            if not value:
                raise KeyError(f"{name}: {argument}")
            return value
        return value or ""

    return REFERENCE.sub(one, text).replace("$$", "$")
