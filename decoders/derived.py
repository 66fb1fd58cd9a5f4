"""Quantities wherry derives from others measured on the same uplink."""

import math

MAGNUS_A = 17.62
MAGNUS_B = 243.12  # °C


def dew_point(air_temperature_c: float, relative_humidity_pct: float) -> float:
    """Dew point in °C by the Magnus formula (a = 17.62, b = 243.12 °C).

    Frost forms on a road at or below 0 °C only when the surface is also at or below
    the dew point, so the gritting rules need it. ValueError when relative humidity is
    not above 0 % or the temperature is at the formula's pole (−243.12 °C).
    """
    if not relative_humidity_pct > 0.0:
        raise ValueError(
            f"relative humidity must be above 0 % for a dew point, got {relative_humidity_pct}"
        )
    if air_temperature_c == -MAGNUS_B:
        raise ValueError(f"the Magnus formula is undefined at {air_temperature_c} °C")
    gamma = math.log(relative_humidity_pct / 100.0) + (
        MAGNUS_A * air_temperature_c / (MAGNUS_B + air_temperature_c)
    )
    return MAGNUS_B * gamma / (MAGNUS_A - gamma)
