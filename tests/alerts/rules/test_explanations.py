"""Every family's conditions carry JSON explanations and the labels the alert book files them by."""

import json
from typing import Any

from alerts.model import Condition, Observation
from alerts.rules.co2 import IndoorCo2
from alerts.rules.daqi import AirQualityIndex
from alerts.rules.health import DeviceHealth
from alerts.rules.water import WaterQuality
from tests.alerts.rules.support import at, reading


def labelled(minutes: float, domain: str = "air", **values: Any) -> Observation:
    return reading("dev-1", minutes, domain=domain, site="Oakfield", route_id="R3", **values)


def one_of_each() -> list[Condition]:
    health, daqi, co2, water = DeviceHealth(), AirQualityIndex(), IndoorCo2(), WaterQuality()
    conditions = list(health.observe(labelled(0, battery_voltage=2.5, rssi=-130.0, snr=-20.0)))
    for minute in range(1, 5):
        conditions += health.observe(labelled(minute, rssi=-130.0))
    conditions += health.advance(at(120))
    for minute in (0, 15, 30, 45):
        conditions += daqi.observe(labelled(minute, no2=400.0))
    conditions += daqi.advance(at(60))
    conditions += co2.observe(labelled(0, co2=2500.0))
    conditions += water.observe(labelled(0, domain="water", ph=4.0))
    conditions += water.advance(at(30))
    return conditions


def test_explanations_survive_json_and_conditions_carry_their_labels() -> None:
    conditions = one_of_each()
    assert sorted(c.key for c in conditions) == [
        "battery:dev-1",
        "co2:dev-1",
        "daqi:dev-1:no2",
        "link:dev-1",
        "silent:dev-1",
        "water:Oakfield:ph:ph_out_of_range",
    ]
    for condition in conditions:
        assert json.loads(json.dumps(condition.explanation)) == dict(condition.explanation)
        assert str(condition.explanation["active_since"]).endswith("Z")
        assert (condition.device_id, condition.site, condition.route_id) == (
            "dev-1",
            "Oakfield",
            "R3",
        )
        assert condition.summary and condition.domain in ("air", "water")
