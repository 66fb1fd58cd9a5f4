"""NightSimulator: TTN v3 uplinks on the simulated clock, reproducible from the seed."""

from __future__ import annotations

import base64
import itertools
import json
import re
import struct
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from wherry.demo.clock import DemoClock
from wherry.demo.fleet import Fleet, RoadProbe, load_fleet
from wherry.demo.simulator import NightSimulator, SimulatorSettingError, default_start, to_ns

START = datetime(2026, 1, 14, 18, 0, tzinfo=UTC)  # a Wednesday evening
ISO_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
TOPIC = re.compile(r"^v3/wherry-demo@ttn/devices/([a-z0-9-]+)/up$")


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return load_fleet()


@pytest.fixture(scope="module")
def night(fleet: Fleet) -> list[tuple[str, bytes]]:
    """18:00 to 08:00, no faults."""
    return NightSimulator(fleet, start=START, seed=42, fault_rate=0.0).messages_until(
        START + timedelta(hours=14)
    )


def parsed(night: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    return [json.loads(body) for _, body in night]


def at(message: dict[str, Any]) -> datetime:
    stamp = message["uplink_message"]["received_at"]
    return datetime.fromisoformat(stamp[:26] + "+00:00")


def road_temperatures(night: list[tuple[str, bytes]]) -> dict[str, list[tuple[datetime, float]]]:
    series: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for message in parsed(night):
        device_id = message["end_device_ids"]["device_id"]
        if device_id.startswith("rst-"):
            frame = base64.b64decode(message["uplink_message"]["frm_payload"])
            (raw,) = struct.unpack(">H", frame[5:7])
            series[device_id].append((at(message), (raw - 32768) / 16))
    return series


def test_every_device_reports_every_ten_minutes(
    fleet: Fleet, night: list[tuple[str, bytes]]
) -> None:
    counts: dict[str, int] = defaultdict(int)
    for topic, _ in night:
        match = TOPIC.match(topic)
        assert match, topic
        counts[match.group(1)] += 1
    for site in fleet.sites:
        assert counts[site.device.device_id] == 14 * 3600 // site.interval_s


def test_topic_names_the_device_in_the_body(night: list[tuple[str, bytes]]) -> None:
    for topic, body in night:
        message = json.loads(body)
        assert topic == f"v3/wherry-demo@ttn/devices/{message['end_device_ids']['device_id']}/up"
        assert message["end_device_ids"]["application_ids"]["application_id"] == "wherry-demo"


def test_messages_have_the_things_stack_uplink_shape(
    fleet: Fleet, night: list[tuple[str, bytes]]
) -> None:
    for message in parsed(night):
        ids = message["end_device_ids"]
        assert re.fullmatch(r"[0-9A-F]{16}", ids["dev_eui"])
        assert re.fullmatch(r"260B[0-9A-F]{4}", ids["dev_addr"])
        assert ISO_NS.match(message["received_at"])
        uplink = message["uplink_message"]
        assert uplink["f_port"] == fleet.site(ids["device_id"]).f_port
        assert uplink["f_cnt"] >= 1
        assert base64.b64decode(uplink["frm_payload"], validate=True)
        assert ISO_NS.match(uplink["received_at"])
        assert message["received_at"] > uplink["received_at"]  # AS after NS
        assert re.fullmatch(r"0\.\d{6}s|\d\.\d{6}s", uplink["consumed_airtime"])
        settings = uplink["settings"]
        lora = settings["data_rate"]["lora"]
        assert lora["bandwidth"] == 125000 and 7 <= lora["spreading_factor"] <= 12
        assert isinstance(settings["frequency"], str) and settings["frequency"].startswith("86")
        assert 1 <= len(uplink["rx_metadata"]) <= 3
        for rx in uplink["rx_metadata"]:
            assert rx["gateway_ids"]["gateway_id"] and re.fullmatch(
                r"[0-9A-F]{16}", rx["gateway_ids"]["eui"]
            )
            assert -125 <= rx["rssi"] <= -60 and rx["channel_rssi"] == rx["rssi"]
            assert -20 <= rx.get("snr", 0.0) <= 12.5
            assert ISO_NS.match(rx["time"]) and rx["time"] < uplink["received_at"]


def test_received_at_is_simulated_time_in_order(night: list[tuple[str, bytes]]) -> None:
    times = [at(message) for message in parsed(night)]
    assert times == sorted(times)
    assert times[0] > START and times[-1] <= START + timedelta(hours=14)
    nanos = {message["uplink_message"]["received_at"][20:29] for message in parsed(night)}
    assert len(nanos) > len(night) * 0.9  # real nanosecond digits, not padded milliseconds


def test_frame_counters_count_up_by_one_per_device(night: list[tuple[str, bytes]]) -> None:
    counters: dict[str, list[int]] = defaultdict(list)
    for message in parsed(night):
        counters[message["end_device_ids"]["device_id"]].append(message["uplink_message"]["f_cnt"])
    for device_id, f_cnts in counters.items():
        assert np.all(np.diff(f_cnts) == 1), device_id


def test_road_surfaces_cool_through_the_night(night: list[tuple[str, bytes]]) -> None:
    for device_id, series in road_temperatures(night).items():
        hours = np.array([(t - START).total_seconds() / 3600 for t, _ in series])
        temperatures = np.array([value for _, value in series])
        slope = np.polyfit(hours, temperatures, 1)[0]
        assert slope < -0.2, device_id
        assert 5.0 < temperatures[:3].mean() < 7.0, device_id
        assert temperatures[-3:].mean() < temperatures[:3].mean() - 3.0, device_id


def test_routes_end_the_night_ordered_hill_bridge_centre(
    fleet: Fleet, night: list[tuple[str, bytes]]
) -> None:
    route_of = {site.device.device_id: site.device.route_id for site in fleet.sites}
    small_hours: dict[str, list[float]] = defaultdict(list)
    for device_id, series in road_temperatures(night).items():
        small_hours[route_of[device_id] or ""] += [
            value for t, value in series if t >= START + timedelta(hours=11)
        ]
    hill, bridge, centre = (
        np.mean(small_hours[r]) for r in ("matlock-bank", "derwent-bridge", "town-centre")
    )
    assert hill < 0.0 < bridge < 1.2 < centre < 3.0


def test_the_same_seed_gives_the_same_night(fleet: Fleet, night: list[tuple[str, bytes]]) -> None:
    again = NightSimulator(fleet, start=START, seed=42, fault_rate=0.0)
    assert again.messages_until(START + timedelta(hours=14)) == night
    other = NightSimulator(fleet, start=START, seed=43, fault_rate=0.0)
    assert other.messages_until(START + timedelta(hours=14)) != night


def test_windows_add_up_to_the_whole_night(fleet: Fleet, night: list[tuple[str, bytes]]) -> None:
    simulator = NightSimulator(fleet, start=START, seed=42, fault_rate=0.0)
    cuts = [START + timedelta(minutes=m) for m in (0, 7, 95, 96, 400, 14 * 60)]
    pieces = [simulator.messages_between(a, b) for a, b in itertools.pairwise(cuts)]
    assert [message for piece in pieces for message in piece] == night
    assert sum(1 for piece in pieces if piece) >= 4, "the cuts must really split the night"


def test_messages_until_is_a_prefix_of_any_later_call(
    fleet: Fleet, night: list[tuple[str, bytes]]
) -> None:
    simulator = NightSimulator(fleet, start=START, seed=42, fault_rate=0.0)
    early = simulator.messages_until(START + timedelta(hours=3, minutes=17))
    assert early and early == night[: len(early)]


def test_power_on_resets_appear_only_when_asked_for(fleet: Fleet) -> None:
    week = START + timedelta(days=7)
    always = NightSimulator(fleet, start=START, seed=1, fault_rate=1.0)
    readings = road_temperatures(always.messages_until(START + timedelta(hours=1)))
    assert readings and all(value == 85.0 for series in readings.values() for _, value in series)
    occasional = road_temperatures(NightSimulator(fleet, start=START, seed=1).messages_until(week))
    faults = sum(value == 85.0 for series in occasional.values() for _, value in series)
    total = sum(len(series) for series in occasional.values())
    assert 1 <= faults <= total * 0.01


def test_every_road_probe_sends_a_decentlab_frame_with_its_device_number(fleet: Fleet) -> None:
    messages = NightSimulator(fleet, start=START, seed=5).messages_until(
        START + timedelta(minutes=10)
    )
    numbers = {
        site.device.device_id: site.behaviour.device_num
        for site in fleet.sites
        if isinstance(site.behaviour, RoadProbe)
    }
    seen = 0
    for message in parsed(messages):
        device_id = message["end_device_ids"]["device_id"]
        if device_id in numbers:
            frame = base64.b64decode(message["uplink_message"]["frm_payload"])
            assert struct.unpack(">BHH", frame[:5]) == (2, numbers[device_id], 0x0003)
            seen += 1
    assert seen == len(numbers)


def test_default_start_is_today_at_six_in_the_evening() -> None:
    start = default_start()
    assert (start.hour, start.minute, start.second) == (18, 0, 0)
    assert start.date() == datetime.now().astimezone().date()
    assert start.tzinfo is not None


def test_a_seed_is_drawn_and_kept_when_none_is_given(fleet: Fleet) -> None:
    simulator = NightSimulator(fleet, start=START)
    replay = NightSimulator(fleet, start=START, seed=simulator.seed)
    until = START + timedelta(hours=1)
    assert simulator.messages_until(until) == replay.messages_until(until)


@pytest.mark.parametrize("speed", [0.0, -1.0, float("nan"), float("inf")])
def test_speed_must_be_positive(fleet: Fleet, speed: float) -> None:
    with pytest.raises(SimulatorSettingError, match="speed"):
        NightSimulator(fleet, speed=speed)


def test_fault_rate_is_a_probability(fleet: Fleet) -> None:
    with pytest.raises(SimulatorSettingError, match="fault_rate"):
        NightSimulator(fleet, fault_rate=1.5)


def test_run_publishes_each_uplink_once_its_simulated_time_has_come(fleet: Fleet) -> None:
    speed = 7200.0  # two simulated hours a real second
    simulator = NightSimulator(fleet, start=START, seed=9, speed=speed)
    published: list[tuple[float, str, bytes]] = []
    stop = threading.Event()
    began = time.monotonic()

    def publish(topic: str, body: bytes) -> None:
        published.append((time.monotonic() - began, topic, body))

    runner = threading.Thread(target=simulator.run, args=(publish, stop))
    runner.start()
    time.sleep(0.6)
    stop.set()
    runner.join(timeout=2.0)
    assert not runner.is_alive(), "run() must return promptly once stop is set"
    elapsed = time.monotonic() - began
    expected = simulator.messages_until(simulator.sim_time(elapsed))
    assert [(topic, body) for _, topic, body in published] == expected[: len(published)]
    assert len(published) >= len(simulator.messages_until(simulator.sim_time(0.4)))
    for real_s, _, body in published:
        sim_at = at(json.loads(body))
        assert sim_at <= simulator.sim_time(real_s + 0.05), "published before its simulated time"


def test_a_shifted_night_reads_the_same_curves_hours_later(fleet: Fleet) -> None:
    """The demo tells its night at any hour: shifted by six hours, the same seed sends the
    same payloads, each stamped six hours later."""
    shift = timedelta(hours=6)
    plain = NightSimulator(fleet, start=START, seed=3).messages_until(START + timedelta(hours=3))
    later = NightSimulator(fleet, start=START + shift, seed=3, physics_shift=shift)
    shifted = later.messages_until(START + shift + timedelta(hours=3))
    assert len(plain) == len(shifted) > 100
    for (_, a), (_, b) in zip(plain, shifted, strict=True):
        first, second = json.loads(a), json.loads(b)
        assert first["uplink_message"]["frm_payload"] == second["uplink_message"]["frm_payload"]
        assert at(second) - at(first) == shift


def test_run_follows_a_clock_it_is_given_from_that_clocks_start(fleet: Fleet) -> None:
    simulator = NightSimulator(fleet, start=START, seed=9)
    clock = DemoClock(to_ns(START + timedelta(hours=1)), 36_000.0, cap_at_wall=False)
    published: list[bytes] = []
    stop = threading.Event()
    runner = threading.Thread(
        target=simulator.run, args=(lambda _t, body: published.append(body), stop, clock)
    )
    runner.start()
    time.sleep(0.5)
    stop.set()
    runner.join(timeout=2.0)
    assert not runner.is_alive()
    times = [at(json.loads(body)) for body in published]
    assert times and min(times) > START + timedelta(hours=1), "before the clock's start: not run's"
    assert max(times) <= datetime.fromtimestamp(clock.now_ns() / 1e9, UTC)
