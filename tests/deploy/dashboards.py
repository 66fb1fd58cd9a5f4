"""wherry's Grafana dashboards and their InfluxQL queries, for the checks against the data
model (test_grafana.py) and against a real InfluxDB (test_deployment_doc.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.deploy.paths import DEPLOY

DASHBOARDS = DEPLOY / "grafana" / "dashboards"
DATASOURCE_UID = "wherry-influxql"


@dataclass(frozen=True)
class Query:
    dashboard: str
    where: str
    """`panel "title" target A` or `variable route`."""
    text: str


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{path.name}: not a JSON object")
    return document


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # inside rows


def variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    listed = dashboard.get("templating", {}).get("list", [])
    return [v for v in listed if isinstance(v, dict)]


def queries(path: Path) -> list[Query]:
    """Every InfluxQL text of a dashboard: panel targets and query variables."""
    dashboard = load(path)
    found = [
        Query(path.name, f"variable {v['name']}", str(v["query"]))
        for v in variables(dashboard)
        if v.get("type") == "query"
    ]
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            found.append(
                Query(path.name, f"panel {panel.get('title')!r} target {target.get('refId')}",
                      str(target.get("query", "")))
            )  # fmt: skip
    return found


def concrete(query: str, chosen: dict[str, str]) -> str:
    """The query as Grafana sends it for a time range and chosen variable values."""
    text = query.replace("$timeFilter", "time > now() - 1h")
    text = text.replace("$__interval", "1m")
    text = re.sub(r"/\^\$(\w+)\$/", lambda m: f"/^{re.escape(chosen.get(m[1], '.*'))}$/"
                  if m[1] in chosen else "/.*/", text)  # fmt: skip
    for name, value in chosen.items():
        text = text.replace(f"${name}", value)
    return text
