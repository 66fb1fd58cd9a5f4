"""Alert rule families besides gritting: device health, air quality (DAQI), CO2, water.

Each family implements `alerts.model.Rule` on the data's clock and reports only
changed verdicts; `config.load_rules` reads their thresholds from one TOML file and
`config.build_rules` turns them into rule objects for the engine.
"""

from alerts.rules.co2 import Co2Settings, IndoorCo2
from alerts.rules.config import (
    RulesConfig,
    RulesConfigError,
    build_rules,
    load_rules,
    parse_rules,
)
from alerts.rules.daqi import (
    AirQualityIndex,
    DaqiSettings,
    daqi_band,
    daqi_index,
    to_ug_m3,
)
from alerts.rules.health import DeviceHealth, HealthSettings, TrackedDevice
from alerts.rules.water import DEFAULT_WATER_RULES, WaterQuality, WaterSpike, WaterThreshold

__all__ = [
    "DEFAULT_WATER_RULES",
    "AirQualityIndex",
    "Co2Settings",
    "DaqiSettings",
    "DeviceHealth",
    "HealthSettings",
    "IndoorCo2",
    "RulesConfig",
    "RulesConfigError",
    "TrackedDevice",
    "WaterQuality",
    "WaterSpike",
    "WaterThreshold",
    "build_rules",
    "daqi_band",
    "daqi_index",
    "load_rules",
    "parse_rules",
    "to_ug_m3",
]
