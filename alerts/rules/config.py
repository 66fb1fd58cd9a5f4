"""The rules file: thresholds of every rule family but gritting, in one TOML file.

Tables `[health]`, `[daqi]`, `[co2]` and an array `[[water]]`; every key has a default,
so an empty file is valid. The format is documented in docs/alerts-rules.md.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from alerts.model import Rule
from alerts.rules.co2 import Co2Settings, IndoorCo2
from alerts.rules.daqi import AirQualityIndex, DaqiSettings
from alerts.rules.health import DeviceHealth, HealthSettings
from alerts.rules.water import DEFAULT_WATER_RULES, WaterQuality, WaterRule, duplicate_names

_WATER_KINDS = ("threshold", "spike")


class RulesConfigError(ValueError):
    """A rules file wherry cannot use; one line per problem, named as written in the file."""


class RulesConfig(BaseModel):
    """Every rule family's settings. `water` replaces the defaults when given, never merges."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    health: HealthSettings = Field(default_factory=HealthSettings)
    daqi: DaqiSettings = Field(default_factory=DaqiSettings)
    co2: Co2Settings = Field(default_factory=Co2Settings)
    water: tuple[WaterRule, ...] = DEFAULT_WATER_RULES

    @model_validator(mode="after")
    def _unique_water_names(self) -> RulesConfig:
        duplicates = duplicate_names(self.water)
        if duplicates:
            raise ValueError(
                f"[[water]] names must be unique (they are part of alert keys); "
                f"repeated: {', '.join(duplicates)}"
            )
        return self


def parse_rules(text: str, *, source: str = "rules file") -> RulesConfig:
    """A `RulesConfig` from TOML text; `source` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return RulesConfig.model_validate(data)
    except ValidationError as exc:
        raise RulesConfigError(describe_errors(exc, data, source=source)) from None


def load_rules(path: Path) -> RulesConfig:
    """Read and check a rules file; any problem is one `RulesConfigError` naming every fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesConfigError(f"{path}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise RulesConfigError(f"{path}: not UTF-8 text: {exc}") from None
    return parse_rules(text, source=str(path))


def build_rules(config: RulesConfig) -> list[Rule]:
    """The enabled rule families, ready for the engine (in this order: health, daqi, co2, water).

    The composition root finds `DeviceHealth` in the list to tell it which devices exist.
    """
    rules: list[Rule] = []
    if config.health.enabled:
        rules.append(DeviceHealth(config.health))
    if config.daqi.enabled:
        rules.append(AirQualityIndex(config.daqi))
    if config.co2.enabled:
        rules.append(IndoorCo2(config.co2))
    if config.water:
        rules.append(WaterQuality(config.water))
    return rules


def describe_errors(exc: ValidationError, data: dict[str, Any], *, source: str) -> str:
    """One line per problem: `[table] key: message (got value)`, water rules by number and name."""
    lines = []
    for error in exc.errors():
        kind = error["type"]
        given = error.get("input")
        message = error["msg"].removeprefix("Value error, ")
        if kind == "extra_forbidden":
            message = "unknown key" if len(error["loc"]) > 1 else "unknown table"
        elif kind == "missing":
            message = "required"
        elif kind in ("model_type", "dict_type"):
            message = "must be a table"
        elif kind == "union_tag_invalid":
            message = f"kind must be one of {', '.join(map(repr, _WATER_KINDS))}"
            given = error.get("ctx", {}).get("tag", given)
        if isinstance(given, str | int | float) and kind not in ("missing", "extra_forbidden"):
            message += f" (got {given!r})"
        where = _where(error["loc"], data)
        lines.append(f"{where}: {message}" if where else message)
    return f"{source}: invalid rules:\n  " + "\n  ".join(lines)


def _where(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    if not loc:
        return ""
    table, *rest = loc
    if table == "water" and rest and isinstance(rest[0], int):
        number = rest[0]
        entries = data.get("water")
        entry = entries[number] if isinstance(entries, list) and number < len(entries) else {}
        name = entry.get("name") if isinstance(entry, dict) else None
        label = f"[[water]] #{number + 1}" + (f" ({name})" if isinstance(name, str) else "")
        return f"{label} {_key_path(rest[1:])}".rstrip()
    if not rest:
        return str(table) if table == "water" else f"[{table}]"
    return f"[{table}] {_key_path(rest)}"


def _key_path(parts: Sequence[int | str]) -> str:
    """`pollutants[1]`, `below`: the tagged-union step pydantic adds is not the user's."""
    path = ""
    for part in parts:
        if part in _WATER_KINDS:
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path
