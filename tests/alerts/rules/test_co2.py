"""Indoor CO2: a rolling mean with warning and critical levels and hysteresis."""

from collections.abc import Sequence

from alerts.rules.co2 import Co2Settings, IndoorCo2
from tests.alerts.rules.support import reading


def feed(rule: IndoorCo2, points: Sequence[tuple[float, float]]) -> list[tuple[float, bool, str]]:
    """(minute, ppm) readings in; (minute, active, severity) of each change out."""
    changes = []
    for minute, ppm in points:
        for condition in rule.observe(reading("class-4b", minute, site="Oakfield", co2=ppm)):
            changes.append((minute, condition.active, condition.severity.value))
    return changes


def test_a_warning_comes_from_the_15_minute_mean_not_one_reading() -> None:
    rule = IndoorCo2()
    # One breath on the sensor: mean (1000·3 + 2500)/4 = 1375 ppm, no alert.
    assert feed(rule, [(0, 1000), (5, 1000), (10, 1000), (14, 2500)]) == []
    # Readings older than 15 min leave the window: at 20 min the window holds 10, 14, 20.
    # mean (1000 + 2500 + 1600)/3 = 1700 ppm: above 1500.
    assert feed(rule, [(20, 1600)]) == [(20, True, "warning")]


def test_the_condition_explains_the_mean_the_band_and_the_lines() -> None:
    rule = IndoorCo2()
    [condition] = rule.observe(reading("class-4b", 0, site="Oakfield", co2=1600.0))
    assert condition.key == "co2:class-4b" and condition.rule == "co2"
    assert condition.site == "Oakfield" and condition.device_id == "class-4b"
    explanation = condition.explanation
    assert explanation["mean_ppm"] == 1600.0
    assert explanation["band"] == "poor"
    assert explanation["window_min"] == 15.0
    assert explanation["warning_above_ppm"] == 1500.0
    assert explanation["readings"] == 1
    assert "1600 ppm" in condition.summary


def test_exactly_at_the_line_is_not_above_it() -> None:
    assert feed(IndoorCo2(), [(0, 1500)]) == []


def test_hysteresis_keeps_a_mean_hovering_at_the_line_from_flapping() -> None:
    rule = IndoorCo2(Co2Settings(window_min=1))  # each mean is the latest reading
    noisy = [(0, 1520), (2, 1480), (4, 1530), (6, 1450), (8, 1510), (10, 1420), (12, 1400)]
    assert feed(rule, noisy) == [(0, True, "warning"), (12, False, "warning")]


def test_critical_escalates_and_falls_back_to_warning_with_hysteresis() -> None:
    rule = IndoorCo2(Co2Settings(window_min=1))
    points = [(0, 1600), (2, 2050), (4, 1950), (6, 1900), (8, 1450), (10, 1390)]
    assert feed(rule, points) == [
        (0, True, "warning"),
        (2, True, "critical"),
        (6, True, "warning"),  # 1900 is not above 2000 - 100
        (10, False, "warning"),
    ]


def test_the_escalation_keeps_since_when_the_room_was_stuffy() -> None:
    rule = IndoorCo2(Co2Settings(window_min=1))
    rule.observe(reading("class-4b", 0, co2=1600.0))
    [critical] = rule.observe(reading("class-4b", 5, co2=2100.0))
    assert critical.explanation["active_since"] == "2025-01-15T00:00:00Z"


def test_rooms_are_judged_separately_and_out_of_order_readings_are_ignored() -> None:
    rule = IndoorCo2()
    rule.observe(reading("class-4b", 10, co2=900.0))
    assert rule.observe(reading("class-4b", 5, co2=5000.0)) == []  # late
    assert [c.key for c in rule.observe(reading("class-5a", 5, co2=1800.0))] == ["co2:class-5a"]


def test_advance_alone_never_changes_a_verdict() -> None:
    rule = IndoorCo2()
    rule.observe(reading("class-4b", 0, co2=1800.0))
    assert rule.advance(10**20) == []
