"""The demo night behaves like the winter night the gritting rules are built for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from wherry.demo import physics
from wherry.demo.fleet import CLIMATES, RoadProbe, RouteClimate, load_fleet

HILL, BRIDGE, CENTRE = CLIMATES["matlock-bank"], CLIMATES["derwent-bridge"], CLIMATES["town-centre"]
NIGHT = np.arange(0.0, physics.NIGHT_HOURS, 1 / 6)  # every ten minutes from 18:00 to 08:00


def surface(climate: RouteClimate, hours: float) -> float:
    return physics.road_surface_temperature(climate, hours)


@pytest.mark.parametrize("climate", [HILL, BRIDGE, CENTRE])
def test_road_surfaces_cool_all_night(climate: RouteClimate) -> None:
    temperatures = np.array([surface(climate, h) for h in NIGHT])
    assert temperatures[0] == pytest.approx(6.0)
    assert np.all(np.diff(temperatures) < 0)


def test_hill_route_freezes_around_half_past_ten() -> None:
    """Early enough for the demo to tell the night in under two minutes at 600×."""
    assert surface(HILL, 4.0) > 0.3  # 22:00
    assert surface(HILL, 5.5) < 0.0  # 23:30


def test_town_centre_stays_near_two_degrees_and_the_bridge_between_half_and_one() -> None:
    centre = [surface(CENTRE, h) for h in NIGHT]
    bridge = [surface(BRIDGE, h) for h in NIGHT]
    assert 1.5 < min(centre) < 2.6
    assert 0.5 < min(bridge) < 1.0  # marginal (MONITOR), never freezing


def test_routes_are_ordered_hill_bridge_centre_in_the_small_hours() -> None:
    for hours in np.arange(7.0, 14.0, 0.5):  # 01:00 to 08:00
        assert surface(HILL, hours) < surface(BRIDGE, hours) < surface(CENTRE, hours)


@pytest.mark.parametrize("climate", [HILL, BRIDGE, CENTRE])
def test_day_warms_the_road_back_to_where_the_next_night_starts(climate: RouteClimate) -> None:
    dawn = physics.NIGHT_HOURS
    assert surface(climate, dawn - 1e-9) == pytest.approx(surface(climate, dawn), abs=1e-6)
    assert surface(climate, 24.0 - 1e-9) == pytest.approx(surface(climate, 0.0), abs=1e-6)
    day = [surface(climate, h) for h in np.arange(dawn, 24.0, 0.25)]
    assert np.all(np.diff(day) > 0)


def test_humidity_rises_overnight_toward_saturation_and_air_cools() -> None:
    humidity = np.array([physics.relative_humidity(h) for h in NIGHT])
    air = np.array([physics.air_temperature(h) for h in NIGHT])
    assert np.all(np.diff(humidity) > 0)
    assert humidity[0] == pytest.approx(72.0)
    assert 88.0 < humidity[-1] <= 100.0
    assert np.all(np.diff(air) < 0)


def dew_point(hours: float) -> float:
    t, rh = physics.air_temperature(hours), physics.relative_humidity(hours)
    gamma = np.log(rh / 100) + 17.62 * t / (243.12 + t)
    return float(243.12 * gamma / (17.62 - gamma))


def test_the_evening_is_dry_enough_for_a_forecast_below_zero() -> None:
    """A dry surface's forecast is held 1 °C below the dew point: with the dew point above
    +1 °C in the evening no forecast could reach 0 °C and TREAT would wait for the frost."""
    for hours in (2.0, 2.5, 3.0):  # 20:00 to 21:00, when the hill's forecast calls TREAT
        assert dew_point(hours) < 0.5


def test_the_coldest_hill_surface_reaches_the_dew_point_before_dawn() -> None:
    """Frost needs RST ≤ 0 °C and ≤ dew point: the demo must show an ICE_LIKELY night."""
    coldest = load_fleet().site("rst-smedley-street").behaviour
    assert isinstance(coldest, RoadProbe)
    hours = 13.0  # 07:00
    rst = physics.road_surface_temperature(
        HILL,
        hours,
        dusk_offset_c=coldest.dusk_offset_c,
        asymptote_offset_c=coldest.asymptote_offset_c,
    )
    assert rst < min(0.0, dew_point(hours))


def test_hours_since_dusk_reads_the_wall_clock() -> None:
    utc = UTC
    assert physics.hours_since_dusk(datetime(2026, 1, 14, 18, 0, tzinfo=utc)) == 0.0
    assert physics.hours_since_dusk(datetime(2026, 1, 15, 3, 30, tzinfo=utc)) == 9.5
    plus_one = timezone(timedelta(hours=1))
    assert physics.hours_since_dusk(datetime(2026, 1, 14, 19, 0, tzinfo=plus_one)) == 1.0


def test_classroom_fills_with_co2_in_school_hours_only() -> None:
    wednesday = datetime(2026, 1, 14, tzinfo=UTC)
    saturday = datetime(2026, 1, 17, tzinfo=UTC)
    lesson = physics.classroom_air(wednesday.replace(hour=10, minute=15))
    night = physics.classroom_air(wednesday.replace(hour=3))
    weekend = physics.classroom_air(saturday.replace(hour=10, minute=15))
    assert lesson.co2_ppm > 1000 > 500 > night.co2_ppm
    assert weekend.co2_ppm < 500
    assert lesson.temperature_c > 20 > 17 > night.temperature_c


def test_classroom_co2_drops_when_windows_open_at_break() -> None:
    day = datetime(2026, 1, 14, tzinfo=UTC)
    before = physics.classroom_air(day.replace(hour=10, minute=29)).co2_ppm
    during = physics.classroom_air(day.replace(hour=10, minute=44)).co2_ppm
    assert during < before - 200


def test_river_varies_slowly() -> None:
    start = datetime(2026, 1, 14, 18, tzinfo=UTC).timestamp()
    samples = [physics.river_water(start + 600 * i, 18.0, 740.0) for i in range(6 * 24)]
    depths = np.array([s.depth_mm for s in samples])
    assert np.all(np.abs(np.diff(depths)) < 5.0)  # never more than 5 mm in ten minutes
    assert depths.min() > 600 and depths.max() < 900
    conductivity = np.array([s.conductivity_us_cm for s in samples])
    assert np.corrcoef(depths, conductivity)[0, 1] < -0.99  # rain dilutes the river
