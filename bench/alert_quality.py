"""Decision quality of the gritting engine on generated winter seasons, per policy.

    .venv/bin/python bench/alert_quality.py [--nights 14] [--routes 3] [--seasons 3] [--seed 2025]

Each season (`alerts.synthetic.season`: frosty, marginal, mild, mild-steep-evening,
cloud-bump, thaw and late-clearing nights on a hill road, a bridge deck and a town
centre) is written as the files a council would have (TTN uplink JSON lines,
devices.csv, routes.csv), read back through the decoders exactly as `wherry replay`
reads them, and replayed through each policy. Route-nights run noon to noon; a night
is *freezing* when a valid reading is ≤ 0 °C, *warm* when every valid reading stays
above +3 °C, *mild* in between. For each policy it reports:

- freezing route-nights without TREAT before the first reading ≤ 0 °C (target 0);
- median lead time from TREAT to that first reading (target ≥ 60 min);
- warm route-nights with TREAT (target 0);
- the most recommendation changes in one route-night (target ≤ 4);
- mild route-nights treated: the salt the council could save (no target: the trade).

Prints a table and writes bench/results/alert_quality.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)  # this file lives in bench/: import the packages from the root

from alerts.model import Observation  # noqa: E402
from alerts.policy import GrittingPolicy  # noqa: E402
from alerts.replay import ReplayResult, replay  # noqa: E402
from alerts.season import CostAssumptions  # noqa: E402
from alerts.synthetic import Season, season  # noqa: E402
from bench.machine import cpu_model  # noqa: E402
from wherry.replay import FileRegistry, load_registry, read_observations  # noqa: E402
from wherry.synthetic_season import write_season  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "alert_quality.json"
POLICIES: dict[str, dict[str, object]] = {
    "default": {},
    "GRITTING.md table (no forecast TREAT)": {"treat_when_forecast_at_or_below_c": None},
    "threshold +0.5 °C, horizon 2 h": {"marginal_threshold_c": 0.5, "horizon_minutes": 120.0},
    "precautionary": {"precautionary": True},
    "precautionary, +0.5 °C, 2 h": {
        "precautionary": True,
        "marginal_threshold_c": 0.5,
        "horizon_minutes": 120.0,
    },
}
TARGETS = {
    "freezing_nights_without_treat_before_ice": "= 0",
    "median_lead_minutes": ">= 60",
    "warm_nights_treated": "= 0",
    "max_recommendation_changes_per_night": "<= 4",
}


@dataclass(frozen=True, slots=True)
class ReadSeason:
    """A generated season as `wherry replay` reads it from its files."""

    season: Season
    registry: FileRegistry
    observations: list[Observation]
    lines: int
    bad_lines: int


def read_season(generated: Season, directory: Path) -> ReadSeason:
    files = write_season(generated, directory)
    registry = load_registry(files.devices_csv, files.routes_csv)
    observations, counts = read_observations(files.uplinks_jsonl, registry)
    return ReadSeason(generated, registry, observations, counts.lines, sum(counts.bad.values()))


def salt_per_run_tonnes(registry: FileRegistry, assumptions: CostAssumptions) -> dict[str, float]:
    """One run of each route at the default width and spread rate (routes.csv has neither)."""
    return {
        route.route_id: route.length_km * 1000 * assumptions.width_m
        * assumptions.spread_rate_g_m2 / 1e6
        for route in registry.routes
    }  # fmt: skip


def figures(results: list[tuple[ReadSeason, ReplayResult]]) -> dict[str, Any]:
    """The quality measures over every route-night of every season replayed with one policy."""
    assumptions = CostAssumptions()
    freezing = missed = warm = warm_treated = mild = mild_treated = treat_nights = 0
    episodes = icy_missed = max_changes = 0
    salt = mild_salt = 0.0
    leads: list[float] = []
    by_kind: dict[str, dict[str, int]] = {}
    for read, result in results:
        salt_per_run = salt_per_run_tonnes(read.registry, assumptions)
        kinds = {window.evening: window.kind.value for window in read.season.nights}
        for route_id, outcome in result.routes.items():
            episodes += outcome.treat_episodes
            icy_missed += len(outcome.track.icy_hours_missed)
            for night in outcome.nights:
                if night.evening not in kinds:
                    continue  # the afternoon before the first night
                kind = by_kind.setdefault(
                    kinds[night.evening], {"route_nights": 0, "treated": 0, "missed": 0}
                )
                kind["route_nights"] += 1
                kind["treated"] += night.treat
                max_changes = max(max_changes, night.recommendation_changes)
                treat_nights += night.treat
                salt += salt_per_run[route_id] * night.treat
                if night.freezing:
                    freezing += 1
                    missed += not night.treat_before_freezing
                    kind["missed"] += not night.treat_before_freezing
                    if night.lead_minutes is not None:
                        leads.append(night.lead_minutes)
                elif night.stayed_warm:
                    warm += 1
                    warm_treated += night.treat
                else:
                    mild += 1
                    mild_treated += night.treat
                    mild_salt += salt_per_run[route_id] * night.treat
    return {
        "route_nights": sum(kind["route_nights"] for kind in by_kind.values()),
        "freezing_nights": freezing,
        "freezing_nights_without_treat_before_ice": missed,
        "median_lead_minutes": round(statistics.median(leads), 1) if leads else None,
        "min_lead_minutes": round(min(leads), 1) if leads else None,
        "warm_nights": warm,
        "warm_nights_treated": warm_treated,
        "max_recommendation_changes_per_night": max_changes,
        "mild_nights": mild,
        "mild_nights_treated": mild_treated,
        "treat_route_nights": treat_nights,
        "treat_episodes": episodes,
        "icy_hours_missed": icy_missed,
        "salt_tonnes_one_run_per_treat_night": round(salt, 2),
        "salt_tonnes_on_mild_nights": round(mild_salt, 2),
        "by_kind": dict(sorted(by_kind.items())),
    }


def meets(result: dict[str, Any]) -> dict[str, bool]:
    lead = result["median_lead_minutes"]
    return {
        "freezing_nights_without_treat_before_ice": result[
            "freezing_nights_without_treat_before_ice"
        ]
        == 0,
        "median_lead_minutes": lead is not None and lead >= 60,
        "warm_nights_treated": result["warm_nights_treated"] == 0,
        "max_recommendation_changes_per_night": result["max_recommendation_changes_per_night"] <= 4,
    }


def machine() -> dict[str, str]:
    cpu = cpu_model()
    return {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu}


def table(rows: list[dict[str, Any]]) -> str:
    columns = (
        ("missed", "freezing_nights_without_treat_before_ice"),
        ("lead", "median_lead_minutes"),
        ("min lead", "min_lead_minutes"),
        ("warm T", "warm_nights_treated"),
        ("changes", "max_recommendation_changes_per_night"),
        ("mild T", "mild_nights_treated"),
        ("T nights", "treat_route_nights"),
        ("salt t", "salt_tonnes_one_run_per_treat_night"),
    )
    width = max(len(row["policy"]) for row in rows)
    lines = [f"{'policy':<{width}} " + " ".join(f"{title:>9}" for title, _ in columns)]
    for row in rows:
        cells = []
        for _, key in columns:
            value = row["figures"][key]
            cells.append(f"{'—' if value is None else value:>9}")
        lines.append(f"{row['policy']:<{width}} " + " ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Gritting decision quality per policy.")
    parser.add_argument("--nights", type=int, default=14)
    parser.add_argument("--routes", type=int, default=3)
    parser.add_argument("--seasons", type=int, default=3, help="seasons, seeds seed, seed+1, …")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    seasons: list[ReadSeason] = []
    with tempfile.TemporaryDirectory(prefix="wherry-alert-quality-") as workdir:
        for offset in range(args.seasons):
            generated = season(args.nights, args.routes, seed=args.seed + offset)
            read = read_season(generated, Path(workdir) / f"season-{offset}")
            seasons.append(read)
            kinds = ", ".join(window.kind.value for window in generated.nights)
            print(
                f"season seed {generated.seed}: {read.lines} uplinks, {read.bad_lines} bad; {kinds}"
            )
    rows = []
    for name, overrides in POLICIES.items():
        policy = GrittingPolicy().with_overrides(overrides, source=name)
        started = time.process_time()
        results = [
            (read, replay(read.observations, read.registry.plans(policy))) for read in seasons
        ]
        spent = time.process_time() - started
        result = figures(results)
        rows.append(
            {
                "policy": name,
                "overrides": overrides,
                "figures": result,
                "meets_targets": meets(result),
                "replay_cpu_seconds": round(spent, 2),
            }
        )
    print()
    print(table(rows))
    print(
        "\nmissed: freezing route-nights without TREAT before the first reading ≤ 0 °C "
        "(target 0); lead: median minutes (target ≥ 60); min lead: the shortest; warm T: TREAT "
        "on nights above +3 °C (target 0); changes: most recommendation changes in a "
        "route-night (target ≤ 4); "
        "mild T: nights between 0 and +3 °C treated; salt t: one run per TREAT route-night."
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "benchmark": "bench/alert_quality.py",
                "command": ".venv/bin/python bench/alert_quality.py",
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine(),
                "seasons": [
                    {
                        "seed": read.season.seed,
                        "nights": [
                            {"evening": w.evening.isoformat(), "kind": w.kind.value}
                            for w in read.season.nights
                        ],
                        "routes": [r.route_id for r in read.season.routes],
                        "uplinks": read.lines,
                    }
                    for read in seasons
                ],
                "night": "noon to noon, Europe/London",
                "targets": TARGETS,
                "cost_assumptions": CostAssumptions().model_dump(),
                "policies": rows,
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
