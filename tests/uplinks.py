"""Build TTN v3 and ChirpStack v4 uplink messages as the network servers publish them, for tests."""

from __future__ import annotations

import base64
import json
import struct
from datetime import UTC, datetime
from typing import Any


def iso_ns(time_ns: int) -> str:
    """RFC 3339 with nanoseconds, as The Things Stack writes received_at."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


def dl_ds18_payload(device_number: int, temperature_c: float, battery_v: float = 3.1) -> bytes:
    """Decentlab DL-DS18, protocol v2: temperature and battery flags set."""
    raw_temperature = round(temperature_c * 16) + 32768
    return struct.pack(">BHHHH", 2, device_number, 0x0003, raw_temperature, round(battery_v * 1000))


def cayenne_temperature_humidity(temperature_c: float, humidity_pct: float) -> bytes:
    """Cayenne LPP: channel 1 temperature (0.1 °C), channel 2 relative humidity (0.5 %)."""
    return struct.pack(
        ">BBhBBB", 1, 0x67, round(temperature_c * 10), 2, 0x68, round(humidity_pct * 2)
    )


def ttn_uplink(
    device_id: str,
    *,
    received_at_ns: int,
    f_cnt: int,
    payload: bytes,
    f_port: int = 1,
    application_id: str = "wherry-test",
    dev_eui: str | None = None,
    decoded_payload: dict[str, Any] | None = None,
    rssi: float = -97.0,
    snr: float = 7.5,
) -> dict[str, Any]:
    received_at = iso_ns(received_at_ns)
    uplink: dict[str, Any] = {
        "session_key_id": "AXA2mkTgDSpwRBlBsSiNcQ==",
        "f_port": f_port,
        "f_cnt": f_cnt,
        "frm_payload": base64.b64encode(payload).decode(),
        "rx_metadata": [
            {
                "gateway_ids": {"gateway_id": "council-gw-017", "eui": "B827EBFFFE6C0A17"},
                "time": received_at,
                "timestamp": 2040934975,
                "rssi": rssi,
                "channel_rssi": rssi,
                "snr": snr,
                "uplink_token": "ChsKGQoOY291bmNpbC1ndy0wMTcSCLgn6//+bAoXEP/Erc4HGgsI",
                "channel_index": 2,
                "received_at": received_at,
            }
        ],
        "settings": {
            "data_rate": {
                "lora": {"bandwidth": 125000, "spreading_factor": 9, "coding_rate": "4/5"}
            },
            "frequency": "868500000",
            "timestamp": 2040934975,
            "time": received_at,
        },
        "received_at": received_at,
        "consumed_airtime": "0.185344s",
        "network_ids": {"net_id": "000013", "tenant_id": "ttn", "cluster_id": "eu1"},
    }
    if decoded_payload is not None:
        uplink["decoded_payload"] = decoded_payload
    return {
        "end_device_ids": {
            "device_id": device_id,
            "application_ids": {"application_id": application_id},
            "dev_eui": (dev_eui or "70B3D57ED0000000").upper(),
            "join_eui": "0000000000000000",
            "dev_addr": "260B1234",
        },
        "correlation_ids": ["as:up:01HMA0000000000000000000"],
        "received_at": received_at,
        "uplink_message": uplink,
    }


def ttn_topic(device_id: str, application_id: str = "wherry-test") -> str:
    return f"v3/{application_id}@ttn/devices/{device_id}/up"


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()
