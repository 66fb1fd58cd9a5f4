"""bench/ingest.py cannot rot: its phases run on a tiny fleet and write every figure.

The harness as a user runs it (its own Mosquitto, InfluxDB and `wherry run`), with 100
devices, 2,000 uplinks, no Node-RED and no soak. Speed is not checked here (bench/README.md:
speed is measured, never asserted); that every uplink is stored exactly once is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
UPLINKS = 2000


def test_the_harness_measures_every_phase_without_losing_an_uplink(tmp_path: Path) -> None:
    output = tmp_path / "ingest.json"
    command = [
        sys.executable,
        str(ROOT / "bench" / "ingest.py"),
        f"--uplinks={UPLINKS}",
        "--devices=100",
        "--latency-rate=500",
        "--latency-seconds=2",
        "--skip-node-red",
        f"--output={output}",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stdout + done.stderr

    report = json.loads(output.read_text())
    results = report["results"]
    for phase in ("wherry", "wherry_paced"):
        figures = results[phase]
        assert figures["lost"] == 0 and figures["stored"] == figures["uplinks"], figures
        assert figures["per_second"] > 0
        assert figures["latency"]["p50_s"] is not None and figures["latency"]["p99_s"] is not None
        wherry = figures["processes"]["wherry"]
        assert wherry["cpu_s"] > 0 and wherry["rss_peak_mb"] > 0, figures["processes"]
        assert {"mosquitto", "influxd", "publisher"} <= set(figures["processes"])
        assert figures["wherry_counters"][0]["uplinks_accepted"] == figures["uplinks"]
    limits = results["limits"]
    assert limits["broker_mosquitto_sub"]["received"] == UPLINKS
    assert limits["broker_paho_parse"]["received"] == UPLINKS
    assert limits["influxdb"]["points_per_second"] > 0
    assert limits["influxdb"]["points_per_uplink"] >= 2  # an uplink point and a reading point
    assert report["ratios"]["wherry_vs_paho_parse"] is not None
    assert report["targets"]["zero_loss"]["met"] is True
    assert "system" in done.stdout and "target uplinks_per_second" in done.stdout
