"""Water quality: thresholds held for a duration, hysteresis, sites, and spikes."""

from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.model import Condition, Observation, Severity
from alerts.rules.water import WaterQuality, WaterSpike, WaterThreshold
from tests.alerts.rules.support import at, reading


def river(
    minutes: float, site: str | None = "Weir", device: str = "wq-1", **values: Any
) -> Observation:
    return reading(device, minutes, domain="water", site=site, **values)


def feed(
    rule: WaterQuality, points: Sequence[tuple[float, float]], quantity: str
) -> list[Condition]:
    changes: list[Condition] = []
    for minute, value in points:
        changes += rule.observe(river(minute, **{quantity: value}))  # type: ignore[arg-type]
    return changes


def test_low_dissolved_oxygen_must_hold_for_30_minutes() -> None:
    rule = WaterQuality()  # defaults: below 4 mg/L for 30 min, critical
    changes = feed(rule, [(0, 3.5), (10, 3.4), (20, 3.6)], "dissolved_oxygen")
    assert changes == []
    [condition] = feed(rule, [(30, 3.5)], "dissolved_oxygen")
    assert condition.key == "water:Weir:dissolved_oxygen:dissolved_oxygen_low"
    assert condition.active and condition.severity is Severity.CRITICAL
    assert condition.at_ns == at(30)
    assert condition.site == "Weir" and condition.domain == "water"
    assert condition.explanation["held_since"] == "2025-01-15T00:00:00Z"
    assert condition.explanation["below"] == 4.0
    assert condition.explanation["unit"] == "mg/L"
    assert condition.summary == ("dissolved_oxygen_low at Weir: 3.5 mg/L, below 4 mg/L for 30 min")


def test_one_reading_back_inside_restarts_the_duration() -> None:
    rule = WaterQuality()
    points = [(0, 3.5), (10, 3.5), (20, 4.1), (30, 3.5), (50, 3.5), (59, 3.5)]
    assert feed(rule, points, "dissolved_oxygen") == []
    [condition] = feed(rule, [(60, 3.5)], "dissolved_oxygen")
    assert condition.at_ns == at(60)


def test_advance_completes_a_duration_on_the_last_reading_that_stands() -> None:
    rule = WaterQuality()
    feed(rule, [(0, 3.0)], "dissolved_oxygen")
    assert rule.advance(at(29)) == []
    [condition] = rule.advance(at(45))
    assert condition.active and condition.at_ns == at(30)
    assert rule.advance(at(90)) == []


def test_clearing_needs_the_hysteresis_for_the_duration_too() -> None:
    rule = WaterQuality()  # clears at ≥ 4.5 mg/L held 30 min
    feed(rule, [(0, 3.0), (30, 3.0)], "dissolved_oxygen")
    points = [(40, 4.4), (50, 4.2), (80, 4.4), (90, 4.6), (100, 4.7), (110, 4.4), (120, 4.8)]
    assert feed(rule, points, "dissolved_oxygen") == []
    [cleared] = feed(rule, [(150, 4.9)], "dissolved_oxygen")
    assert not cleared.active and cleared.at_ns == at(150)
    assert cleared.severity is Severity.CRITICAL
    assert cleared.explanation["active_since"] == "2025-01-15T00:30:00Z"
    assert "back to 4.9 mg/L" in cleared.summary


def test_ph_out_of_range_either_way() -> None:
    rule = WaterQuality()  # outside 6–9 for 30 min, hysteresis 0.2
    points = [(0, 9.3), (30, 9.4), (35, 8.9), (40, 8.7), (70, 8.6), (80, 5.5), (110, 5.6)]
    changes = feed(rule, points, "ph")  # 8.9 is inside the hysteresis: not back yet
    assert [(c.at_ns, c.active) for c in changes] == [
        (at(30), True),
        (at(70), False),
        (at(110), True),
    ]
    assert changes[0].key == "water:Weir:ph:ph_out_of_range"
    assert changes[0].severity is Severity.WARNING


def test_a_rule_for_one_site_ignores_the_others_and_no_site_means_the_device() -> None:
    level = WaterThreshold(
        name="level_high", quantity="water_level", above=2.5, duration_min=0, site="Weir"
    )
    rule = WaterQuality([level])
    assert rule.observe(river(0, site="Ford", water_level=3.0)) == []
    [condition] = rule.observe(river(1, site="Weir", water_level=3.0))
    assert condition.key == "water:Weir:water_level:level_high" and condition.at_ns == at(1)
    anywhere = WaterQuality([level.model_copy(update={"site": None})])
    [unsited] = anywhere.observe(river(0, site=None, device="wq-9", water_level=3.0))
    assert unsited.key == "water:wq-9:water_level:level_high"


def test_two_probes_at_one_site_feed_one_stream() -> None:
    rule = WaterQuality()
    rule.observe(river(0, device="wq-1", dissolved_oxygen=3.0))
    [condition] = rule.observe(river(30, device="wq-2", dissolved_oxygen=3.0))
    assert condition.device_id == "wq-2"
    assert condition.key == "water:Weir:dissolved_oxygen:dissolved_oxygen_low"


def test_late_readings_do_not_move_the_stream() -> None:
    rule = WaterQuality()
    feed(rule, [(0, 3.0), (20, 3.0)], "dissolved_oxygen")
    assert feed(rule, [(10, 9.0)], "dissolved_oxygen") == []
    assert len(feed(rule, [(30, 3.0)], "dissolved_oxygen")) == 1


# -- spikes ----------------------------------------------------------------------------


def test_conductivity_spike_over_its_baseline_and_back() -> None:
    rule = WaterQuality()  # 50 % over the 6-hour baseline; clears within 40 %
    baseline = [(0, 500.0), (15, 510.0), (30, 490.0), (45, 500.0)]
    assert feed(rule, baseline, "conductivity") == []
    [spike] = feed(rule, [(60, 800.0)], "conductivity")
    assert spike.active and spike.key == "water:Weir:conductivity:conductivity_spike"
    assert spike.explanation["baseline_mean"] == 500.0
    assert spike.explanation["rise_percent"] == 60.0
    # The baseline is frozen while the spike lasts: hours at 800 stay one alert.
    sustained = [(60 + 15 * i, 800.0) for i in range(1, 40)]
    assert feed(rule, sustained, "conductivity") == []
    assert feed(rule, [(700, 720.0)], "conductivity") == []  # 44 %: within the hysteresis
    [back] = feed(rule, [(715, 690.0)], "conductivity")  # 38 %
    assert not back.active and back.at_ns == at(715)


def test_a_spike_held_for_a_duration_is_not_absorbed_into_its_own_baseline() -> None:
    spike = WaterSpike(name="ec", quantity="conductivity", rise_percent=50, duration_min=15)
    rule = WaterQuality([spike])
    feed(rule, [(0, 500.0), (15, 500.0), (30, 500.0), (45, 500.0)], "conductivity")
    assert feed(rule, [(60, 800.0)], "conductivity") == []  # held 0 min of 15
    [condition] = feed(rule, [(75, 800.0)], "conductivity")
    assert condition.at_ns == at(75) and condition.explanation["baseline_mean"] == 500.0


def test_no_spike_without_enough_baseline() -> None:
    rule = WaterQuality()
    assert feed(rule, [(0, 100.0), (15, 100.0), (30, 900.0)], "conductivity") == []


def test_a_slow_rise_is_not_a_spike() -> None:
    rule = WaterQuality()
    slow = [(15 * i, 500.0 * 1.02**i) for i in range(48)]  # +2 % per reading, 2.6× in 12 h
    assert feed(rule, slow, "conductivity") == []


# -- definitions -----------------------------------------------------------------------


def test_a_threshold_needs_a_limit_and_a_known_quantity() -> None:
    with pytest.raises(ValidationError, match="needs `below`, `above` or both"):
        WaterThreshold(name="x", quantity="ph")
    with pytest.raises(ValidationError, match="unknown quantity 'disolved_oxygen'"):
        WaterThreshold(name="x", quantity="disolved_oxygen", below=4.0)
    with pytest.raises(ValidationError, match="could never clear"):
        WaterThreshold(name="x", quantity="ph", below=6.0, above=6.3, hysteresis=0.2)
    with pytest.raises(ValidationError, match="hysteresis_percent"):
        WaterSpike(name="x", quantity="conductivity", rise_percent=10, hysteresis_percent=10)


def test_rule_names_must_be_unique() -> None:
    do = WaterThreshold(name="low", quantity="dissolved_oxygen", below=4.0)
    with pytest.raises(ValueError, match=r"repeated: \['low'\]"):
        WaterQuality([do, do.model_copy(update={"quantity": "ph"})])
