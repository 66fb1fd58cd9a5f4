"""The rules file: defaults, the documented example, and errors a person can act on."""

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from alerts.model import Severity
from alerts.rules.co2 import Co2Settings, IndoorCo2
from alerts.rules.config import RulesConfig, RulesConfigError, build_rules, load_rules, parse_rules
from alerts.rules.daqi import AirQualityIndex, DaqiSettings
from alerts.rules.health import DeviceHealth, HealthSettings
from alerts.rules.water import DEFAULT_WATER_RULES, WaterQuality, WaterSpike, WaterThreshold

DOC = Path(__file__).resolve().parents[3] / "docs" / "alerts-rules.md"


def documented_example() -> str:
    match = re.search(r"## Full example.*?```toml\n(.*?)```", DOC.read_text("utf-8"), re.S)
    assert match is not None, "docs/alerts-rules.md lost its full example"
    return match.group(1)


def problems(text: str) -> list[str]:
    with pytest.raises(RulesConfigError) as caught:
        parse_rules(text, source="rules.toml")
    first, *lines = str(caught.value).splitlines()
    assert first == "rules.toml: invalid rules:"
    return [line.strip() for line in lines]


def test_an_empty_file_gives_every_default_and_all_four_families() -> None:
    config = parse_rules("")
    assert config == RulesConfig()
    assert config.water == DEFAULT_WATER_RULES
    rules = build_rules(config)
    assert [type(rule) for rule in rules] == [
        DeviceHealth,
        AirQualityIndex,
        IndoorCo2,
        WaterQuality,
    ]


def test_the_documented_example_states_the_defaults_and_adds_one_water_rule() -> None:
    config = parse_rules(documented_example(), source="docs/alerts-rules.md")
    assert config.health == HealthSettings()
    assert config.daqi == DaqiSettings()
    assert config.co2 == Co2Settings()
    assert config.water[:3] == DEFAULT_WATER_RULES
    [level] = config.water[3:]
    assert level == WaterThreshold(
        name="level_high_weir",
        quantity="water_level",
        above=2.4,
        duration_min=15,
        hysteresis=0.1,
        severity=Severity.CRITICAL,
        site="Weir",
    )


@pytest.mark.parametrize("settings", [HealthSettings, DaqiSettings, Co2Settings, WaterSpike])
def test_the_documented_example_shows_every_key(settings: type[BaseModel]) -> None:
    example = documented_example()
    missing = [key for key in settings.model_fields if f"\n{key} = " not in example]
    assert missing == []


def test_values_land_where_they_belong(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        """
[health]
silent_after_min = 20
[co2]
warning_above_ppm = 1200
critical_above_ppm = 1800
[daqi]
enabled = false
[[water]]
kind = "spike"
name = "turbidity_spike"
quantity = "turbidity"
rise_percent = 200
""",
        encoding="utf-8",
    )
    config = load_rules(path)
    assert config.health.silent_after_min == 20.0
    assert config.co2.critical_above_ppm == 1800.0
    [spike] = config.water
    assert isinstance(spike, WaterSpike) and spike.rise_percent == 200.0
    rules = build_rules(config)
    assert [type(rule) for rule in rules] == [DeviceHealth, IndoorCo2, WaterQuality]


def test_an_empty_water_list_turns_water_rules_off() -> None:
    config = parse_rules("water = []\n")
    assert config.water == ()
    assert WaterQuality not in [type(rule) for rule in build_rules(config)]


def test_every_problem_is_named_as_written_in_the_file() -> None:
    found = problems(
        """
[co2]
warning_above_ppm = -5
[alarms]
x = 1
[health]
colour = "blue"
silent_severity = "loud"
[daqi]
slot_min = 7
pollutants = ["pm2_5", "co"]
[[water]]
name = "do_low"
quantity = "dissolved_oxygen"
below = 4
[[water]]
name = "ph_out_of_range"
quantity = "ph"
below = "six"
[[water]]
name = "no_quantity"
below = 1
[[water]]
kind = "spik"
name = "typo"
"""
    )
    assert found == [
        "[health] silent_severity: Input should be 'info', 'warning' or 'critical' (got 'loud')",
        "[health] colour: unknown key",
        "[daqi] pollutants[1]: Input should be 'pm2_5', 'pm10', 'no2' or 'o3' (got 'co')",
        "[daqi] slot_min: must divide 60 minutes evenly "
        "(1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60) (got 7)",
        "[co2] warning_above_ppm: Input should be greater than 0 (got -5)",
        "[[water]] #2 (ph_out_of_range) below: Input should be a valid number, "
        "unable to parse string as a number (got 'six')",
        "[[water]] #3 (no_quantity) quantity: required",
        "[[water]] #4 (typo): kind must be one of 'threshold', 'spike' (got 'spik')",
        "[alarms]: unknown table",
    ]


def test_rules_that_cannot_work_are_refused_with_the_reason() -> None:
    assert problems(
        """
[daqi]
alert_from_index = 5
critical_from_index = 4
[co2]
critical_above_ppm = 1000
[[water]]
name = "ph"
quantity = "ph"
below = 6.0
above = 6.2
hysteresis = 0.2
[[water]]
name = "do"
quantity = "disolved_oxygen"
below = 4
"""
    ) == [
        "[daqi]: critical_from_index (4) must not be below alert_from_index (5)",
        "[co2]: need good_below_ppm ≤ warning_above_ppm < critical_above_ppm, got 800, 1500, 1000",
        "[[water]] #1 (ph): below (6) + hysteresis (0.2) must stay under above (6.2) - "
        "hysteresis, or the alert could never clear",
        "[[water]] #2 (do) quantity: unknown quantity 'disolved_oxygen'; water quantities: "
        "water_temperature, conductivity, dissolved_oxygen, dissolved_oxygen_saturation, ph, "
        "redox_potential, turbidity, water_level, water_depth, distance, pressure "
        "(got 'disolved_oxygen')",
    ]


def test_duplicate_water_names_would_share_alert_keys() -> None:
    text = (
        '[[water]]\nname="a"\nquantity="ph"\nbelow=5\n[[water]]\nname="a"\nquantity="ph"\nabove=9\n'
    )
    assert problems(text) == [
        "[[water]] names must be unique (they are part of alert keys); repeated: a"
    ]


def test_a_table_that_is_not_a_table() -> None:
    assert problems("health = 3\n") == ["[health]: must be a table (got 3)"]


def test_broken_toml_and_missing_files_say_where(tmp_path: Path) -> None:
    with pytest.raises(RulesConfigError, match=r"^rules.toml: not valid TOML: .*line 1"):
        parse_rules("[daqi\n", source="rules.toml")
    missing = tmp_path / "nope.toml"
    with pytest.raises(RulesConfigError, match=rf"^{re.escape(str(missing))}: cannot read it"):
        load_rules(missing)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[health]")
    with pytest.raises(RulesConfigError, match="not UTF-8"):
        load_rules(binary)
