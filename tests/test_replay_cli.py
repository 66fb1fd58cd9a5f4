"""`wherry replay` as a council runs it: the real console script on files of a generated season."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alerts.synthetic import LOCAL_ZONE, RST, NightKind, Season, season
from tests.uplinks import dl_ds18_payload, encode, ttn_uplink
from wherry.synthetic_season import write_season

WHERRY = Path(sys.executable).with_name("wherry")
KINDS = (
    NightKind.FROSTY,
    NightKind.MILD,
    NightKind.MARGINAL,
    NightKind.MILD_STEEP_EVENING,
    NightKind.LATE_CLEARING,
    NightKind.CLOUD_BUMP,
)
VALID_STATES = {"CLEAR", "MARGINAL", "FREEZING", "ICE_LIKELY", "UNKNOWN"}
VALID_RECOMMENDATIONS = {"NO_ACTION", "MONITOR", "TREAT"}
_NS = 1_000_000_000


def run_wherry(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WHERRY), "replay", *(str(a) for a in args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass(frozen=True)
class SeasonFiles:
    season: Season
    directory: Path
    devices: Path
    routes: Path
    uplinks: Path
    default_policy: Path
    precautionary_policy: Path
    bad_lines: dict[str, int]

    def replay(self, *extra: str | Path) -> subprocess.CompletedProcess[str]:
        return run_wherry("--devices", self.devices, "--routes", self.routes, *extra, self.uplinks)


def bad_lines(first_device: str, at_ns: int) -> tuple[list[str], dict[str, int]]:
    """Lines a real file can hold that no decision may rest on, and the reasons to expect."""
    stranger = ttn_uplink(
        "not-in-the-csv", received_at_ns=at_ns, f_cnt=1, payload=dl_ds18_payload(7, -3.0)
    )
    garbled = ttn_uplink(first_device, received_at_ns=at_ns, f_cnt=2, payload=b"\x09\x00")
    console_test = ttn_uplink(
        first_device, received_at_ns=at_ns + 1, f_cnt=3, payload=dl_ds18_payload(7, -20.0)
    )
    console_test["simulated"] = True  # sent from the TTN console: made-up values
    lines = [
        encode(console_test).decode(),
        "this is not json",
        '{"truncated": ',
        json.dumps({"hello": "world"}),
        encode(stranger).decode(),
        encode(garbled).decode(),  # a Decentlab frame of the wrong protocol version
        "",
    ]
    reasons = {
        "malformed_json": 2,
        "invalid_envelope": 1,
        "unregistered_device": 1,
        "decode_error": 1,
    }
    return lines, reasons


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> SeasonFiles:
    directory = tmp_path_factory.mktemp("season")
    generated = season(len(KINDS), 2, seed=31, kinds=KINDS, probe_faults=True)
    written = write_season(generated, directory)
    lines = written.uplinks_jsonl.read_text().splitlines()
    extra, reasons = bad_lines(generated.devices[0].device_id, generated.nights[2].start_ns)
    mixed = lines[: len(lines) // 2] + extra + [lines[10]] + lines[len(lines) // 2 :]
    mixed[100:200] = reversed(mixed[100:200])  # not in time order: replay sorts
    written.uplinks_jsonl.write_text("\n".join(mixed) + "\n")
    default_policy = directory / "default.toml"
    default_policy.write_text("[gritting]\n")
    precautionary = directory / "precautionary.toml"
    precautionary.write_text("[gritting]\nprecautionary = true\n")
    return SeasonFiles(
        generated,
        directory,
        written.devices_csv,
        written.routes_csv,
        written.uplinks_jsonl,
        default_policy,
        precautionary,
        reasons,
    )


@pytest.fixture(scope="module")
def default_report(files: SeasonFiles) -> dict[str, Any]:
    result = files.replay()
    assert result.returncode == 0, result.stderr
    assert "bad line" in result.stderr  # progress on stderr, JSON alone on stdout
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.fixture(scope="module")
def precautionary_report(files: SeasonFiles) -> dict[str, Any]:
    result = files.replay("--policy", files.precautionary_policy)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def noon_to_noon(evening: Any) -> tuple[int, int]:
    start = datetime.combine(evening, time(12), tzinfo=LOCAL_ZONE)
    end = start + timedelta(days=1)
    return int(start.timestamp()) * _NS, int(end.timestamp()) * _NS


def first_freezing_ns(files: SeasonFiles, route_id: str, evening: Any) -> int | None:
    """From the generator's own numbers at the DS18B20's 1/16 °C resolution, not the report."""
    start, end = noon_to_noon(evening)
    firsts = []
    for series in files.season.series:
        if series.device.route_id != route_id or RST not in series.values:
            continue
        sent = np.round(series.values[RST] * 16) / 16
        valid = (sent > -100) & (sent < 80)
        inside = (series.times_ns >= start) & (series.times_ns < end) & valid & (sent <= 0.0)
        if inside.any():
            firsts.append(int(series.times_ns[inside][0]))
    return min(firsts) if firsts else None


def in_force(transitions: list[dict[str, Any]], at_ns: int) -> str | None:
    """The recommendation in force at `at_ns` (transition times are ISO, to the millisecond)."""
    current = None
    for transition in transitions:
        moment = datetime.fromisoformat(transition["at"])
        if int(moment.timestamp() * 1000) * 1_000_000 > at_ns:
            break
        current = transition["recommendation"]
    return current


def treat_inside(transitions: list[dict[str, Any]], evening: Any) -> bool:
    start, end = noon_to_noon(evening)
    if in_force(transitions, start) == "TREAT":
        return True
    for transition in transitions:
        moment = int(datetime.fromisoformat(transition["at"]).timestamp() * 1000) * 1_000_000
        if start <= moment < end and transition["recommendation"] == "TREAT":
            return True
    return False


def test_the_report_has_the_documented_shape(
    files: SeasonFiles, default_report: dict[str, Any]
) -> None:
    assert set(default_report) == {"routes", "summary"}
    assert set(default_report["routes"]) == {route.route_id for route in files.season.routes}
    for route in default_report["routes"].values():
        assert route["transitions"]
        for transition in route["transitions"]:
            assert set(transition) == {"at", "state", "recommendation"}
            assert datetime.fromisoformat(transition["at"]).tzinfo == UTC
            assert transition["state"] in VALID_STATES
            assert transition["recommendation"] in VALID_RECOMMENDATIONS
        times = [transition["at"] for transition in route["transitions"]]
        assert times == sorted(times)


def test_bad_lines_are_counted_with_their_reasons_and_nothing_else_is_lost(
    files: SeasonFiles, default_report: dict[str, Any]
) -> None:
    summary = default_report["summary"]
    assert summary["bad_line_reasons"] == files.bad_lines
    assert summary["bad_lines"] == sum(files.bad_lines.values())
    assert summary["blank_lines"] == 1
    assert summary["duplicate_uplinks"] == 1
    assert summary["simulated_uplinks_ignored"] == 1
    assert summary["unregistered_devices"] == {"not-in-the-csv": 1}
    assert {example["reason"] for example in summary["bad_line_examples"]} == set(files.bad_lines)
    generated = sum(series.times_ns.size for series in files.season.series)
    assert summary["decoded_uplinks"] == generated
    assert summary["observations"] == generated
    # the DS18B20 error codes were decoded, flagged, and decided nothing
    assert sum(route["flagged_readings"] for route in default_report["routes"].values()) == 3


def test_under_the_default_policy_every_freezing_night_is_treated_by_its_first_ice(
    files: SeasonFiles, default_report: dict[str, Any]
) -> None:
    for route_id, route in default_report["routes"].items():
        assert route["icy_hours_missed"] == 0
        for window in files.season.nights:
            if not window.kind.freezes:
                continue
            freezes_at = first_freezing_ns(files, route_id, window.evening)
            assert freezes_at is not None, (route_id, window)
            assert in_force(route["transitions"], freezes_at) == "TREAT", (route_id, window)


def test_a_precautionary_policy_treats_every_freezing_night_before_its_first_ice(
    files: SeasonFiles, precautionary_report: dict[str, Any]
) -> None:
    for route_id, route in precautionary_report["routes"].items():
        assert route["freezing_nights_missed"] == 0
        assert route["median_lead_minutes"] >= 60
        for window in files.season.nights:
            if not window.kind.freezes:
                continue
            freezes_at = first_freezing_ns(files, route_id, window.evening)
            assert freezes_at is not None
            a_minute_before = freezes_at - 60 * _NS
            assert in_force(route["transitions"], a_minute_before) == "TREAT", (route_id, window)


@pytest.mark.parametrize("policy", ["default", "precautionary"])
def test_mild_nights_are_not_treated(
    files: SeasonFiles,
    default_report: dict[str, Any],
    precautionary_report: dict[str, Any],
    policy: str,
) -> None:
    report = default_report if policy == "default" else precautionary_report
    for route_id, route in report["routes"].items():
        for window in files.season.nights:
            if window.kind is NightKind.MILD:
                assert not treat_inside(route["transitions"], window.evening), (route_id, window)
    if policy == "default":  # no TREAT without ice, on any night
        assert default_report["summary"]["totals"]["mild_nights_treated"] == 0


def test_compare_prints_both_policies_side_by_side(files: SeasonFiles) -> None:
    result = files.replay("--compare", files.default_policy, files.precautionary_policy)
    assert result.returncode == 0, result.stderr
    table = result.stdout
    assert f"A = {files.default_policy}" in table
    assert f"B = {files.precautionary_policy}" in table
    assert "icy hours missed" in table and "median lead (min)" in table
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines() if line.strip()}
    for route in files.season.routes:
        assert route.route_id in rows
    episodes_a, episodes_b = (int(cell) for cell in rows["total"][:2])
    assert episodes_b >= episodes_a  # precaution never treats less


def test_compare_as_json_has_every_measure_per_route_and_policy(files: SeasonFiles) -> None:
    result = files.replay("--compare", files.default_policy, files.precautionary_policy, "--json")
    assert result.returncode == 0, result.stderr
    compared = json.loads(result.stdout)
    assert [p["label"] for p in compared["policies"]] == ["A", "B"]
    assert compared["policies"][1]["policy"]["precautionary"] is True
    for figures in compared["routes"].values():
        assert set(figures) == {"A", "B"}
        assert figures["A"]["icy_hours_missed"] == 0
        assert figures["B"]["freezing_nights_missed"] == 0
    freezing = sum(1 for kind in KINDS if kind.freezes)
    assert compared["total"]["A"]["freezing_nights"] == freezing * len(files.season.routes)
    assert compared["summary"]["bad_lines"] == sum(files.bad_lines.values())


def test_unusable_inputs_are_refused_with_status_2_and_a_reason(files: SeasonFiles) -> None:
    missing = run_wherry(
        "--devices", files.directory / "nope.csv", "--routes", files.routes, files.uplinks
    )
    assert missing.returncode == 2 and "nope.csv" in missing.stderr
    typo = files.directory / "typo.toml"
    typo.write_text("[gritting]\nmarginal_treshold_c = 0.5\n")
    refused = files.replay("--policy", typo)
    assert refused.returncode == 2
    assert "marginal_threshold_c" in refused.stderr  # did you mean …
    bad_csv = files.directory / "bad-routes.csv"
    bad_csv.write_text("route_id,name,length_km,priority,area\nBad Route,x,-1,1,a\n")
    rows = run_wherry("--devices", files.devices, "--routes", bad_csv, files.uplinks)
    assert rows.returncode == 2 and "line 2" in rows.stderr
    assert rows.stdout == ""
