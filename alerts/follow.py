"""The alert engine's view of the readings store: the history it warms up on, and, when
several processes ingest, every new reading whichever process wrote it.

Behind an MQTT shared subscription or several webhook replicas, each process sees
only some of each sensor's uplinks; the store sees them all. Observations are
rebuilt from the three measurements an uplink leaves (`reading`: valid values,
`flagged`: rejected ones, `uplink`: RSSI and SNR), so a rule sees what it would
have seen inline. Points carry the network server's time, not the time they were
written, so each look goes back `lookback` before the newest point seen: an uplink
written late (a batch, a redelivery, a short store outage) is still found, and one
already handed over is recognised by its device and time and not handed over twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from alerts.model import Observation
from storage import ReadingStore
from storage.points import Point

log = logging.getLogger(__name__)

READING, FLAGGED, UPLINK = "reading", "flagged", "uplink"
MEASUREMENTS = (READING, FLAGGED, UPLINK)
NS_PER_S = 1_000_000_000

Key = tuple[str, int]


@dataclass
class _Uplink:
    """What the store holds of one uplink, gathered from its points."""

    device_id: str
    time_ns: int
    tags: dict[str, str] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    flagged: dict[str, str] = field(default_factory=dict)
    rssi: float | None = None
    snr: float | None = None

    def observation(self) -> Observation:
        return Observation(
            device_id=self.device_id,
            time_ns=self.time_ns,
            domain=self.tags.get("domain", "other"),
            route_id=self.tags.get("route"),
            site=self.tags.get("site"),
            values=self.values,
            flagged=self.flagged,
            rssi=self.rssi,
            snr=self.snr,
        )


def observations(points: Iterable[Point]) -> list[Observation]:
    """One observation per device and time, oldest first, from any mix of the three kinds."""
    return [u.observation() for u in sorted(_gather(points).values(), key=_order)]


class StoreFollower:
    """Reads the store for the engine: `history` once, then `poll` for what is new."""

    def __init__(
        self, store: ReadingStore, *, lookback_s: float = 600.0, limit: int = 500_000
    ) -> None:
        self.store = store
        self.lookback_ns = int(lookback_s * NS_PER_S)
        self.limit = limit
        self.cursor_ns = 0
        self._seen: dict[Key, int] = {}

    def history(self, now_ns: int, hours: float) -> list[Observation]:
        """The last `hours` of uplinks, oldest first; later polls start after them."""
        self.cursor_ns = now_ns
        found = self._read(now_ns - int(hours * 3600 * NS_PER_S))
        self._remember(found)
        return [u.observation() for u in found]

    def poll(self, now_ns: int) -> list[Observation]:
        """Uplinks stored since the last look (not handed over before), oldest first."""
        start_ns = min(self.cursor_ns, now_ns) - self.lookback_ns
        found = [u for u in self._read(start_ns) if (u.device_id, u.time_ns) not in self._seen]
        self._remember(found)
        for key in [key for key, at in self._seen.items() if at < start_ns]:
            del self._seen[key]
        return [u.observation() for u in found]

    def _read(self, start_ns: int) -> list[_Uplink]:
        points: list[Point] = []
        complete_until: int | None = None
        for measurement in MEASUREMENTS:
            batch = self.store.query(measurement, start_ns=start_ns, limit=self.limit)
            if len(batch) >= self.limit:  # cut at the newest end: the rest comes next time
                last = batch[-1].time_ns
                complete_until = last if complete_until is None else min(complete_until, last)
            points.extend(batch)
        uplinks = sorted(_gather(points).values(), key=_order)
        if complete_until is not None:
            uplinks = [u for u in uplinks if u.time_ns < complete_until]
        return uplinks

    def _remember(self, uplinks: list[_Uplink]) -> None:
        for uplink in uplinks:
            self._seen[(uplink.device_id, uplink.time_ns)] = uplink.time_ns
            self.cursor_ns = max(self.cursor_ns, uplink.time_ns)


class FollowerThread:
    """Polls the store every `interval_s` and hands what is new to `submit`, in time order."""

    def __init__(
        self,
        follower: StoreFollower,
        submit: Callable[[Observation], None],
        *,
        interval_s: float = 2.0,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.follower = follower
        self._submit = submit
        self._interval_s = interval_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-follow", daemon=True)
        self.handed_over = 0
        self._failing = False

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                found = self.follower.poll(self._clock())
            except Exception as exc:  # the store is away: look again next time
                if not self._failing:
                    log.warning("alert engine cannot read new readings from the store: %s", exc)
                self._failing = True
                continue
            if self._failing:
                log.info("alert engine reads new readings from the store again")
                self._failing = False
            for observation in found:
                if self._stop.is_set():
                    return
                self._submit(observation)
                self.handed_over += 1


def _gather(points: Iterable[Point]) -> Mapping[Key, _Uplink]:
    uplinks: dict[Key, _Uplink] = {}
    for point in points:
        device_id = point.tags.get("device_id")
        if not device_id:
            continue
        key = (device_id, point.time_ns)
        uplink = uplinks.get(key)
        if uplink is None:
            uplink = uplinks[key] = _Uplink(device_id, point.time_ns)
        if point.measurement == READING:
            uplink.tags.update(point.tags)
            uplink.values.update(
                (k, float(v))
                for k, v in point.fields.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            )
        elif point.measurement == FLAGGED:
            quantity = point.tags.get("quantity")
            uplink.tags.update((k, v) for k, v in point.tags.items() if k != "quantity")
            if quantity:
                uplink.flagged[quantity] = str(point.fields.get("reason", "invalid"))
        elif point.measurement == UPLINK:
            uplink.rssi = _number(point.fields.get("rssi"))
            uplink.snr = _number(point.fields.get("snr"))
    return uplinks


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _order(uplink: _Uplink) -> tuple[int, str]:
    return uplink.time_ns, uplink.device_id
