"""Which registered devices are a route's road sensors: the ones that measure its surface.

Shared by the live engine and the replay, so both judge a route by the same sensors.
A weather station on a route is not one of them (it would be reported silent for
never sending a surface temperature), though the engine uses its dew point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from decoders import UnknownDecoder, get_decoder

RST = "road_surface_temperature"


class RegisteredDevice(Protocol):
    @property
    def device_id(self) -> str: ...
    @property
    def decoder(self) -> str: ...
    @property
    def route_id(self) -> str | None: ...
    @property
    def field_map(self) -> Mapping[str, str]: ...


def measures_road_surface(device: RegisteredDevice) -> bool:
    """Whether the device's decoder and field map yield `road_surface_temperature`."""
    if RST in device.field_map.values():
        return True
    try:
        decoder = get_decoder(device.decoder)
    except UnknownDecoder:
        return False
    return any(
        quantity == RST and device.field_map.get(vendor_field, RST) == RST
        for vendor_field, quantity in decoder.default_field_map.items()
    )


def route_sensors(devices: Iterable[RegisteredDevice]) -> dict[str, frozenset[str]]:
    """Route id → the devices on it that measure road-surface temperature."""
    sensors: dict[str, set[str]] = {}
    for device in devices:
        if device.route_id and measures_road_surface(device):
            sensors.setdefault(device.route_id, set()).add(device.device_id)
    return {route_id: frozenset(ids) for route_id, ids in sensors.items()}
