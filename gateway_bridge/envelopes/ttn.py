"""The Things Stack v3 (The Things Network, The Things Industries) uplink messages.

One JSON shape arrives three ways: on MQTT (`v3/{app}@{tenant}/devices/{id}/up`),
as a webhook body, and from the Storage Integration wrapped as `{"result": …}`.
The Things Stack omits every field whose value is empty, `0` or `false`, so an
absent `f_port`/`f_cnt` means 0 and an absent `frm_payload` means no bytes (a
MAC-only uplink on port 0). Only what wherry uses is modelled and checked; every other
field is ignored, so new server versions, and oddities in fields wherry never reads
(gateway timestamps, network ids), do not cost an uplink, nor validation time
(docs/performance.md).
"""

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway_bridge.envelopes.errors import EnvelopeError
from gateway_bridge.envelopes.validation import (
    DEFAULT_MAX_BYTES,
    check_size,
    decode_base64,
    load_object,
    timestamp_ns,
    validate_bytes,
    validate_object,
)
from gateway_bridge.uplink import GatewayReception, Uplink

_WHAT = "not a The Things Stack uplink"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)s")


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class TtnApplicationIds(_Strict):
    application_id: str = Field(min_length=1)


class TtnEndDeviceIds(_Strict):
    device_id: str = Field(min_length=1)
    application_ids: TtnApplicationIds
    dev_eui: str | None = None


class TtnGatewayIds(_Strict):
    gateway_id: str = Field(min_length=1)


class TtnRxMetadata(_Strict):
    """One gateway's reception. Some gateways report `channel_rssi` but no `rssi`."""

    gateway_ids: TtnGatewayIds
    rssi: float | None = None
    channel_rssi: float | None = None
    snr: float | None = None


class TtnLoraDataRate(_Strict):
    spreading_factor: int | None = None
    bandwidth: int | None = None


class TtnDataRate(_Strict):
    lora: TtnLoraDataRate | None = None


class TtnTxSettings(_Strict):
    data_rate: TtnDataRate | None = None
    frequency: str | int | None = None
    """Hz. A decimal string in The Things Stack JSON (protobuf uint64), e.g. "868100000"."""


class TtnUplinkMessage(_Strict):
    f_port: int = Field(default=0, ge=0, le=255)
    f_cnt: int = Field(default=0, ge=0, le=0xFFFF_FFFF)
    frm_payload: str = ""
    decoded_payload: dict[str, Any] | None = None
    rx_metadata: list[TtnRxMetadata] = Field(default_factory=list)
    settings: TtnTxSettings | None = None
    received_at: str | None = None
    consumed_airtime: str | None = None
    """A protobuf Duration: seconds with an `s` suffix, e.g. "0.061696s"."""


class TtnUplink(_Strict):
    """An `ApplicationUp` carrying an `uplink_message`."""

    end_device_ids: TtnEndDeviceIds
    received_at: str | None = None
    uplink_message: TtnUplinkMessage
    simulated: bool = False


def ttn_event(topic: str) -> str | None:
    """The event part of a The Things Stack MQTT topic (`up`, `join`, `down/queued`…), else None."""
    parts = topic.split("/", 4)
    if len(parts) == 5 and parts[0] == "v3" and parts[2] == "devices":
        return parts[4]
    return None


def parse_ttn(
    body: bytes, topic: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Uplink | None:
    """An `Uplink` from a The Things Stack message, or None for events that are not uplinks.

    With a `v3/…/devices/{id}/{event}` topic, the topic decides: `up` is parsed,
    every other event (`join`, `down/*`, `service/data`, `location/solved`…) is
    ignored without reading the body. Without such a topic (webhook, Storage
    Integration, file replay) the body decides: a `{"result": …}` wrapper is
    unwrapped, and a message without `uplink_message` is ignored.
    Raises `EnvelopeError` for anything else.
    """
    check_size(body, max_bytes)
    event = ttn_event(topic) if topic else None
    if event is not None:
        if event != "up":
            return None
        return _to_uplink(validate_bytes(TtnUplink, body, _WHAT))
    return ttn_from_object(load_object(body))


def ttn_from_object(document: dict[str, Any]) -> Uplink | None:
    """`parse_ttn` for a JSON object already parsed (shape detection)."""
    result = document.get("result")
    if isinstance(result, dict) and "end_device_ids" not in document:
        document = result  # Storage Integration: {"result": {…}}
    if "end_device_ids" not in document:
        raise EnvelopeError(
            "invalid_envelope",
            f"{_WHAT}: end_device_ids: Field required (neither an uplink nor a wrapped "
            "Storage Integration result)",
        )
    if "uplink_message" not in document:
        return None  # join_accept, downlink_*, service_data, location_solved…
    return _to_uplink(validate_object(TtnUplink, document, _WHAT))


def _to_uplink(message: TtnUplink) -> Uplink:
    ids, up = message.end_device_ids, message.uplink_message
    if up.received_at is not None:
        received_at_ns = timestamp_ns(up.received_at, "uplink_message.received_at")
    elif message.received_at is not None:
        received_at_ns = timestamp_ns(message.received_at, "received_at")
    else:
        raise EnvelopeError(
            "invalid_envelope",
            f"{_WHAT}: uplink_message.received_at and received_at are both missing",
        )
    lora = up.settings.data_rate.lora if up.settings and up.settings.data_rate else None
    return Uplink(
        network="ttn",
        device_id=ids.device_id,
        application_id=ids.application_ids.application_id,
        received_at_ns=received_at_ns,
        payload=decode_base64(up.frm_payload, "uplink_message.frm_payload"),
        dev_eui=ids.dev_eui.lower() if ids.dev_eui else None,
        f_cnt=up.f_cnt,
        f_port=up.f_port,
        decoded_payload=up.decoded_payload,
        receptions=tuple(
            GatewayReception(
                gateway_id=rx.gateway_ids.gateway_id,
                rssi=rx.rssi if rx.rssi is not None else rx.channel_rssi,
                snr=rx.snr,
            )
            for rx in up.rx_metadata
        ),
        spreading_factor=lora.spreading_factor if lora else None,
        bandwidth_hz=lora.bandwidth if lora else None,
        frequency_hz=_frequency_hz(up.settings.frequency if up.settings else None),
        airtime_ms=_airtime_ms(up.consumed_airtime),
        simulated=message.simulated,
    )


def _frequency_hz(value: str | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if value.isascii() and value.isdigit():
        return int(value)
    raise EnvelopeError(
        "invalid_envelope",
        f"{_WHAT}: uplink_message.settings.frequency: expected a whole number of Hz "
        f'like "868100000" (got {value[:40]!r})',
    )


def _airtime_ms(value: str | None) -> float | None:
    if value is None:
        return None
    match = _DURATION.fullmatch(value)
    if match is None:
        raise EnvelopeError(
            "invalid_envelope",
            f'{_WHAT}: uplink_message.consumed_airtime: expected a duration like "0.061696s" '
            f"(got {value[:40]!r})",
        )
    return float(match.group(1)) * 1000.0
