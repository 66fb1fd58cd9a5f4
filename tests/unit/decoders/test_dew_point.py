"""Dew point by the Magnus formula with a = 17.62, b = 243.12 °C (GRITTING.md)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from decoders import dew_point


def test_known_value() -> None:
    # γ = ln(0.5) + 17.62·20/263.12 = 0.646166…; Td = 243.12·γ/(17.62 − γ)
    assert dew_point(20.0, 50.0) == pytest.approx(9.2552, abs=1e-4)  # tables: 9.3 °C


def test_frost_night() -> None:
    assert dew_point(1.0, 90.0) == pytest.approx(-0.4570, abs=1e-4)


@given(st.floats(min_value=-40, max_value=50))
def test_saturated_air_has_its_own_temperature_as_dew_point(t: float) -> None:
    assert dew_point(t, 100.0) == pytest.approx(t, abs=1e-9)


@given(st.floats(min_value=-40, max_value=50), st.floats(min_value=1, max_value=99.9))
def test_dew_point_is_below_the_air_temperature(t: float, rh: float) -> None:
    assert dew_point(t, rh) < t


@given(
    st.floats(min_value=-40, max_value=50),
    st.floats(min_value=1, max_value=99),
    st.floats(min_value=0.01, max_value=1),
)
def test_wetter_air_has_a_higher_dew_point(t: float, rh: float, more: float) -> None:
    assert dew_point(t, rh + more) > dew_point(t, rh)


@pytest.mark.parametrize("rh", [0.0, -5.0, math.nan])
def test_no_dew_point_without_humidity(rh: float) -> None:
    with pytest.raises(ValueError, match="relative humidity"):
        dew_point(10.0, rh)
