"""Where an uplink becomes points: the schema of docs/data-model.md, in code.

Three measurements, all timed by the network server's `received_at`:
`uplink` (link metadata, one point per uplink), `reading` (valid canonical
quantities as float fields) and `flagged` (readings plausibility rejected, one
point per quantity, with the reason).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from decoders import Reading
from gateway_bridge.uplink import Uplink
from storage.points import FieldValue, Point
from storage.registry import DeviceRecord

UPLINK = "uplink"
READING = "reading"
FLAGGED = "flagged"


def uplink_point(uplink: Uplink, device_id: str) -> Point:
    """Link metadata: what engineers read to find a badly connected device.

    `device_id` is the registry's: an uplink found by its DevEUI under another name is
    filed under the device it belongs to, not under whatever id it claimed.
    """
    best = uplink.best_reception
    tags = {"device_id": device_id, "application_id": uplink.application_id}
    if best is not None and best.gateway_id:
        tags["gateway"] = best.gateway_id
    fields: dict[str, FieldValue] = {
        "bytes": len(uplink.payload),
        "gateways": len(uplink.receptions),
    }
    if uplink.f_cnt is not None:
        fields["f_cnt"] = uplink.f_cnt
    if uplink.f_port is not None:
        fields["f_port"] = uplink.f_port
    if best is not None and best.rssi is not None:
        fields["rssi"] = float(best.rssi)
    if best is not None and best.snr is not None:
        fields["snr"] = float(best.snr)
    if uplink.spreading_factor is not None:
        fields["spreading_factor"] = uplink.spreading_factor
    if uplink.airtime_ms is not None:
        fields["airtime_ms"] = float(uplink.airtime_ms)
    return Point(UPLINK, tags, fields, uplink.received_at_ns)


def reading_tags(uplink: Uplink, device: DeviceRecord) -> dict[str, str]:
    """Low-cardinality tags from the registry: who, which domain, which route and site."""
    tags = {
        "device_id": device.device_id,
        "application_id": uplink.application_id,
        "domain": device.domain,
    }
    if device.route_id:
        tags["route"] = device.route_id
    if device.site:
        tags["site"] = device.site
    return tags


def reading_points(
    uplink: Uplink, device: DeviceRecord, readings: Iterable[Reading]
) -> list[Point]:
    """Valid readings share one `reading` point; each flagged one gets its own `flagged` point."""
    tags = reading_tags(uplink, device)
    valid: dict[str, FieldValue] = {}
    points: list[Point] = []
    for reading in readings:
        if reading.valid:
            valid[reading.quantity] = float(reading.value)
            continue
        fields: dict[str, FieldValue] = {"reason": reading.invalid_reason or "invalid"}
        if math.isfinite(reading.value):
            fields["value"] = float(reading.value)
        else:
            fields["raw"] = repr(reading.value)
        points.append(
            Point(FLAGGED, {**tags, "quantity": reading.quantity}, fields, uplink.received_at_ns)
        )
    if valid:
        points.insert(0, Point(READING, tags, valid, uplink.received_at_ns))
    return points
