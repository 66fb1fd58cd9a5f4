"""The benchmark's verdict: ratios against the targets of issue #7, and the one table."""

from __future__ import annotations

import os
import platform
from typing import Any

from bench.machine import cpu_model

TARGET_PER_SECOND = 20_000
TARGET_VS_NODE_RED_BATCHED = 1.0
TARGET_VS_NODE_RED_PER_MESSAGE = 5.0
TARGET_VS_PAHO_PARSE = 0.40
TARGET_P99_S = 2.0
TARGET_RSS_MB = 200.0
TARGET_RSS_GROWTH_PCT = 5.0


def machine() -> dict[str, str]:
    cpu = cpu_model()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "load_average_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 2)


def _check(value: float | None, target: float, *, at_most: bool = False) -> dict[str, Any]:
    met = None if value is None else (value < target if at_most else value >= target)
    return {"value": value, "target": f"{'<' if at_most else '≥'} {target:g}", "met": met}


def targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target of the issue that this run measured: value, target, met."""
    out: dict[str, dict[str, Any]] = {}
    burst = results.get("wherry")
    if burst is not None:
        out["uplinks_per_second"] = _check(burst["per_second"], TARGET_PER_SECOND)
        out["zero_loss"] = {"value": burst["lost"], "target": "0", "met": burst["lost"] == 0}
        rss = burst["processes"].get("wherry", {}).get("rss_steady_mb")
        out["wherry_steady_rss_mb"] = _check(rss, TARGET_RSS_MB, at_most=True)
        paho = results.get("limits", {}).get("broker_paho_parse", {}).get("per_second")
        out["vs_paho_parse_ceiling"] = _check(
            _ratio(burst["per_second"], paho), TARGET_VS_PAHO_PARSE
        )
        node_red = results.get("node_red") or {}
        batched = (node_red.get("batched") or {}).get("per_second")
        if node_red:
            out["vs_node_red_batched"] = _check(
                _ratio(burst["per_second"], batched), TARGET_VS_NODE_RED_BATCHED
            )
            loss_free = node_red.get("per_message_loss_free_per_second")
            out["vs_node_red_per_message_loss_free"] = _check(
                _ratio(burst["per_second"], loss_free), TARGET_VS_NODE_RED_PER_MESSAGE
            )
    paced = results.get("wherry_paced")
    if paced is not None:
        out["p99_s_at_paced_rate"] = _check(paced["latency"]["p99_s"], TARGET_P99_S, at_most=True)
    soak = results.get("soak")
    if soak is not None:
        out["soak_p99_s"] = _check(soak["latency"]["p99_s"], TARGET_P99_S, at_most=True)
        out["soak_zero_loss"] = {"value": soak["lost"], "target": "0", "met": soak["lost"] == 0}
        rss = soak["processes"].get("wherry", {}).get("rss_steady_mb")
        out["soak_steady_rss_mb"] = _check(rss, TARGET_RSS_MB, at_most=True)
        growth = soak["rss_flatness"]["growth_pct"]
        out["soak_rss_growth_pct"] = _check(growth, TARGET_RSS_GROWTH_PCT, at_most=True)
    return out


def ratios(results: dict[str, Any]) -> dict[str, float | None]:
    burst = (results.get("wherry") or {}).get("per_second")
    limits = results.get("limits", {})
    node_red = results.get("node_red") or {}
    workers = results.get("wherry_workers")
    return {
        "wherry_vs_mosquitto_sub": _ratio(
            burst, limits.get("broker_mosquitto_sub", {}).get("per_second")
        ),
        "wherry_vs_paho_parse": _ratio(
            burst, limits.get("broker_paho_parse", {}).get("per_second")
        ),
        "wherry_vs_influxdb_ingest": _ratio(burst, limits.get("influxdb", {}).get("per_second")),
        "wherry_vs_node_red_batched": _ratio(
            burst, (node_red.get("batched") or {}).get("per_second")
        ),
        "wherry_vs_node_red_per_message_loss_free": _ratio(
            burst, node_red.get("per_message_loss_free_per_second")
        ),
        "workers_vs_one_process": _ratio((workers or {}).get("per_second"), burst),
        "wherry_steady_rss_vs_node_red_batched": _ratio(
            _steady_rss(results.get("wherry"), "wherry"),
            _steady_rss(node_red.get("batched"), "node-red"),
        ),
    }


def _steady_rss(figures: dict[str, Any] | None, process: str) -> float | None:
    value = ((figures or {}).get("processes") or {}).get(process, {}).get("rss_steady_mb")
    return float(value) if value is not None else None


def _row(name: str, figures: dict[str, Any], process: str | None) -> str:
    def number(value: Any, digits: int = 0) -> str:
        if value is None:
            return "—"
        return f"{value:,.{digits}f}"

    used = figures.get("processes", {}).get(process or "", {})
    lat = figures.get("latency", {})
    lost = figures.get("lost")
    lost_text = "—" if lost is None else f"{lost:,} ({figures.get('loss_pct', 0):g} %)"
    return (
        f"{name:<44} {number(figures.get('uplinks')):>9} {number(figures.get('per_second')):>9} "
        f"{number(lat.get('p50_s'), 2):>7} {number(lat.get('p99_s'), 2):>7} "
        f"{lost_text:>14} "
        f"{number(used.get('cpu_s'), 1):>7} {number(used.get('rss_peak_mb')):>6} "
        f"{number(used.get('rss_steady_mb')):>6}"
    )


def print_table(report: dict[str, Any]) -> None:
    results = report["results"]
    print()
    print(
        f"{'system':<44} {'uplinks':>9} {'per s':>9} {'p50 s':>7} {'p99 s':>7} "
        f"{'lost':>14} {'CPU s':>7} {'RSS pk':>6} {'steady':>6}"
    )
    rows: list[tuple[str, dict[str, Any] | None, str | None]] = [
        ("wherry run (burst)", results.get("wherry"), "wherry"),
        ("wherry run (paced)", results.get("wherry_paced"), "wherry"),
        ("wherry run × workers (burst)", results.get("wherry_workers"), "wherry"),
        ("wherry run (soak)", results.get("soak"), "wherry"),
    ]
    for key, label in (
        ("broker_mosquitto_sub", "limit: broker → mosquitto_sub"),
        ("broker_mosquitto_sub_drain", "limit: broker alone, queued → mosquitto_sub"),
        ("broker_paho_parse", "limit: broker → paho + orjson"),
        ("influxdb", "limit: InfluxDB ingest (wherry's lines)"),
    ):
        rows.append((label, results.get("limits", {}).get(key), None))
    node_red = results.get("node_red") or {}
    rows.append(("Node-RED batched (burst)", node_red.get("batched"), "node-red"))
    rows.append(("Node-RED per message (burst)", node_red.get("per_message"), "node-red"))
    for paced in node_red.get("per_message_paced", []):
        rows.append(
            (f"Node-RED per message at {paced['paced_per_second']:,.0f}/s", paced, "node-red")
        )
    for label, figures, process in rows:
        if figures:
            print(_row(label, figures, process))
    for name in ("wherry", "wherry_workers", "soak"):
        processes = (results.get(name) or {}).get("processes")
        if processes:
            print(
                f"  CPU / RSS steady during {name}: "
                + ", ".join(
                    f"{p} {v['cpu_s']:.1f} s ({v.get('cpu_us_per_uplink') or 0:,} µs/uplink) / "
                    f"{v['rss_steady_mb'] or v['rss_peak_mb']:.0f} MB"
                    for p, v in processes.items()
                )
            )
    print()
    for name, value in report["ratios"].items():
        if value is not None:
            print(f"ratio {name}: {value}")
    for name, check in report["targets"].items():
        verdict = {True: "met", False: "MISSED", None: "not measured"}[check["met"]]
        print(f"target {name}: {check['value']} (target {check['target']}): {verdict}")
