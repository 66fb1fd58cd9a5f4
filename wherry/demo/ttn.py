"""TTN v3 uplink messages as The Things Stack publishes them on MQTT.

The shape follows The Things Stack's "Data Formats" page (uplink messages): the
end device ids, correlation ids, the Application Server's `received_at` and the
`uplink_message` with frame counter, port, base64 payload, one `rx_metadata`
entry per gateway, transmission settings (frequency as a string), the Network
Server's `received_at` and the airtime as a protobuf duration. Like the real
stack, empty fields (`0`, `""`, `false`) are left out.
"""

from __future__ import annotations

import base64
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wherry.demo.fleet import Gateway, Site

BANDWIDTH_HZ = 125_000
CODING_RATE = "4/5"
# EU863-870: the gateway channel plan used by The Things Network, index → Hz.
EU868_CHANNELS_HZ = (
    868_100_000,
    868_300_000,
    868_500_000,
    867_100_000,
    867_300_000,
    867_500_000,
    867_700_000,
    867_900_000,
)
# Demodulation floor (dBm) per spreading factor, a typical SX1301 gateway at 125 kHz.
SENSITIVITY_DBM = {7: -123.0, 8: -126.0, 9: -129.0, 10: -132.0, 11: -134.5, 12: -137.0}
LORAWAN_OVERHEAD_BYTES = 13  # MHDR 1 + FHDR 7 (no FOpts) + FPort 1 + MIC 4
_ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def iso_ns(time_ns: int) -> str:
    """RFC 3339 UTC with nanoseconds, as The Things Stack writes timestamps."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


def airtime_ns(
    frm_payload_bytes: int, spreading_factor: int, bandwidth_hz: int = BANDWIDTH_HZ
) -> int:
    """LoRa time on air (Semtech AN1200.13) of an uplink: explicit header, CRC on, CR 4/5,
    8 preamble symbols, low-data-rate optimisation for SF11 and SF12 at 125 kHz."""
    payload = frm_payload_bytes + LORAWAN_OVERHEAD_BYTES
    low_rate = 1 if spreading_factor >= 11 and bandwidth_hz == BANDWIDTH_HZ else 0
    numerator = 8 * payload - 4 * spreading_factor + 28 + 16
    chunks = max(math.ceil(numerator / (4 * (spreading_factor - 2 * low_rate))), 0)
    symbols_x4 = 4 * (8 + 4.25) + 4 * (8 + chunks * 5)  # in quarter symbols, exact
    symbol_ns = (2**spreading_factor) * 1_000_000_000 // bandwidth_hz
    return int(symbols_x4 * symbol_ns // 4)


def duration_text(nanoseconds: int) -> str:
    """A protobuf JSON Duration: seconds with 0, 3, 6 or 9 fractional digits, then `s`."""
    seconds, nanos = divmod(nanoseconds, 1_000_000_000)
    if nanos == 0:
        return f"{seconds}s"
    if nanos % 1_000_000 == 0:
        return f"{seconds}.{nanos // 1_000_000:03d}s"
    if nanos % 1_000 == 0:
        return f"{seconds}.{nanos // 1_000:06d}s"
    return f"{seconds}.{nanos:09d}s"


def ulid(time_ns: int, rng: random.Random) -> str:
    """A ULID (as in The Things Stack's correlation ids): 48-bit ms time, 80 random bits."""
    value = ((time_ns // 1_000_000) << 80) | rng.getrandbits(80)
    return "".join(_ULID_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


def compact(value: Any) -> Any:
    """Drop empty fields (`0`, `""`, `false`, `None`, `{}`, `[]`) as The Things Stack does."""
    if isinstance(value, Mapping):
        kept = {key: compact(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in (0, "", False, None, {}, [])}
    if isinstance(value, list):
        return [compact(item) for item in value]
    return value


@dataclass(frozen=True, slots=True)
class Reception:
    """One gateway hearing one uplink."""

    gateway: Gateway
    rssi: int
    snr: float
    gateway_time_ns: int
    server_time_ns: int
    concentrator_us: int
    uplink_token: str


@dataclass(frozen=True, slots=True)
class Transmission:
    """How the device sent the frame and who heard it."""

    spreading_factor: int
    channel_index: int
    receptions: tuple[Reception, ...]

    @property
    def frequency_hz(self) -> int:
        return EU868_CHANNELS_HZ[self.channel_index]


def transmission(
    site: Site, gateways: Sequence[Gateway], ns_received_ns: int, rng: random.Random
) -> Transmission:
    """Draw who heard an uplink and how well: 1–3 gateways, RSSI around each one's mean,
    SNR following RSSI; the strongest gateway always hears it."""
    by_id = {gateway.gateway_id: gateway for gateway in gateways}
    spreading_factor = site.radio.spreading_factor
    gateway_time = ns_received_ns - rng.randrange(25_000_000, 90_000_000)
    receptions = []
    for index, (gateway_id, mean_rssi) in enumerate(site.radio.heard_by):
        rssi = round(mean_rssi + rng.gauss(0.0, 2.5))
        missed = rng.random() < 0.15 or rssi < SENSITIVITY_DBM[spreading_factor] + 6
        if index > 0 and missed:
            continue
        snr = round(((rssi + 116.0) * 0.5 + rng.gauss(0.0, 1.2)) * 4) / 4
        gateway = by_id[gateway_id]
        time_ns = gateway_time + rng.randrange(0, 2_000)
        counter_offset = int(gateway.eui, 16) % (2**32)
        receptions.append(
            Reception(
                gateway=gateway,
                rssi=rssi,
                snr=max(-20.0, min(12.5, snr)),
                gateway_time_ns=time_ns,
                server_time_ns=time_ns + rng.randrange(8_000_000, 20_000_000),
                concentrator_us=(time_ns // 1_000 + counter_offset) % (2**32),
                uplink_token=base64.b64encode(rng.randbytes(30)).decode(),
            )
        )
    return Transmission(
        spreading_factor=spreading_factor,
        channel_index=rng.randrange(len(EU868_CHANNELS_HZ)),
        receptions=tuple(receptions),
    )


@dataclass(frozen=True, slots=True)
class Session:
    """What the network knows about a joined device."""

    dev_addr: str
    session_key_id: str
    join_eui: str


def uplink_message(
    *,
    site: Site,
    application_id: str,
    tenant: str,
    session: Session,
    f_cnt: int,
    payload: bytes,
    ns_received_ns: int,
    air: Transmission,
    rng: random.Random,
) -> dict[str, Any]:
    """The JSON object The Things Stack publishes on `v3/{app}@{tenant}/devices/{id}/up`."""
    device = site.device
    as_received_ns = ns_received_ns + rng.randrange(2_000_000, 40_000_000)
    first = air.receptions[0]
    rx_metadata = [
        {
            "gateway_ids": {"gateway_id": r.gateway.gateway_id, "eui": r.gateway.eui},
            "time": iso_ns(r.gateway_time_ns),
            "timestamp": r.concentrator_us,
            "rssi": r.rssi,
            "channel_rssi": r.rssi,
            "snr": r.snr,
            "location": {
                "latitude": r.gateway.latitude,
                "longitude": r.gateway.longitude,
                "altitude": r.gateway.altitude_m,
                "source": "SOURCE_REGISTRY",
            },
            "uplink_token": r.uplink_token,
            "channel_index": air.channel_index,
            "received_at": iso_ns(r.server_time_ns),
        }
        for r in air.receptions
    ]
    message = {
        "end_device_ids": {
            "device_id": device.device_id,
            "application_ids": {"application_id": application_id},
            "dev_eui": device.dev_eui,
            "join_eui": session.join_eui,
            "dev_addr": session.dev_addr,
        },
        "correlation_ids": [
            f"gs:uplink:{ulid(first.server_time_ns, rng)}",
            f"ns:uplink:{ulid(ns_received_ns, rng)}",
            f"rpc:/ttn.lorawan.v3.GsNs/HandleUplink:{ulid(ns_received_ns, rng)}",
            f"rpc:/ttn.lorawan.v3.NsAs/HandleUplink:{ulid(as_received_ns, rng)}",
        ],
        "received_at": iso_ns(as_received_ns),
        "uplink_message": {
            "session_key_id": session.session_key_id,
            "f_port": site.f_port,
            "f_cnt": f_cnt,
            "frm_payload": base64.b64encode(payload).decode(),
            "rx_metadata": rx_metadata,
            "settings": {
                "data_rate": {
                    "lora": {
                        "bandwidth": BANDWIDTH_HZ,
                        "spreading_factor": air.spreading_factor,
                        "coding_rate": CODING_RATE,
                    }
                },
                "frequency": str(air.frequency_hz),
                "timestamp": first.concentrator_us,
                "time": iso_ns(first.gateway_time_ns),
            },
            "received_at": iso_ns(ns_received_ns),
            "consumed_airtime": duration_text(airtime_ns(len(payload), air.spreading_factor)),
            "locations": {
                "user": {
                    "latitude": device.latitude,
                    "longitude": device.longitude,
                    "source": "SOURCE_REGISTRY",
                }
            },
            "network_ids": {
                "net_id": "000013",
                "ns_id": "EC656E0000000181",
                "tenant_id": tenant,
                "cluster_id": "eu1",
                "cluster_address": "eu1.cloud.thethings.network",
            },
        },
    }
    result: dict[str, Any] = compact(message)
    return result
