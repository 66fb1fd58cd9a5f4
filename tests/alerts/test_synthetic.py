"""Synthetic nights keep the promises their kinds make, so an engine can be judged on them."""

from __future__ import annotations

import itertools
import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from alerts.synthetic import (
    NO_PROBE_C,
    POWER_ON_RESET_C,
    RST,
    SEASON_MIX,
    NightKind,
    magnus_dew_point,
    night,
    season,
)
from decoders import QUANTITIES, decode, dew_point
from gateway_bridge.envelopes import parse_message
from storage.registry import parse_device_csv, parse_route_csv
from wherry.synthetic_season import write_season

_NS = 1_000_000_000


def probe_values(kind: NightKind, seed: int) -> tuple[np.ndarray, np.ndarray]:
    one = night(kind, seed=seed)
    times, values = [], []
    for series in one.series:
        if RST in series.values:
            times.append(series.times_ns)
            values.append(series.values[RST])
    all_times = np.concatenate(times)
    order = np.argsort(all_times)
    return all_times[order], np.concatenate(values)[order]


def test_the_same_seed_gives_the_same_night_and_another_seed_another() -> None:
    first = night(NightKind.FROSTY, seed=7)
    again = night(NightKind.FROSTY, seed=7)
    other = night(NightKind.FROSTY, seed=8)
    assert first.observations() == again.observations()
    assert first.observations() != other.observations()


@pytest.mark.parametrize("seed", range(12))
def test_every_route_of_every_night_keeps_its_kinds_promise(seed: int) -> None:
    generated = season(14, 3, seed=seed)
    for window in generated.nights:
        for route in generated.routes:
            _, values = generated.surface_readings(route.route_id, window)
            coldest = float(values.min())
            if window.kind.freezes:
                assert coldest <= 0.0, (window, route.route_id, coldest)
            elif window.kind.stays_above_3c:
                assert coldest > 3.0, (window, route.route_id, coldest)
            else:
                assert window.kind is NightKind.MARGINAL
                assert 0.0 < coldest <= 3.0, (window, route.route_id, coldest)


def test_a_mild_steep_evening_falls_fast_after_sunset_then_levels_off_above_3c() -> None:
    for seed in range(10):
        times, values = probe_values(NightKind.MILD_STEEP_EVENING, seed)
        hours = (times - times[0]) / (3600 * _NS)
        first_two_hours = values[hours < 2.0]
        assert first_two_hours[:3].mean() - first_two_hours[-3:].mean() > 2.5
        assert values.min() > 3.0
        later = values[(hours > 4.0) & (hours < 15.0)]
        assert later.max() - later.min() < 1.5  # levelled off


def test_a_cloud_bump_warms_the_surface_for_a_while_before_it_freezes() -> None:
    for seed in range(10):
        one = night(NightKind.CLOUD_BUMP, seed=seed, weather_station=False, sensors=1)
        values = one.series[0].values[RST]
        freezes_at = int(np.argmax(values <= 0.0))
        before = values[:freezes_at]
        running_min = np.minimum.accumulate(before)
        assert (before - running_min).max() > 0.5  # it warmed by more than noise


def test_a_thaw_freezes_in_the_evening_and_ends_the_night_above_5c() -> None:
    for seed in range(10):
        times, values = probe_values(NightKind.THAW, seed)
        hours = (times - times[0]) / (3600 * _NS)
        assert values[hours < 7.0].min() <= 0.0
        assert values[(hours > 11.0) & (hours < 15.0)].min() > 3.0


def test_a_season_of_fourteen_nights_mixes_the_kinds_that_matter() -> None:
    generated = season(14, 3, seed=3)
    kinds = [window.kind for window in generated.nights]
    assert sorted(kinds) == sorted(SEASON_MIX)
    assert kinds.count(NightKind.FROSTY) >= 3
    assert kinds.count(NightKind.MARGINAL) >= 2
    assert kinds.count(NightKind.MILD) >= 2
    assert kinds.count(NightKind.MILD_STEEP_EVENING) >= 2
    evenings = [window.evening for window in generated.nights]
    assert evenings[0] == date(2025, 1, 6)
    assert all((b - a).days == 1 for a, b in itertools.pairwise(evenings))


def test_every_device_reports_every_ten_minutes_through_nights_and_days() -> None:
    generated = season(3, 2, seed=5)
    assert len(generated.series) == 2 * (3 + 1)  # three probes and a weather station per route
    for series in generated.series:
        gaps = np.diff(series.times_ns) / _NS
        assert gaps.min() > 598.0
        assert gaps.max() < 602.0
        assert series.times_ns[0] >= generated.nights[0].start_ns
        assert series.times_ns[-1] < generated.nights[-1].end_ns


def test_days_join_one_night_to_the_next_without_a_jump() -> None:
    generated = season(4, 1, seed=11, weather_station=False)
    for series in generated.series:
        steps = np.abs(np.diff(series.values[RST]))
        assert steps.max() < 1.2  # a 10-minute step, noise included


def test_weather_station_observations_carry_the_magnus_dew_point() -> None:
    one = night(NightKind.FROSTY, seed=2)
    weather = [o for o in one.observations() if o.device_id.startswith("wx-")]
    assert weather
    for observation in weather:
        air = observation.values["air_temperature"]
        humidity = observation.values["relative_humidity"]
        assert observation.values["dew_point"] == pytest.approx(dew_point(air, humidity))
        assert observation.values["dew_point"] == pytest.approx(magnus_dew_point(air, humidity))
        assert observation.values["dew_point"] <= air
    probes = [o for o in one.observations() if o.device_id.startswith("rst-")]
    assert all(set(o.values) == {RST} and o.route_id == "test-route" for o in probes)


def test_probe_faults_are_error_codes_the_observations_flag_not_believe() -> None:
    generated = season(2, 2, seed=4, probe_faults=True)
    observations = generated.observations()
    flagged = [o for o in observations if o.flagged]
    assert {o.flagged[RST].split(":")[0] for o in flagged} == {"probe_error"}
    assert len(flagged) == 3  # one power-on 85.0, two disconnected -127.0
    assert all(RST not in o.values for o in flagged)
    raw = np.concatenate([s.values[RST] for s in generated.series if RST in s.values])
    assert (raw == POWER_ON_RESET_C).sum() == 1
    assert (raw == NO_PROBE_C).sum() == 2
    valid = [o.values[RST] for o in observations if RST in o.values]
    assert max(valid) < 20.0
    assert min(valid) > QUANTITIES[RST].minimum


def test_written_season_is_registrable_and_decodes_to_what_was_generated(tmp_path: Path) -> None:
    generated = season(1, 2, seed=9, sensors_per_route=2)
    files = write_season(generated, tmp_path)

    routes = parse_route_csv(files.routes_csv.read_text())
    assert routes.ok, routes.errors
    devices = parse_device_csv(
        files.devices_csv.read_text(),
        known_decoders={"decentlab-dl-ds18", "cayenne-lpp"},
        known_quantities=set(QUANTITIES),
        known_routes={row.route_id for row in routes.rows},
    )
    assert devices.ok, devices.errors
    by_id = {row.device_id: row for row in devices.rows}

    expected = {
        (o.device_id, o.time_ns): o
        for o in generated.observations()  # what the generator meant
    }
    lines = files.uplinks_jsonl.read_text().splitlines()
    assert len(lines) == files.uplinks == len(expected)
    wrapped = sum(1 for line in lines if line.startswith('{"result":'))
    assert 0 < wrapped < len(lines)  # both forms of TTN uplink
    for line in lines:
        uplink = parse_message("", line.encode())
        assert uplink is not None
        row = by_id[uplink.device_id]
        decoded = decode(row.decoder, uplink.payload, uplink.f_port, field_map=row.field_map)
        meant = expected[(uplink.device_id, uplink.received_at_ns)]
        got = {r.quantity: r.value for r in decoded.readings if r.valid}
        for quantity, value in meant.values.items():
            # DS18B20 resolution 1/16 °C; Cayenne 0.1 °C and 0.5 %; dew point follows them
            tolerance = 0.26 if quantity == "relative_humidity" else 0.1
            assert got[quantity] == pytest.approx(value, abs=tolerance), quantity
    first = json.loads(lines[0])
    assert first.get("result", first)["uplink_message"]["f_port"] == 1
