"""Short-lived caches for the readings routes that answer about every device at once.

"Latest for every public device" is what a class of pupils, a school's display screen
and a hackathon all ask at the same time, and its answer changes only when an uplink
arrives (every ten minutes or so per device), while asking InfluxDB for the newest point
of a thousand series takes it a quarter of a second or more. So the finished answer is
kept: fresh for `ttl` (2 s), then served while one background refresh runs, so no
caller waits for the store once an answer exists (docs/performance.md, "Readings API").

Only lists are cached. Routes about one device read the store fresh, and the open-data
routes about one device read the registry fresh too, so a device made private
disappears from its own routes at once and from the lists within about fifteen seconds
(the registry's device list is re-read every 5 × `ttl`, and lists rendered before that
live `ttl` more).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from fastapi import Request

from api.csv_responses import Rendered
from api.deps import ServicesDep
from storage.registry import DeviceRecord, Registry

DEFAULT_TTL = 2.0
MAX_STALE = 60.0
MAX_ENTRIES = 256

log = logging.getLogger(__name__)

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class DeviceSnapshot:
    """The registry's devices at one moment: all of them, and the public ones."""

    devices: Mapping[str, DeviceRecord]
    public: Mapping[str, DeviceRecord]


class TimedCache(Generic[V]):
    """Values by key, fresh for `ttl` seconds, then refreshed behind the callers' backs.

    The first call for a key computes its value (concurrent callers wait for that one
    computation). Afterwards a caller finding the value older than `ttl` gets it anyway
    and starts one refresh on a background thread, so nobody waits for the store while
    a value exists; a value older than `max_stale` is never served: the caller computes
    afresh, and a store error then reaches it. `ttl` 0 computes on every call. At most
    `max_entries` keys are kept, the least recently computed going first.
    """

    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        *,
        max_stale: float = MAX_STALE,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._max_stale = max(max_stale, ttl)
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self._refreshing: set[Hashable] = set()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        if self.ttl <= 0:
            return compute()
        entry = self._entries.get(key)
        if entry is not None:
            age = self._clock() - entry[0]
            if age < self.ttl:
                return entry[1]
            if age < self._max_stale:
                self._refresh_later(key, compute)
                return entry[1]
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            entry = self._entries.get(key)  # another caller may have computed it meanwhile
            if entry is not None and self._clock() - entry[0] < self.ttl:
                return entry[1]
            value = compute()
            self._put(key, value)
            return value

    def _refresh_later(self, key: Hashable, compute: Callable[[], V]) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def refresh() -> None:
            try:
                self._put(key, compute())
            except Exception:  # the stale value stays; the next caller tries again
                log.warning("refreshing a cached readings list failed", exc_info=True)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        threading.Thread(target=refresh, name="readings-cache-refresh", daemon=True).start()

    def _put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._entries[key] = (self._clock(), value)
            while len(self._entries) > self._max_entries:
                oldest = min(self._entries, key=lambda known: self._entries[known][0])
                del self._entries[oldest]
                self._key_locks.pop(oldest, None)


@dataclass
class ReadingsCache:
    """What the readings and open-data list routes share between requests: the devices,
    and finished list bodies keyed by route and parameters."""

    registry: Registry
    ttl: float = DEFAULT_TTL
    clock: Callable[[], float] = time.monotonic
    devices_ttl: float | None = None  # default 5 × ttl: reading 1,000 devices costs ~50 ms
    bodies: TimedCache[Rendered] = field(init=False)
    _devices: TimedCache[DeviceSnapshot] = field(init=False)

    def __post_init__(self) -> None:
        self.bodies = TimedCache(self.ttl, clock=self.clock)
        devices_ttl = 5 * self.ttl if self.devices_ttl is None else self.devices_ttl
        self._devices = TimedCache(devices_ttl, clock=self.clock)

    def devices(self) -> DeviceSnapshot:
        """Every registered device and the public ones, re-read every `devices_ttl` s."""
        return self._devices.get("devices", self._read_devices)

    def _read_devices(self) -> DeviceSnapshot:
        devices = {device.device_id: device for device in self.registry.devices()}
        return DeviceSnapshot(
            devices,
            {key: device for key, device in devices.items() if device.public},
        )


_CREATING = threading.Lock()


async def readings_cache(request: Request, services: ServicesDep) -> ReadingsCache:
    """The app's cache, made on first use (tests and the benchmark may set their own).

    `async` only so FastAPI runs it without a thread hop: it does no I/O."""
    state = request.app.state
    with _CREATING:
        cache: ReadingsCache | None = getattr(state, "readings_cache", None)
        if cache is None or cache.registry is not services.registry:
            cache = ReadingsCache(services.registry)
            state.readings_cache = cache
        return cache
