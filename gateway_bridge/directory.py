"""The bridge's view of the registry: registered devices by id and by DevEUI, kept fresh."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from gateway_bridge.uplink import Uplink
from storage.registry import DeviceRecord


class DeviceDirectory:
    """Looks devices up in memory; on a miss, reloads at most every `miss_refresh` seconds.

    Every uplink needs a lookup, so the registry is not asked per message. A
    device registered while the bridge runs is found within `miss_refresh`
    seconds; edits to a known device within `refresh` seconds.
    """

    def __init__(
        self,
        load: Callable[[], Sequence[DeviceRecord]],
        *,
        refresh: float = 60.0,
        miss_refresh: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._refresh = refresh
        self._miss_refresh = miss_refresh
        self._clock = clock
        self._lock = threading.Lock()
        self._by_id: dict[str, DeviceRecord] = {}
        self._by_eui: dict[str, DeviceRecord] = {}
        self._loaded_at = -float("inf")
        self.reload()

    def reload(self) -> None:
        devices = [d for d in self._load() if d.status != "retired"]
        by_id = {d.device_id: d for d in devices}
        by_eui = {d.dev_eui.lower(): d for d in devices if d.dev_eui}
        with self._lock:
            self._by_id, self._by_eui = by_id, by_eui
            self._loaded_at = self._clock()

    def expire(self) -> None:
        """Reload at the next lookup: the registry says devices changed."""
        with self._lock:
            self._loaded_at = -float("inf")

    def find(self, uplink: Uplink) -> DeviceRecord | None:
        """The registered device that sent `uplink`: by device id, then by DevEUI."""
        if self._clock() - self._loaded_at > self._refresh:
            self.reload()
        device = self._lookup(uplink)
        if device is None and self._clock() - self._loaded_at > self._miss_refresh:
            self.reload()
            device = self._lookup(uplink)
        return device

    def _lookup(self, uplink: Uplink) -> DeviceRecord | None:
        with self._lock:
            if uplink.network == "chirpstack" and uplink.dev_eui:
                found = self._by_eui.get(uplink.dev_eui.lower())
                if found is not None:
                    return found
            found = self._by_id.get(uplink.device_id)
            if found is None and uplink.dev_eui:
                found = self._by_eui.get(uplink.dev_eui.lower())
            return found
