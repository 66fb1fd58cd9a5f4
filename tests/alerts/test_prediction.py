"""The RST forecast: a Newton cooling curve where the data bend, else a line; within physics."""

import warnings
from collections.abc import Iterator

import numpy as np
import pytest

from alerts.prediction import fit_trend, predict

HOUR = 3_600_000_000_000
MINUTE = 60_000_000_000


@pytest.fixture(autouse=True)
def _numpy_is_strict() -> Iterator[None]:
    """Any NumPy warning (overflow, division by zero, invalid value) fails the test."""
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        yield


def newton_night(ambient: float, start: float, k: float, hours: np.ndarray) -> np.ndarray:
    return ambient + (start - ambient) * np.exp(-k * hours)


def readings(hours: np.ndarray) -> np.ndarray:
    return np.round(hours * HOUR).astype(np.int64)


EVERY_10_MIN_FOR_2_H = np.arange(0, 121, 10) / 60


@pytest.mark.parametrize(
    ("ambient", "start", "k"),
    [(-1.0, 8.0, 0.4), (3.0, 9.0, 0.6), (-3.0, 6.0, 0.3), (2.0, 5.0, 1.0)],
)
def test_on_an_exponential_night_the_curve_is_right_where_a_line_is_off_by_degrees(
    ambient: float, start: float, k: float
) -> None:
    hours = EVERY_10_MIN_FOR_2_H
    temps = newton_night(ambient, start, k, hours)
    now = int(readings(hours)[-1])
    truth = float(newton_night(ambient, start, k, np.array([2.0 + 3.0]))[0])

    forecast = predict(readings(hours), temps, now, 3 * HOUR)
    slope, intercept = np.polyfit(hours, temps, 1)
    line_minimum = intercept + slope * 5.0

    assert forecast.model == "newton"
    assert forecast.minimum_c is not None
    assert abs(forecast.minimum_c - truth) < 0.5
    assert truth - line_minimum > 3.0  # the line fitted to the first 2 h: several degrees too cold
    assert forecast.minimum_at_ns == now + 3 * HOUR
    assert forecast.points_used == 13
    assert "Newton cooling curve through 13 readings over 2 h" in forecast.note


def test_the_curve_starts_at_sunset_when_the_window_still_holds_the_afternoon() -> None:
    hours = np.arange(0, 121, 10) / 60  # sunset 40 min into the window
    afternoon = 9.0 - 0.3 * hours
    night = newton_night(3.0, 9.0 - 0.3 * 40 / 60, 0.7, hours - 40 / 60)
    temps = np.where(hours < 40 / 60, afternoon, night)
    truth = float(newton_night(3.0, 9.0 - 0.2, 0.7, np.array([5.0 - 40 / 60]))[0])

    fit = fit_trend(readings(hours), temps)
    forecast = predict(readings(hours), temps, int(readings(hours)[-1]), 3 * HOUR)

    assert fit.model == "newton" and fit.skipped in (4, 5)  # the reading at sunset fits both
    assert forecast.minimum_c is not None and abs(forecast.minimum_c - truth) < 0.5
    assert "through the last" in forecast.note


def test_noise_makes_the_curve_cautious_not_warm() -> None:
    hours = EVERY_10_MIN_FOR_2_H
    truth = float(newton_night(-1.0, 8.0, 0.4, np.array([5.0]))[0])
    errors = []
    for seed in range(40):
        noisy = newton_night(-1.0, 8.0, 0.4, hours) + np.random.default_rng(seed).normal(
            0, 0.1, hours.size
        )
        forecast = predict(readings(hours), noisy, int(readings(hours)[-1]), 3 * HOUR)
        assert forecast.minimum_c is not None
        errors.append(forecast.minimum_c - truth)

    assert np.mean(errors) < 0.0  # wrong on the cold side on average
    assert max(errors) < 0.75  # never much too warm


def test_too_few_readings_for_a_curve_fall_back_to_the_line() -> None:
    hours = np.array([0, 10, 20, 30, 40]) / 60  # 5 readings over 40 min
    temps = 6.0 - 1.2 * hours

    forecast = predict(readings(hours), temps, int(readings(hours)[-1]), 3 * HOUR)

    assert forecast.model == "linear"
    assert forecast.minimum_c == pytest.approx(6.0 - 1.2 * (40 / 60 + 3), abs=1e-6)
    assert forecast.parameters["slope_c_per_hour"] == pytest.approx(-1.2)
    assert "least-squares line through 5 readings" in forecast.note
    assert "too few readings for a curve" in forecast.note


def test_a_straight_cooling_uses_the_line_even_with_enough_readings() -> None:
    hours = EVERY_10_MIN_FOR_2_H
    noise = np.random.default_rng(3).normal(0, 0.05, hours.size)

    forecast = predict(readings(hours), 6.0 - 0.8 * hours + noise, int(readings(hours)[-1]), HOUR)

    assert forecast.model == "linear"
    assert "the bend is within the noise" in forecast.note


def test_fewer_than_four_readings_give_no_forecast() -> None:
    hours = np.array([0, 10, 20]) / 60

    forecast = predict(readings(hours), [5.0, 4.8, 4.6], int(readings(hours)[-1]), 3 * HOUR)

    assert (forecast.model, forecast.minimum_c, forecast.minimum_at_ns) == ("none", None, None)
    assert forecast.note == "No forecast: 3 readings, a trend needs 4."


def test_cooling_is_capped_at_the_plausible_rate() -> None:
    hours = np.array([0, 10, 20, 30]) / 60
    temps = 10.0 - 4.0 * hours  # 4 °C/h

    forecast = predict(readings(hours), temps, int(readings(hours)[-1]), 3 * HOUR)

    assert forecast.minimum_c == pytest.approx(8.0 - 2.0 * 3, abs=1e-6)
    assert "cooling capped at 2.0 °C/h" in forecast.note


def test_the_dew_point_holds_the_forecast_up_and_says_when() -> None:
    hours = np.array([0, 10, 20, 30, 40, 50]) / 60
    temps = 4.0 - 1.0 * hours
    now = int(readings(hours)[-1])
    level = 4.0 - 50 / 60

    forecast = predict(readings(hours), temps, now, 3 * HOUR, floor_c=2.0)

    assert forecast.minimum_c == pytest.approx(1.0)  # dew point − 1 °C
    assert forecast.minimum_at_ns == now + round((level - 1.0) * HOUR)  # reached at 1 °C/h
    assert "held at +1.0 °C, 1.0 °C below the dew point +2.0 °C" in forecast.note


@pytest.mark.parametrize("dew_point", [3.0, 0.2], ids=["well above", "at the surface"])
def test_a_wet_surface_at_or_below_the_dew_point_is_not_held_there(dew_point: float) -> None:
    """Condensing already: holding it at its present level would hide a wet road freezing."""
    hours = np.array([0, 10, 20, 30]) / 60
    temps = 0.5 - 0.6 * hours  # +0.2 °C now, 0.6 °C/h

    forecast = predict(
        readings(hours), temps, int(readings(hours)[-1]), 3 * HOUR, floor_c=dew_point
    )

    assert forecast.minimum_c == pytest.approx(0.2 - 0.6 * 3, abs=1e-6)
    assert forecast.parameters["dew_point_c"] == dew_point
    assert "held at" not in forecast.note


def test_a_dry_surface_just_above_the_dew_point_is_held_below_it() -> None:
    hours = np.array([0, 10, 20, 30]) / 60
    temps = 0.5 - 0.6 * hours  # +0.2 °C now

    forecast = predict(readings(hours), temps, int(readings(hours)[-1]), 3 * HOUR, floor_c=0.1)

    assert forecast.minimum_c == pytest.approx(0.1 - 1.0)
    assert "held at -0.9 °C, 1.0 °C below the dew point +0.1 °C" in forecast.note


@pytest.mark.parametrize(
    "temps",
    [
        [2.0, 2.4, 2.9, 3.2, 3.6, 3.8, 4.1, 4.3, 4.4],  # warming, levelling off
        [2.0, 2.2, 2.4, 2.6, 2.8, 3.0, 3.2, 3.4, 3.6],  # warming steadily
    ],
)
def test_a_warming_trend_never_forecasts_a_fall(temps: list[float]) -> None:
    hours = np.arange(len(temps)) * 10 / 60
    now = int(readings(hours)[-1])

    forecast = predict(readings(hours), temps, now, 3 * HOUR)

    assert forecast.minimum_c is not None and forecast.minimum_c >= temps[-1] - 0.1
    assert forecast.minimum_at_ns == now
    assert "no fall forecast" in forecast.note


def test_flat_data_forecast_flat() -> None:
    hours = EVERY_10_MIN_FOR_2_H

    forecast = predict(readings(hours), np.full(hours.size, 2.5), int(readings(hours)[-1]), HOUR)

    assert forecast.minimum_c == pytest.approx(2.5)


def test_readings_arrive_in_any_order() -> None:
    hours = EVERY_10_MIN_FOR_2_H
    temps = newton_night(-1.0, 8.0, 0.4, hours)
    order = np.random.default_rng(1).permutation(hours.size)
    now = int(readings(hours)[-1])

    shuffled = predict(readings(hours)[order], temps[order], now, 3 * HOUR)

    assert shuffled == predict(readings(hours), temps, now, 3 * HOUR)


def test_noisy_and_broken_inputs_never_crash_nor_give_nan() -> None:
    rng = np.random.default_rng(7)
    for case in range(300):
        n = int(rng.integers(0, 40))
        times = np.sort(rng.integers(0, 3 * HOUR, n)).astype(np.int64)
        if case % 5 == 0 and n:
            times[:] = times[0]  # every reading at one time
        temps = rng.normal(2.0, float(rng.choice([0.0, 0.05, 1.0, 20.0])), n)
        if case % 7 == 0 and n > 2:
            temps[1] = np.nan
        floor = None if case % 3 else float(rng.normal(0, 3))
        now = int(times[-1]) if n else 0

        forecast = predict(times, temps, now, 3 * HOUR, floor_c=floor)

        if forecast.minimum_c is not None:
            assert np.isfinite(forecast.minimum_c)
            assert (
                forecast.minimum_at_ns is not None
                and now <= forecast.minimum_at_ns <= now + 3 * HOUR
            )
        assert all(np.isfinite(v) for v in forecast.parameters.values())


def test_mismatched_arrays_are_a_value_error() -> None:
    with pytest.raises(ValueError, match="1-D of one length"):
        fit_trend([1, 2, 3], [1.0, 2.0])
