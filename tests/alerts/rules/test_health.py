"""Device health: silence on the data clock, battery and link with hysteresis."""

from typing import Any

from alerts.model import Observation, Severity
from alerts.rules.health import DeviceHealth, HealthSettings, TrackedDevice
from tests.alerts.rules.support import at, reading


def road(minutes: float, **kwargs: Any) -> Observation:
    return reading("rst-7", minutes, domain="road", route_id="R12", site="A61 bridge", **kwargs)


# -- silence ---------------------------------------------------------------------------


def test_a_device_heard_once_is_silent_after_the_window_and_heard_again_clears_it() -> None:
    health = DeviceHealth()
    assert health.observe(road(0, road_surface_temperature=1.5)) == []
    assert health.advance(at(60)) == []  # exactly 60 min is not longer than 60 min
    [silent] = health.advance(at(60) + 1)
    assert silent.key == "silent:rst-7" and silent.rule == "silent"
    assert silent.active and silent.severity is Severity.WARNING
    assert silent.at_ns == at(60)  # the moment the window ran out
    assert (silent.device_id, silent.domain, silent.route_id, silent.site) == (
        "rst-7",
        "road",
        "R12",
        "A61 bridge",
    )
    assert silent.explanation["last_heard"] == "2025-01-15T00:00:00Z"
    assert silent.explanation["silent_after_min"] == 60.0
    assert health.advance(at(90)) == []  # still silent: nothing new to say
    [heard] = health.observe(road(95, road_surface_temperature=1.2))
    assert not heard.active and heard.key == "silent:rst-7" and heard.at_ns == at(95)
    assert heard.severity is Severity.WARNING
    assert heard.explanation["active_since"] == "2025-01-15T01:00:00Z"


def test_a_flagged_uplink_shows_the_device_alive() -> None:
    health = DeviceHealth()
    health.observe(road(0, road_surface_temperature=1.5))
    health.observe(road(50, flagged={"road_surface_temperature": "sensor error code -999"}))
    assert health.advance(at(100)) == []
    assert len(health.advance(at(111))) == 1


def test_silence_window_is_configurable() -> None:
    health = DeviceHealth(HealthSettings(silent_after_min=15))
    health.observe(road(0))
    assert health.advance(at(15)) == []
    assert [c.key for c in health.advance(at(16))] == ["silent:rst-7"]


def test_a_tracked_device_never_heard_is_silent_from_when_watching_began() -> None:
    health = DeviceHealth()
    health.track([TrackedDevice("rst-9", "road", "R12", None), ("aq-1", "air", None, "Oakfield")])
    assert health.advance(at(0)) == []  # watching starts on the data clock now
    assert health.advance(at(60)) == []
    silent = health.advance(at(61))
    assert sorted(c.key for c in silent) == ["silent:aq-1", "silent:rst-9"]
    aq = next(c for c in silent if c.device_id == "aq-1")
    assert aq.site == "Oakfield" and aq.domain == "air"
    assert aq.explanation["last_heard"] is None
    assert aq.explanation["watching_since"] == "2025-01-15T00:00:00Z"
    assert "never heard" in aq.summary


def test_expect_can_say_since_when_a_device_should_have_spoken() -> None:
    health = DeviceHealth()
    health.expect("wq-2", domain="water", site="Weir", since_ns=at(-120))
    [silent] = health.advance(at(0))
    assert silent.at_ns == at(-60) and silent.site == "Weir"


def test_devices_nobody_announced_and_nobody_heard_are_not_silent() -> None:
    assert DeviceHealth().advance(at(10_000)) == []


def test_a_forgotten_device_clears_its_conditions_and_is_no_longer_watched() -> None:
    health = DeviceHealth()
    health.observe(road(0, battery_voltage=2.8))
    health.advance(at(61))
    cleared = health.forget("rst-7", at(70))
    assert sorted((c.key, c.active) for c in cleared) == [
        ("battery:rst-7", False),
        ("silent:rst-7", False),
    ]
    assert health.advance(at(500)) == []


def test_a_redelivered_old_uplink_does_not_end_a_silence() -> None:
    health = DeviceHealth()
    health.observe(road(0))
    health.advance(at(61))
    assert health.observe(road(0)) == []


def test_a_backfill_of_old_uplinks_does_not_flap_the_silence() -> None:
    """After an outage, hours-old uplinks arrive late: the device is still silent now, so
    each one must not clear the alert only for the next tick to raise it again."""
    health = DeviceHealth()
    health.observe(road(0))
    [silent] = health.advance(at(300))  # five hours without a word
    assert silent.active
    for minute in range(10, 200, 10):  # the backfill: 10 min … 3 h 10 min, still > 1 h ago
        assert health.observe(road(minute)) == []
        assert health.advance(at(300)) == []
    [heard] = health.observe(road(250))  # within the hour before now: heard again
    assert not heard.active


# -- battery ---------------------------------------------------------------------------


def test_low_voltage_raises_and_clears_only_above_the_hysteresis() -> None:
    health = DeviceHealth()  # low below 3.0 V, clears at 3.1 V
    voltages = [3.05, 2.95, 3.05, 2.99, 3.09, 3.10, 3.02, 2.99]
    verdicts = []
    for minute, volts in enumerate(voltages):
        for condition in health.observe(road(minute, battery_voltage=volts)):
            verdicts.append((minute, condition.active))
    assert verdicts == [(1, True), (5, False), (7, True)]


def test_low_battery_says_what_is_low_and_where_it_clears() -> None:
    health = DeviceHealth()
    [low] = health.observe(road(0, battery_voltage=2.9, battery_level=18.0))
    assert low.key == "battery:rst-7" and low.severity is Severity.WARNING
    assert low.explanation["battery_voltage"] == 2.9
    assert low.explanation["clears_at_voltage"] == 3.1
    assert low.explanation["battery_level"] == 18.0
    assert low.explanation["clears_at_level"] == 25.0
    assert "2.9 V" in low.summary and "18 %" in low.summary


def test_battery_level_has_its_own_threshold_and_hysteresis() -> None:
    health = DeviceHealth()  # below 20 %, clears at 25 %
    levels = [21.0, 19.0, 22.0, 24.9, 25.0]
    changes = [health.observe(road(i, battery_level=level)) for i, level in enumerate(levels)]
    assert [[c.active for c in step] for step in changes] == [[], [True], [], [], [False]]


def test_uplinks_without_battery_readings_leave_the_verdict_alone() -> None:
    health = DeviceHealth()
    health.observe(road(0, battery_voltage=2.9))
    assert health.observe(road(1, road_surface_temperature=0.5)) == []


# -- radio link ------------------------------------------------------------------------


def test_one_bad_uplink_is_not_a_weak_link() -> None:
    health = DeviceHealth()
    rssis = [-100, -100, -100, -100, -130, -100]
    changes = [health.observe(road(i, rssi=r, snr=5.0)) for i, r in enumerate(rssis)]
    assert all(step == [] for step in changes)


def test_a_weak_link_is_judged_on_the_median_of_the_last_five_uplinks() -> None:
    health = DeviceHealth()
    rssis = [-110, -125, -110, -125, -110, -125]  # median of the last five: -125 at #6
    verdicts = []
    for minute, rssi in enumerate(rssis):
        for condition in health.observe(road(minute, rssi=rssi, snr=5.0)):
            verdicts.append((minute, condition.active, condition.explanation["median_rssi"]))
    assert verdicts == [(5, True, -125)]


def test_a_weak_link_clears_only_when_the_median_is_past_the_hysteresis() -> None:
    health = DeviceHealth()  # weak below -120 dBm, clears at -117 dBm
    for minute in range(5):
        health.observe(road(minute, rssi=-125.0))
    # Medians as the window fills with -118: -125, -125, -118 (held), then -116 clears.
    assert health.observe(road(5, rssi=-118.0)) == []
    assert health.observe(road(6, rssi=-118.0)) == []
    assert health.observe(road(7, rssi=-118.0)) == []  # median -118: inside the hysteresis
    assert health.observe(road(8, rssi=-116.0)) == []  # median still -118
    assert health.observe(road(9, rssi=-116.0)) == []  # median -118
    [cleared] = health.observe(road(10, rssi=-116.0))  # median -116
    assert not cleared.active and cleared.key == "link:rst-7"
    assert cleared.severity is Severity.INFO


def test_a_low_snr_alone_is_a_weak_link() -> None:
    health = DeviceHealth()
    changes = [health.observe(road(i, rssi=-90.0, snr=-17.0)) for i in range(5)]
    [[weak]] = [step for step in changes if step]
    assert weak.explanation["median_snr"] == -17.0
    assert weak.explanation["median_rssi"] == -90.0


def test_uplinks_without_radio_metadata_do_not_count_towards_the_median() -> None:
    health = DeviceHealth()
    for minute in range(4):
        health.observe(road(minute, rssi=-130.0))
    assert health.observe(road(4)) == []  # webhook without metadata
    assert [c.key for c in health.observe(road(5, rssi=-130.0))] == ["link:rst-7"]
