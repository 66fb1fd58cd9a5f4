"""The DAQI rule: hourly and running means, coverage, and verdicts on the data clock."""

import pytest

from alerts.model import Condition, Severity
from alerts.rules.daqi import AirQualityIndex, DaqiSettings
from tests.alerts.rules.support import at, reading

QUARTERS = (0, 15, 30, 45)


def feed_hours(
    rule: AirQualityIndex, pollutant: str, first_hour: int, values_per_hour: list[float]
) -> list[Condition]:
    """One reading per quarter-hour of each hour, the hour's value throughout."""
    changes: list[Condition] = []
    for offset, value in enumerate(values_per_hour):
        hour = first_hour + offset
        for minute in QUARTERS:
            observation = reading("school-3", 60 * hour + minute, **{pollutant: value})  # type: ignore[arg-type]
            changes += rule.observe(observation)
    return changes


def test_no2_is_judged_on_its_hourly_mean_in_ug_m3_when_the_hour_ends() -> None:
    rule = AirQualityIndex()
    # 100, 120, 110, 110 ppb: mean 110 ppb = 210.1 µg/m³, index 4 (200 < x ≤ 267).
    changes = [
        *rule.observe(reading("school-3", 0, site="Oakfield", no2=100.0)),
        *rule.observe(reading("school-3", 15, site="Oakfield", no2=120.0)),
        *rule.observe(reading("school-3", 30, site="Oakfield", no2=110.0)),
        *rule.observe(reading("school-3", 45, site="Oakfield", no2=110.0)),
    ]
    assert changes == []  # the hour is not over
    assert rule.advance(at(59.9)) == []
    [condition] = rule.advance(at(60))
    assert condition.key == "daqi:school-3:no2"
    assert condition.active and condition.severity is Severity.WARNING
    assert condition.at_ns == at(60)
    assert condition.site == "Oakfield" and condition.domain == "air"
    explanation = condition.explanation
    assert explanation["index"] == 4
    assert explanation["band"] == "Moderate"
    assert explanation["mean_ppb"] == pytest.approx(110.0)
    assert explanation["mean_ug_m3"] == pytest.approx(210.1)
    assert explanation["averaging"] == "hourly mean"
    assert explanation["coverage"] == 1.0
    assert explanation["window_start"] == "2025-01-15T00:00:00Z"
    assert explanation["window_end"] == "2025-01-15T01:00:00Z"
    assert "NO2 at school-3 (Oakfield): DAQI 4 Moderate" in condition.summary
    assert rule.advance(at(61)) == []  # reported once


def test_the_hourly_mean_weighs_each_quarter_hour_equally_not_each_uplink() -> None:
    rule = AirQualityIndex()
    # A burst of five 150 ppb uplinks in the first quarter, then 50 ppb in three quarters.
    # Per uplink: 950/8 = 118.75 ppb = 226.8 µg/m³ (Moderate).
    # Per quarter: (150 + 3 × 50)/4 = 75 ppb = 143.25 µg/m³ (index 3, no alert).
    for minute in (0, 1, 2, 3, 4):
        rule.observe(reading("school-3", minute, no2=150.0))
    for minute in (15, 30, 45):
        rule.observe(reading("school-3", minute, no2=50.0))
    assert rule.advance(at(60)) == []
    # The same quarters at a level that alerts, to show the hour was judged at all.
    for minute in (60, 61, 75, 90, 105):
        rule.observe(reading("school-3", minute, no2=150.0))
    [condition] = rule.advance(at(120))
    assert condition.explanation["mean_ppb"] == pytest.approx(150.0)


def test_an_hour_needs_three_quarters_of_its_slots_for_a_mean() -> None:
    rule = AirQualityIndex()
    for minute in (0, 20):  # two slots of four: 50 %
        rule.observe(reading("school-3", minute, no2=300.0))
    assert rule.advance(at(60)) == []
    for minute in (60, 80, 100):  # three slots of four: 75 %
        rule.observe(reading("school-3", minute, no2=300.0))
    [condition] = rule.advance(at(120))
    assert condition.explanation["coverage"] == 0.75
    assert condition.explanation["index"] == 9  # 573 µg/m³: 534 < x ≤ 600
    assert condition.severity is Severity.CRITICAL


def test_a_reading_in_the_next_hour_closes_the_previous_one() -> None:
    rule = AirQualityIndex()
    feed_hours(rule, "no2", 0, [300.0])
    [condition] = rule.observe(reading("school-3", 61, no2=10.0))
    assert condition.at_ns == at(60) and condition.explanation["index"] == 9


def test_o3_follows_its_8_hour_running_mean_not_the_latest_hour() -> None:
    rule = AirQualityIndex()
    # Eight hours at 40 ppb (80 µg/m³, index 3), then hours at 120 ppb (240 µg/m³).
    # After k high hours the 8-hour mean is 80 + 20k µg/m³:
    # k=1: 100 (index 3, the bound is inclusive), k=2: 120 (4), k=5: 180 (7).
    assert feed_hours(rule, "o3", 0, [40.0] * 8) == []
    changes = feed_hours(rule, "o3", 8, [120.0] * 6)
    changes += rule.advance(at(14 * 60))
    assert [(c.at_ns, c.severity, c.explanation["index"]) for c in changes] == [
        (at(10 * 60), Severity.WARNING, 4),
        (at(13 * 60), Severity.CRITICAL, 7),
    ]
    warning = changes[0].explanation
    assert warning["mean_ug_m3"] == pytest.approx(120.0)
    assert warning["mean_ppb"] == pytest.approx(60.0)
    assert warning["averaging"] == "8-hour running mean"
    assert warning["period_hours"] == 8 and warning["valid_hours"] == 8
    assert warning["window_start"] == "2025-01-15T02:00:00Z"
    assert warning["window_end"] == "2025-01-15T10:00:00Z"
    # The critical one keeps the time the alert began.
    assert changes[1].explanation["active_since"] == "2025-01-15T10:00:00Z"


def test_a_running_mean_needs_75_percent_of_its_hours() -> None:
    rule = AirQualityIndex()
    changes = feed_hours(rule, "o3", 0, [120.0] * 5)
    changes += rule.advance(at(5 * 60))
    assert changes == []  # 5 of 8 hours: no mean yet
    changes = feed_hours(rule, "o3", 5, [120.0])
    [condition] = changes + list(rule.advance(at(6 * 60)))
    assert condition.at_ns == at(6 * 60)
    assert condition.explanation["coverage"] == 0.75
    assert condition.explanation["valid_hours"] == 6


def test_an_hour_without_data_is_left_out_of_the_running_mean() -> None:
    rule = AirQualityIndex()
    # Hours 0..7 with hour 3 missing: the mean is over 7 hours, 7/8 coverage.
    values = [40.0, 40.0, 40.0, 40.0, 100.0, 100.0, 100.0]
    feed_hours(rule, "o3", 0, values[:3])
    changes = feed_hours(rule, "o3", 4, values[3:])
    [condition] = changes + list(rule.advance(at(8 * 60)))
    # At 07:00 six hours are valid (0, 1, 2, 4, 5, 6): (80·4 + 200·2)/6 = 120 µg/m³,
    # index 4. At 08:00 the mean rises to 131.4 (index 5): same severity, not reported.
    assert condition.at_ns == at(7 * 60)
    assert condition.explanation["valid_hours"] == 6
    assert condition.explanation["mean_ug_m3"] == pytest.approx(120.0)
    assert condition.explanation["coverage"] == 0.75


def test_hours_short_of_coverage_do_not_count_towards_a_running_mean() -> None:
    rule = AirQualityIndex()
    for hour in range(3):  # one reading an hour: 25 % of the slots, no hourly mean
        rule.observe(reading("school-3", 60 * hour, o3=120.0))
    changes = feed_hours(rule, "o3", 3, [120.0] * 5)
    assert changes + list(rule.advance(at(8 * 60))) == []  # 5 valid hours of 8
    changes = feed_hours(rule, "o3", 8, [120.0])
    [condition] = changes + list(rule.advance(at(9 * 60)))  # hours 3..8 of 1..8
    assert condition.at_ns == at(9 * 60) and condition.explanation["valid_hours"] == 6


def test_the_running_window_drops_hours_older_than_its_period() -> None:
    rule = AirQualityIndex()
    feed_hours(rule, "o3", 0, [120.0] * 8)  # 240 µg/m³: index 9
    changes = list(rule.advance(at(10 * 60)))  # two hours without data
    changes += feed_hours(rule, "o3", 10, [10.0] * 4)  # 20 µg/m³
    changes += rule.advance(at(14 * 60))
    # 13:00: hours 5..12 hold 3 high and 3 low valid hours, (720 + 60)/6 = 130 (index 5);
    # 14:00: hours 6..13 hold 2 high and 4 low, (480 + 80)/6 = 93.3 (index 3).
    assert [(c.at_ns, c.active, c.severity) for c in changes] == [
        (at(13 * 60), True, Severity.WARNING),
        (at(14 * 60), False, Severity.WARNING),
    ]
    assert changes[1].explanation["mean_ug_m3"] == pytest.approx(93.333)
    assert changes[1].explanation["window_start"] == "2025-01-15T06:00:00Z"


def test_pm2_5_follows_its_24_hour_running_mean() -> None:
    rule = AirQualityIndex()
    # 40 µg/m³ is index 4 (35 < x ≤ 41); the first valid 24-hour mean needs 18 hours.
    changes = feed_hours(rule, "pm2_5", 0, [40.0] * 20)
    assert [c.at_ns for c in changes] == [at(18 * 60)]
    explanation = changes[0].explanation
    assert explanation["averaging"] == "24-hour running mean"
    assert explanation["period_hours"] == 24
    assert explanation["valid_hours"] == 18 and explanation["coverage"] == 0.75
    assert "mean_ppb" not in explanation
    # Clean hours at 20 µg/m³ from hour 20 lower the running mean slowly. At the end of
    # hour 26 the window (hours 2..25) holds 18 hours at 40 and 6 at 20: exactly 35.0,
    # index 3 (the bound is inclusive); an hour earlier it was 35.83, still index 4.
    changes = feed_hours(rule, "pm2_5", 20, [20.0] * 12)
    changes += rule.advance(at(32 * 60))
    [cleared] = changes
    assert not cleared.active and cleared.at_ns == at(26 * 60)
    assert cleared.explanation["mean_ug_m3"] == 35.0
    assert cleared.explanation["index"] == 3
    assert cleared.explanation["valid_hours"] == 24


def test_silence_neither_raises_nor_clears_but_valid_windows_across_the_gap_count() -> None:
    rule = AirQualityIndex()
    changes = feed_hours(rule, "o3", 0, [120.0] * 8)
    [raised] = changes + list(rule.advance(at(8 * 60)))
    assert raised.severity is Severity.CRITICAL
    assert rule.advance(at(72 * 60)) == []  # a long silence: no verdict change
    # Back with clean air: after 6 clean hours the 8-hour mean is valid again, and low.
    changes = feed_hours(rule, "o3", 72, [10.0] * 6)
    changes += rule.advance(at(78 * 60))
    [cleared] = changes
    assert not cleared.active and cleared.at_ns == at(78 * 60)
    assert cleared.severity is Severity.CRITICAL  # the severity of the alert it clears
    assert cleared.explanation["index"] == 1


def test_late_and_redelivered_readings_are_not_counted() -> None:
    rule = AirQualityIndex()
    for minute in QUARTERS:
        rule.observe(reading("school-3", minute, no2=100.0))
    rule.observe(reading("school-3", 45, no2=900.0))  # redelivered time, other value
    rule.observe(reading("school-3", 10, no2=900.0))  # late
    assert rule.advance(at(60)) == []  # 100 ppb = 191 µg/m³: index 3


def test_pollutants_are_judged_separately_and_can_be_turned_off() -> None:
    rule = AirQualityIndex(DaqiSettings(pollutants=("pm10",)))
    for hour in range(18):
        for minute in QUARTERS:
            rule.observe(reading("school-3", 60 * hour + minute, no2=900.0, pm10=80.0))
    [condition] = rule.advance(at(60 * 18))
    assert condition.key == "daqi:school-3:pm10"
    assert condition.explanation["index"] == 7 and condition.severity is Severity.CRITICAL


def test_thresholds_of_the_verdict_are_configurable() -> None:
    rule = AirQualityIndex(DaqiSettings(alert_from_index=2, critical_from_index=3))
    feed_hours(rule, "no2", 0, [50.0])  # 95.5 µg/m³: index 2
    [condition] = rule.advance(at(60))
    assert condition.active and condition.severity is Severity.WARNING
