"""docs/operations.md names real things: each `wherry …` command and option exists, each
metric is one /metrics serves, each alert rule parses, each setting is a setting."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import typer
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints

from api.metrics import Metrics
from gateway_bridge.counters import Counters
from storage import SQLiteStore
from storage.registry import Registry
from wherry.alerting import build_alerting
from wherry.bridge import build_bridge
from wherry.cli import app
from wherry.service import bridge_gauges
from wherry.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
CODE = re.compile(r"```[a-z]*\n(.*?)```|`([^`\n]+)`", re.DOTALL)
COMMAND = re.compile(r"(?<![\w/\"'.-])wherry ([a-z][^`|>;#\n]*)")


def code_spans() -> list[str]:
    return [block or inline for block, inline in CODE.findall(DOC)]


def commands() -> list[str]:
    return [match for span in code_spans() for match in COMMAND.findall(span)]


def test_every_wherry_command_and_option_in_the_doc_exists() -> None:
    root = typer.main.get_command(app)
    found = commands()
    assert len(found) >= 15, found
    for text in found:
        words = shlex.split(text.replace("$(", "").replace("\\%", "%"))
        command: Any = root
        while hasattr(command, "commands") and words and words[0] in command.commands:
            command = command.commands[words.pop(0)]
        assert command is not root and not hasattr(command, "commands"), text
        options = {name for param in command.params for name in getattr(param, "opts", [])}
        for word in words:
            if word.startswith("--"):
                assert word.split("=")[0] in options, f"{word} in `wherry {text}`"


def served_metric_names(tmp_path: Path) -> set[str]:
    """What /metrics serves once every counter the code counts has counted."""
    counted = set()
    for source in [*(ROOT / "gateway_bridge").rglob("*.py"), *(ROOT / "wherry").rglob("*.py")]:
        counted |= set(re.findall(r"counters\.add\(\s*f?\"([a-z_.]+)", source.read_text()))
    counters = Counters()
    for name in counted:
        counters.add(name if not name.endswith(".") else name + "decode_error")
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.migrate()
    store = SQLiteStore(tmp_path / "readings.db")
    bridge = build_bridge(Settings(data_dir=tmp_path), store, registry)
    try:
        alerting = build_alerting(Settings(data_dir=tmp_path), registry, store, counters)
        metrics = Metrics(counters, bridge_gauges(bridge, alerting))
        metrics.request_seconds.labels("/healthz", "GET", "200").observe(0.01)
        text = metrics.exposition().decode()
    finally:
        bridge.close()
        store.close()
        registry.close()
    samples = set(re.findall(r"^(wherry_[a-z_]+)", text, re.MULTILINE))
    return samples | {re.sub(r"_(bucket|count|sum|created)$", "", name) for name in samples}


def test_every_metric_in_the_doc_is_served(tmp_path: Path) -> None:
    served = served_metric_names(tmp_path)
    named = set(re.findall(r"\b(wherry_[a-z_]+[a-z])\b", DOC))
    named -= {"wherry_forever"}  # the 2.x bucket of aggregates, not a metric
    assert len(named) >= 20
    assert named - served == set()
    # and the table lists every family /metrics has (histogram parts aside)
    histogram_parts = {n for n in served if re.search(r"_(bucket|count|sum|created)$", n)}
    assert served - histogram_parts - named == set()


def test_the_alert_rules_parse_and_watch_served_metrics(tmp_path: Path) -> None:
    block = next(b for b, _ in CODE.findall(DOC) if b.startswith("groups:"))
    rules = yaml.safe_load(block)["groups"][0]["rules"]
    names = {rule["alert"] for rule in rules}
    assert {"WherrySpoolGrowing", "WherryNoUplinks", "WherryNotReady"} <= names
    assert "WherryNotificationFailed" in names and "WherryDeadLettersRising" in names
    served = served_metric_names(tmp_path)
    for rule in rules:
        for metric in re.findall(r"\b(wherry_[a-z_]+)", rule["expr"]):
            assert metric in served, (rule["alert"], metric)


def test_every_setting_in_the_doc_is_a_setting() -> None:
    known = {f"WHERRY_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"\bWHERRY_[A-Z0-9_]+[A-Z0-9]", DOC))
    assert named and named <= known, named - known
