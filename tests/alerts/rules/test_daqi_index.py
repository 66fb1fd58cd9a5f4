"""The DAQI table: every band boundary of the reference file, periods and unit conversions."""

import json
from importlib import resources
from pathlib import Path

import pytest

from alerts.rules.daqi import (
    DAQI,
    DaqiTableError,
    daqi_band,
    daqi_index,
    parse_daqi_table,
    to_ug_m3,
)

SHARED_REFERENCE = Path("/work/shared/reference/daqi.json")
PACKAGE_COPY = resources.files("alerts.rules").joinpath("daqi.json")


def _reference() -> dict[str, object]:
    """The reference table itself when it is here, else the package's copy of it."""
    source = SHARED_REFERENCE if SHARED_REFERENCE.exists() else PACKAGE_COPY
    table: dict[str, object] = json.loads(source.read_text(encoding="utf-8"))
    return table


REFERENCE = _reference()
BOUNDS = {
    name: entry["upper_bounds"]
    for name, entry in REFERENCE["pollutants"].items()  # type: ignore[attr-defined]
}
CASES = [
    (pollutant, index, bound)
    for pollutant, bounds in BOUNDS.items()
    for index, bound in enumerate(bounds, start=1)
]


@pytest.mark.skipif(not SHARED_REFERENCE.exists(), reason="no shared reference on this machine")
def test_the_package_copy_is_byte_identical_to_the_reference() -> None:
    assert PACKAGE_COPY.read_bytes() == SHARED_REFERENCE.read_bytes()


def test_every_pollutant_has_nine_bounds_in_the_reference() -> None:
    assert sorted(BOUNDS) == ["no2", "o3", "pm10", "pm2_5"]
    assert all(len(bounds) == 9 for bounds in BOUNDS.values())


@pytest.mark.parametrize(("pollutant", "index", "bound"), CASES)
def test_a_band_includes_its_upper_bound_and_not_a_hair_above(
    pollutant: str, index: int, bound: float
) -> None:
    assert daqi_index(pollutant, bound) == index
    assert daqi_index(pollutant, bound + 0.001) == index + 1
    assert daqi_index(pollutant, bound - 0.001) == index


@pytest.mark.parametrize("pollutant", sorted(BOUNDS))
def test_clean_air_is_index_1_and_far_above_the_table_is_10(pollutant: str) -> None:
    assert daqi_index(pollutant, 0.0) == 1
    assert daqi_index(pollutant, 10_000.0) == 10


def test_bands_are_named_as_in_the_reference() -> None:
    assert [daqi_band(i) for i in range(1, 11)] == [
        "Low", "Low", "Low", "Moderate", "Moderate", "Moderate", "High", "High", "High",
        "Very High",
    ]  # fmt: skip


def test_averaging_periods_are_the_ones_the_index_is_defined_on() -> None:
    periods = {name: bands.period_hours for name, bands in DAQI.pollutants.items()}
    assert periods == {"no2": 1, "o3": 8, "pm10": 24, "pm2_5": 24}


def test_gases_are_converted_from_ppb_with_defra_factors_and_pm_is_left_alone() -> None:
    assert to_ug_m3("no2", 100.0) == pytest.approx(191.0)
    assert to_ug_m3("o3", 100.0) == pytest.approx(200.0)
    assert to_ug_m3("pm2_5", 37.5) == 37.5
    assert to_ug_m3("pm10", 37.5) == 37.5


def test_a_concentration_in_ppb_lands_in_the_band_of_its_ug_m3_value() -> None:
    # 105 ppb NO2 = 200.55 µg/m³: just above band 3 (≤ 200), so Moderate though 105 < 200.
    assert daqi_index("no2", to_ug_m3("no2", 105.0)) == 4
    assert daqi_index("no2", to_ug_m3("no2", 104.0)) == 3  # 198.64 µg/m³


def test_nonsense_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="no DAQI bands for 'co'"):
        daqi_index("co", 1.0)
    with pytest.raises(ValueError, match="must be ≥ 0"):
        daqi_index("pm10", -1.0)
    with pytest.raises(ValueError, match="must be ≥ 0"):
        daqi_index("pm10", float("nan"))


def test_a_broken_table_is_refused_with_what_is_wrong() -> None:
    broken = json.loads(PACKAGE_COPY.read_text(encoding="utf-8"))
    broken["pollutants"]["pm10"]["upper_bounds"] = [16, 33, 50, 50, 66, 75, 83, 91, 100]
    with pytest.raises(DaqiTableError, match="upper bounds must increase"):
        parse_daqi_table(json.dumps(broken))
    broken = json.loads(PACKAGE_COPY.read_text(encoding="utf-8"))
    broken["pollutants"]["o3"]["averaging"] = "daily maximum"
    with pytest.raises(DaqiTableError, match="unknown averaging period 'daily maximum'"):
        parse_daqi_table(json.dumps(broken))
