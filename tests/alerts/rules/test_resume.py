"""After a restart a rule takes over the alerts still open, so it can clear them."""

from alerts.model import Severity
from alerts.rules.co2 import IndoorCo2
from alerts.rules.daqi import AirQualityIndex
from alerts.rules.health import DeviceHealth
from alerts.rules.water import WaterQuality
from tests.alerts.rules.support import at, reading

OPEN = [
    ("co2:class-4b", Severity.CRITICAL, at(-30)),
    ("battery:rst-7", Severity.WARNING, at(-600)),
    ("daqi:school-3:no2", Severity.WARNING, at(-60)),
    ("water:Weir:ph:ph_out_of_range", Severity.WARNING, at(-90)),
]


def test_a_resumed_alert_is_cleared_by_fresh_data_with_its_severity_and_since() -> None:
    rule = IndoorCo2()
    rule.resume(OPEN)
    [cleared] = rule.observe(reading("class-4b", 0, co2=600.0))
    assert not cleared.active and cleared.key == "co2:class-4b"
    assert cleared.severity is Severity.CRITICAL
    assert cleared.explanation["active_since"] == "2025-01-14T23:30:00Z"


def test_a_resumed_alert_is_not_raised_twice() -> None:
    rule = IndoorCo2()
    rule.resume([("co2:class-4b", "critical", at(-30))])  # type: ignore[list-item]
    assert rule.observe(reading("class-4b", 0, co2=2500.0)) == []


def test_each_family_takes_only_its_own_keys() -> None:
    health = DeviceHealth()
    health.resume(OPEN)
    [battery] = health.observe(reading("rst-7", 0, battery_voltage=3.7))
    assert battery.key == "battery:rst-7" and not battery.active
    water = WaterQuality()
    water.resume(OPEN)
    changes = [
        *water.observe(reading("wq-1", 0, site="Weir", ph=7.0)),
        *water.observe(reading("wq-1", 30, site="Weir", ph=7.0)),
    ]
    assert [(c.key, c.active) for c in changes] == [("water:Weir:ph:ph_out_of_range", False)]
    daqi = AirQualityIndex()
    daqi.resume(OPEN)
    for minute in (0, 15, 30, 45):
        daqi.observe(reading("school-3", minute, no2=20.0))
    [clean] = daqi.advance(at(60))
    assert clean.key == "daqi:school-3:no2" and not clean.active
    assert IndoorCo2().observe(reading("rst-7", 0, co2=400.0)) == []
