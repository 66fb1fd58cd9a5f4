"""The benchmark's fleet and its uplinks: realistic TTN v3 messages built from bytes templates.

Three devices in five are Decentlab DL-DS18 road probes spread over 20 gritting routes, three
in ten Cayenne LPP school air sensors (temperature, humidity, pressure, CO2, light), one in
ten Decentlab DL-CTD10 river probes. Uplink `k` of a run goes to device `k % devices` with
f_cnt `first_round + k // devices`, timed by the network server at
`base_ns + f_cnt * ROUND_NS + device * DEVICE_STEP_NS`: every (device, f_cnt, received_at)
is unique, so "stored exactly once" is a count.

Each message is about 1.2 KB, as The Things Stack sends it: three gateways in
`rx_metadata`, settings, network ids, correlation ids. Each device's message is
one template with four slots (time, f_cnt, payload, …), so a publisher builds 50,000+ a
second in Python.
"""

from __future__ import annotations

import base64
import copy
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from tests.uplinks import encode, ttn_topic, ttn_uplink
from wherry.demo.payloads import (
    CayenneType,
    CayenneValue,
    CtdSample,
    encode_cayenne,
    encode_dl_ctd10,
    encode_dl_ds18,
)

Kind = Literal["road", "air", "water"]
ROUTES = 20
ROUND_NS = 600 * 1_000_000_000  # each device reports every 10 minutes of data time, as road
# probes do: a 200,000-uplink burst is 33 hours of a fleet's history, a backfill after an outage
DEVICE_STEP_NS = 50_000_000  # devices of one round 50 ms apart: 1,000 fit in a round
CAYENNE_CONCENTRATION = 0x7D
VARIANTS = 144  # payloads per device, chosen by f_cnt: a day of 10-minute readings
DECODERS: dict[Kind, str] = {
    "road": "decentlab-dl-ds18",
    "air": "cayenne-lpp",
    "water": "decentlab-dl-ctd10",
}
FIELD_MAPS: dict[Kind, str] = {"road": "", "air": "concentration_4=co2", "water": ""}
# placeholders in a template; `%` elsewhere in the JSON is escaped
_TIME, _F_CNT, _PAYLOAD = "@@time@@", 987_654_321, "@@payload@@"


@dataclass(frozen=True)
class Device:
    index: int
    device_id: str
    dev_eui: str
    kind: Kind
    route_id: str | None

    @property
    def decoder(self) -> str:
        return DECODERS[self.kind]


def kind_of(index: int) -> Kind:
    slot = index % 10
    return "road" if slot < 6 else "air" if slot < 9 else "water"


def devices(count: int) -> list[Device]:
    fleet = []
    for index in range(count):
        kind = kind_of(index)
        prefix = {"road": "rst", "air": "aq", "water": "wq"}[kind]
        route = f"route-{index % ROUTES + 1:02d}" if kind == "road" else None
        fleet.append(Device(index, f"{prefix}-{index:04d}", f"70b3d57ed10{index:05x}", kind, route))
    return fleet


def registry_csvs(fleet: list[Device], directory: Path) -> tuple[Path, Path]:
    """The CSVs `wherry routes import` and `wherry devices import` take."""
    routes = directory / "routes.csv"
    routes.write_text(
        "route_id,name,length_km,priority,area\n"
        + "".join(
            f"route-{n:02d},Route {n},{5 + n % 7}.5,{1 + n % 3},area-{n % 4}\n"
            for n in range(1, ROUTES + 1)
        )
    )
    lines = [
        "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,field_map"
    ]
    for device in fleet:
        lines.append(
            f"{device.device_id},{device.dev_eui},{device.kind} {device.index},{device.decoder},"
            f"{device.kind},{device.route_id or ''},{52.5 + device.index / 5000:.4f},"
            f"{-1.5 + device.index / 5000:.4f},{str(device.kind == 'air').lower()},council,"
            f"{FIELD_MAPS[device.kind]}"
        )
    devices_csv = directory / "devices.csv"
    devices_csv.write_text("\n".join(lines) + "\n")
    return devices_csv, routes


def payload(device: Device, variant: int) -> bytes:
    """Plausible values following a day (`variant` is the 10-minute slot): road probes dip
    below zero for a few hours each night, so each route calls TREAT once a night."""
    hours = (variant % VARIANTS) * 24 / VARIANTS
    day = math.sin(2 * math.pi * (hours - 9) / 24)  # warmest at 15:00, coldest at 03:00
    if device.kind == "road":
        return encode_dl_ds18(device.index, 3.0 + 4.0 * day + (device.index % 7) * 0.1, 3.05)
    if device.kind == "water":
        sample = CtdSample(
            820 + round(20 * day) + device.index % 50, 8.0 + day, 410 + device.index % 9
        )
        return encode_dl_ctd10(device.index, sample, 3.12)
    frame = encode_cayenne(
        [
            CayenneValue(1, CayenneType.TEMPERATURE, round(19.5 + 2 * day, 1)),
            CayenneValue(2, CayenneType.RELATIVE_HUMIDITY, round(45.0 - 5 * day) / 1.0),
            CayenneValue(3, CayenneType.BAROMETRIC_PRESSURE, 1013.2),
        ]
    )
    # channel 4: CO2 as the extended LPP "concentration" type (ppm), which the demo's
    # encoder does not carry; channel 5: light
    return (
        frame
        + struct.pack(">BBH", 4, CAYENNE_CONCENTRATION, 600 + round(150 * day))
        + encode_cayenne([CayenneValue(5, CayenneType.LUMINOSITY, max(0, round(400 * day)))])
    )


def _gateway(number: int, rssi: float, snr: float, *, full: bool) -> dict[str, Any]:
    """A gateway's reception: the nearest with everything TTN adds, others as Packet Broker
    forwards them (ids, signal, time)."""
    ids = {"gateway_id": f"council-gw-{number:03d}", "eui": f"B827EBFFFE6C{number:04X}"}
    if not full:
        return {
            "gateway_ids": ids,
            "rssi": rssi,
            "channel_rssi": rssi,
            "snr": snr,
            "received_at": _TIME,
        }
    return {
        "gateway_ids": ids,
        "time": _TIME,
        "timestamp": 2040934975 + number,
        "rssi": rssi,
        "channel_rssi": rssi,
        "snr": snr,
        "uplink_token": "ChsKGQoOY291bmNpbC1ndy0wMTcSCLgn6//+bAoXEP/Erc4HGgsI",
        "channel_index": 2,
        "received_at": _TIME,
    }


def message_template(device: Device, application_id: str) -> bytes:
    """The device's uplink as JSON bytes with `%(t)s` (time), `%(f)s` (f_cnt), `%(p)s`."""
    body = ttn_uplink(
        device.device_id,
        received_at_ns=0,
        f_cnt=_F_CNT,
        payload=b"",
        application_id=application_id,
        dev_eui=device.dev_eui,
        rssi=-90.0 - device.index % 25,
        snr=8.5 - device.index % 12,
    )
    body["received_at"] = _TIME
    up = body["uplink_message"]
    up["received_at"] = _TIME
    up["frm_payload"] = _PAYLOAD
    up["rx_metadata"] = [
        _gateway(17, -90.0 - device.index % 25, 8.5 - device.index % 12, full=True),
        _gateway(23 + device.index % 5, -104.0 - device.index % 9, -2.25, full=False),
        _gateway(41, -112.0, -7.5, full=False),
    ]
    up["settings"]["time"] = _TIME
    body["correlation_ids"] = [
        "as:up:01HMA0000000000000000000",
        "gs:uplink:01HM9ZZZZZZZZZZZZZZZZZZZZZ",
    ]
    text = encode(copy.deepcopy(body)).replace(b"%", b"%%")
    return (
        text.replace(f'"{_TIME}"'.encode(), b'"%(t)s"')
        .replace(str(_F_CNT).encode(), b"%(f)s")
        .replace(f'"{_PAYLOAD}"'.encode(), b'"%(p)s"')
    )


def received_at_ns(k: int, devices: int, base_ns: int, first_round: int = 0) -> int:
    """The network-server time of uplink `k`: strictly increasing with `k`."""
    f_cnt, index = first_round + k // devices, k % devices
    return base_ns + f_cnt * ROUND_NS + index * DEVICE_STEP_NS + 123_457


class Iso:
    """RFC 3339 with nanoseconds, as TTN writes it, with the seconds part cached."""

    def __init__(self) -> None:
        self._seconds: dict[int, bytes] = {}

    def __call__(self, time_ns: int) -> bytes:
        seconds, nanos = divmod(time_ns, 1_000_000_000)
        prefix = self._seconds.get(seconds)
        if prefix is None:
            if len(self._seconds) > 4096:
                self._seconds.clear()
            stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
            prefix = self._seconds[seconds] = stamp.encode()
        return b"%s.%09dZ" % (prefix, nanos)


class Uplinks:
    """Uplink `k` of a run as (topic, body): every device in turn, round after round."""

    def __init__(
        self, device_count: int, application_id: str, base_ns: int, first_round: int = 0
    ) -> None:
        self.fleet = devices(device_count)
        self.application_id = application_id
        self.base_ns = base_ns
        self.first_round = first_round
        self.topics = [ttn_topic(d.device_id, application_id).encode() for d in self.fleet]
        self._templates = [message_template(d, application_id) for d in self.fleet]
        self._payloads = [
            [base64.b64encode(payload(d, v)) for v in range(VARIANTS)] for d in self.fleet
        ]
        self._iso = Iso()

    def device(self, k: int) -> int:
        return k % len(self.fleet)

    def body(self, k: int) -> bytes:
        count = len(self.fleet)
        index, f_cnt = k % count, self.first_round + k // count
        time_ns = received_at_ns(k, count, self.base_ns, self.first_round)
        return self._templates[index] % {
            b"t": self._iso(time_ns),
            b"f": b"%d" % f_cnt,
            b"p": self._payloads[index][f_cnt % VARIANTS],
        }

    def messages(self, count: int) -> Iterator[tuple[str, bytes]]:
        for k in range(count):
            yield self.topics[self.device(k)].decode(), self.body(k)
