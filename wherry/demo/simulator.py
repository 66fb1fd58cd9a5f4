"""A winter night in the demo town, as TTN uplinks on an accelerated clock.

Every sensor reports on its own schedule (every 10 simulated minutes; the river
every 15) with a seeded phase, so uplinks arrive spread out as on a real network.
Each uplink is a pure function of (seed, device, frame number): `messages_until`
is deterministic and `run` only decides *when* to hand messages over. The uplinks'
`received_at` is the simulated time, so stores, charts and gritting rules see a
night even when it passes in a minute and a half. `physics_shift` lets the night
be told at another hour of the wall clock (the demo's night ends whenever it is run).
"""

from __future__ import annotations

import base64
import json
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from wherry.demo import physics
from wherry.demo.clock import DemoClock
from wherry.demo.fleet import (
    ClassroomSensor,
    Fleet,
    RiverProbe,
    RoadProbe,
    RouteClimate,
    Site,
    WeatherStation,
)
from wherry.demo.payloads import (
    CayenneType,
    CayenneValue,
    CtdSample,
    encode_cayenne,
    encode_dl_ctd10,
    encode_dl_ds18,
    encode_milesight_am319,
)
from wherry.demo.ttn import Session, transmission, uplink_message

Message = tuple[str, bytes]
Publish = Callable[[str, bytes], None]

POWER_ON_RESET_C = 85.0  # what a DS18B20 reports when read before its first conversion
DEFAULT_FAULT_RATE = 0.002  # about one 85.0 °C reading a night across the road probes
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS = 1_000_000_000
_MAX_WAIT_S = 0.5
_T = CayenneType.TEMPERATURE
_RH = CayenneType.RELATIVE_HUMIDITY


class SimulatorSettingError(ValueError):
    """A NightSimulator setting that cannot work (speed not positive, fault rate not 0..1)."""


def default_start() -> datetime:
    """Today 18:00 on this machine's clock: the start of a winter evening."""
    return datetime.now().astimezone().replace(hour=18, minute=0, second=0, microsecond=0)


def to_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch; a naive datetime is taken as local time."""
    aware = moment if moment.tzinfo is not None else moment.astimezone()
    return (aware - _EPOCH) // timedelta(microseconds=1) * 1_000


@dataclass(frozen=True, slots=True)
class _Schedule:
    """When one site reports, and the network session it reports in."""

    site: Site
    first_ns: int
    interval_ns: int
    first_f_cnt: int
    session: Session

    def time_of(self, k: int, seed: int) -> int:
        """Network Server reception time of frame k: nominal slot plus up to 2 s of clock drift."""
        jitter = random.Random(f"{seed}/{self.site.device.device_id}/{k}/slot").randrange(2 * _NS)
        return self.first_ns + k * self.interval_ns + jitter


class NightSimulator:
    """TTN v3 uplinks from the demo fleet through a winter night, on an accelerated clock.

    `speed` is simulated seconds per real second (600: ten simulated minutes a
    second, a night in 96 s). `start` is the simulated time `run` begins at
    (default: today 18:00 local); the physics follows the wall clock of its time
    zone. `seed` makes the messages reproducible (a random one is drawn and kept
    in `.seed` when omitted). `fault_rate` is the chance that a road probe's
    reading is a DS18B20 power-on 85.0 °C. `physics_shift`: the sensors measure at
    time t what the curves give for t − shift (the demo's dusk at any hour).
    """

    def __init__(
        self,
        fleet: Fleet,
        *,
        application_id: str = "wherry-demo",
        tenant: str = "ttn",
        speed: float = 600.0,
        start: datetime | None = None,
        seed: int | None = None,
        fault_rate: float = DEFAULT_FAULT_RATE,
        physics_shift: timedelta = timedelta(0),
    ) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise SimulatorSettingError(
                f"speed is simulated seconds per real second and must be positive, not {speed}"
            )
        if not 0.0 <= fault_rate <= 1.0:
            raise SimulatorSettingError(
                f"fault_rate is a probability between 0 and 1, not {fault_rate}"
            )
        moment = start if start is not None else default_start()
        self.fleet = fleet
        self.application_id = application_id
        self.tenant = tenant
        self.speed = speed
        self.start = moment if moment.tzinfo is not None else moment.astimezone()
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
        self.fault_rate = fault_rate
        self.physics_shift = physics_shift
        self._shift_ns = physics_shift // timedelta(microseconds=1) * 1_000
        self._zone: tzinfo = self.start.tzinfo or UTC
        self._start_ns = to_ns(self.start)
        self._schedules = tuple(self._schedule(site) for site in fleet.sites)

    def topic(self, device_id: str) -> str:
        """The MQTT topic The Things Stack publishes this device's uplinks on."""
        return f"v3/{self.application_id}@{self.tenant}/devices/{device_id}/up"

    def messages_until(self, sim_time: datetime) -> list[Message]:
        """Every uplink from `start` up to and including `sim_time`, in time order."""
        return self._between(self._start_ns - 1, to_ns(sim_time))

    def messages_between(self, after: datetime, until: datetime) -> list[Message]:
        """Uplinks received after `after` and up to and including `until`, in time order."""
        return self._between(max(to_ns(after), self._start_ns - 1), to_ns(until))

    def sim_time(self, real_elapsed_s: float) -> datetime:
        """The simulated time `real_elapsed_s` real seconds after `run` began."""
        return self.start + timedelta(seconds=real_elapsed_s * self.speed)

    def run(self, publish: Publish, stop: threading.Event, clock: DemoClock | None = None) -> None:
        """Hand each uplink to `publish(topic, body)` when its simulated time comes.

        Without `clock`, a clock `speed`× real time starts at `start` when `run` is
        called. With one, the uplinks after `clock.start_ns` follow it (those up to
        then are `messages_until` it: the demo hands them over at once). Returns once
        `stop` is set.
        """
        if clock is None:
            clock = DemoClock(self._start_ns, self.speed, cap_at_wall=False)
            cursor = self._start_ns - 1
        else:
            cursor = clock.start_ns
        clock.start()
        while not stop.is_set():
            now = clock.now_ns()
            for topic, body in self._between(cursor, now):
                publish(topic, body)
                if stop.is_set():
                    return
            cursor = max(cursor, now)
            wait_s = clock.real_seconds_until(self._next_after(cursor))
            stop.wait(min(max(wait_s, 0.0), _MAX_WAIT_S))

    def _schedule(self, site: Site) -> _Schedule:
        identity = random.Random(f"{self.seed}/{site.device.device_id}/identity")
        interval_ns = site.interval_s * _NS
        return _Schedule(
            site=site,
            first_ns=self._start_ns + identity.randrange(_NS, interval_ns - 2 * _NS),
            interval_ns=interval_ns,
            first_f_cnt=identity.randrange(1, 40_000),
            session=Session(
                dev_addr=f"260B{identity.getrandbits(16):04X}",
                session_key_id=base64.b64encode(identity.randbytes(16)).decode(),
                join_eui="70B3D57ED0000000",
            ),
        )

    def _frames(self, schedule: _Schedule, after_ns: int, until_ns: int) -> range:
        """Frame numbers whose nominal slot could fall in (after_ns, until_ns]."""
        first = max(0, (after_ns - schedule.first_ns) // schedule.interval_ns)
        last = (until_ns - schedule.first_ns) // schedule.interval_ns
        return range(first, last + 1)

    def _between(self, after_ns: int, until_ns: int) -> list[Message]:
        due: list[tuple[int, int, int]] = []
        for index, schedule in enumerate(self._schedules):
            for k in self._frames(schedule, after_ns, until_ns):
                at = schedule.time_of(k, self.seed)
                if after_ns < at <= until_ns:
                    due.append((at, index, k))
        due.sort()
        return [self._message(self._schedules[index], k, at) for at, index, k in due]

    def _next_after(self, after_ns: int) -> int:
        soonest = None
        for schedule in self._schedules:
            for k in self._frames(schedule, after_ns, after_ns + 2 * schedule.interval_ns):
                at = schedule.time_of(k, self.seed)
                if at > after_ns:
                    soonest = at if soonest is None else min(soonest, at)
                    break
        return soonest if soonest is not None else after_ns + _NS

    def _message(self, schedule: _Schedule, k: int, at_ns: int) -> Message:
        site = schedule.site
        rng = random.Random(f"{self.seed}/{site.device.device_id}/{k}")
        payload = self._payload(site, at_ns, rng)
        body = uplink_message(
            site=site,
            application_id=self.application_id,
            tenant=self.tenant,
            session=schedule.session,
            f_cnt=schedule.first_f_cnt + k,
            payload=payload,
            ns_received_ns=at_ns,
            air=transmission(site, self.fleet.gateways, at_ns, rng),
            rng=rng,
        )
        encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        return self.topic(site.device.device_id), encoded

    def _payload(self, site: Site, at_ns: int, rng: random.Random) -> bytes:
        at_ns -= self._shift_ns  # the moment of the night the curves are read at
        local = datetime.fromtimestamp(at_ns / _NS, tz=self._zone)
        behaviour = site.behaviour
        if isinstance(behaviour, RoadProbe):
            faulty = rng.random() < self.fault_rate
            climate = self.fleet.climates[site.device.route_id or ""]
            return _road_probe(behaviour, climate, local, rng, faulty=faulty)
        if isinstance(behaviour, WeatherStation):
            return _weather_station(local, rng)
        if isinstance(behaviour, ClassroomSensor):
            return _classroom(local, rng)
        if isinstance(behaviour, RiverProbe):
            return _river_probe(behaviour, at_ns, local, rng)
        raise TypeError(f"no payload for site behaviour {behaviour!r}")


def _road_probe(
    probe: RoadProbe, climate: RouteClimate, local: datetime, rng: random.Random, *, faulty: bool
) -> bytes:
    surface = physics.road_surface_temperature(
        climate,
        physics.hours_since_dusk(local),
        dusk_offset_c=probe.dusk_offset_c,
        asymptote_offset_c=probe.asymptote_offset_c,
    )
    reading = POWER_ON_RESET_C if faulty else surface + rng.gauss(0.0, 0.08)
    return encode_dl_ds18(probe.device_num, reading, probe.battery_v + rng.gauss(0.0, 0.003))


def _weather_station(local: datetime, rng: random.Random) -> bytes:
    hours = physics.hours_since_dusk(local)
    humidity = min(100.0, physics.relative_humidity(hours) + rng.gauss(0.0, 0.6))
    return encode_cayenne(
        [
            CayenneValue(1, _T, physics.air_temperature(hours) + rng.gauss(0.0, 0.1)),
            CayenneValue(2, _RH, humidity),
        ]
    )


def _classroom(local: datetime, rng: random.Random) -> bytes:
    air = physics.classroom_air(local)
    return encode_milesight_am319(
        temperature_c=air.temperature_c + rng.gauss(0.0, 0.1),
        humidity_pct=air.relative_humidity_pct + rng.gauss(0.0, 0.5),
        co2_ppm=max(400.0, air.co2_ppm + rng.gauss(0.0, 15.0)),
        pm2_5_ug_m3=max(0.0, air.pm2_5_ug_m3 + rng.gauss(0.0, 0.6)),
        pm10_ug_m3=max(0.0, air.pm10_ug_m3 + rng.gauss(0.0, 0.9)),
    )


def _river_probe(probe: RiverProbe, at_ns: int, local: datetime, rng: random.Random) -> bytes:
    water = physics.river_water(at_ns / _NS, physics.local_hour(local), probe.mean_depth_mm)
    sample = CtdSample(
        water_depth_mm=water.depth_mm + rng.gauss(0.0, 2.0),
        temperature_c=water.temperature_c + rng.gauss(0.0, 0.05),
        conductivity_us_cm=water.conductivity_us_cm + rng.gauss(0.0, 3.0),
    )
    return encode_dl_ctd10(probe.device_num, sample, probe.battery_v + rng.gauss(0.0, 0.003))
