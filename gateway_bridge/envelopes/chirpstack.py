"""ChirpStack v4 integration events, JSON marshaler (`application/{app}/device/{devEui}/event/up`).

Identity: ChirpStack has no device id of the kind The Things Stack has. wherry
takes `deviceInfo.deviceName` as `device_id` (what engineers type and see in
ChirpStack's UI, and what a registry row is keyed on) and falls back to the
DevEUI when the name is empty; `dev_eui` is `deviceInfo.devEui` in lowercase hex,
the stable key when names change. `application_id` is `deviceInfo.applicationId`
(the UUID in the topic), because application names can be edited.

Only `up` events become uplinks; `join`, `status`, `ack`, `txack`, `log`,
`location` and `integration` events are ignored. The legacy "JSON (v3)" marshaler
is not supported.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

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

_WHAT = "not a ChirpStack v4 up event"
_HINT = (
    "ChirpStack v4 JSON expected; the legacy 'JSON (v3)' and Protobuf marshalers are not supported"
)
_UP_FIELDS = ("rxInfo", "data", "fCnt", "fPort", "object")


class _Camel(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, alias_generator=to_camel)


class ChirpStackDeviceInfo(_Camel):
    tenant_id: str | None = None
    tenant_name: str | None = None
    application_id: str = Field(min_length=1)
    application_name: str | None = None
    device_profile_id: str | None = None
    device_profile_name: str | None = None
    device_name: str = ""
    dev_eui: str = Field(min_length=1)
    tags: dict[str, str] = Field(default_factory=dict)


class ChirpStackLocation(_Camel):
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None


class ChirpStackRxInfo(_Camel):
    gateway_id: str = Field(min_length=1)
    uplink_id: int | None = None
    rssi: float | None = None
    snr: float | None = None
    channel: int | None = None
    ns_time: str | None = None
    location: ChirpStackLocation | None = None


class ChirpStackLoraModulation(_Camel):
    bandwidth: int | None = None
    """Hz (125000), unlike ChirpStack v3's kHz."""
    spreading_factor: int | None = None
    code_rate: str | None = None


class ChirpStackModulation(_Camel):
    lora: ChirpStackLoraModulation | None = None


class ChirpStackTxInfo(_Camel):
    frequency: int | None = None
    modulation: ChirpStackModulation | None = None


class ChirpStackUplink(_Camel):
    """An `up` event. Zero values may be omitted, as in every protobuf JSON mapping."""

    deduplication_id: str | None = None
    time: str | None = None
    device_info: ChirpStackDeviceInfo
    dev_addr: str | None = None
    adr: bool = False
    dr: int | None = None
    f_cnt: int = Field(default=0, ge=0, le=0xFFFF_FFFF)
    f_port: int = Field(default=0, ge=0, le=255)
    confirmed: bool = False
    data: str = ""
    decoded_object: dict[str, Any] | None = Field(default=None, alias="object")
    rx_info: list[ChirpStackRxInfo] = Field(default_factory=list)
    tx_info: ChirpStackTxInfo | None = None


def chirpstack_event(topic: str) -> str | None:
    """The event of a topic `application/{id}/device/{devEui}/event/{event}`, else None."""
    parts = topic.split("/")
    if (
        len(parts) == 6
        and parts[0] == "application"
        and parts[2] == "device"
        and parts[4] == "event"
    ):
        return parts[5]
    return None


def parse_chirpstack(
    body: bytes, topic: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Uplink | None:
    """An `Uplink` from a ChirpStack v4 event, or None for events that are not uplinks.

    With an `application/…/event/{event}` topic the topic decides (only `up` is
    parsed). Without one, the body decides: an object with `deviceInfo` and uplink
    fields (`rxInfo`, `data`, `fCnt`, `fPort`, `object`) is an uplink, one with
    `deviceInfo` only is another event and is ignored. Raises `EnvelopeError` otherwise.
    """
    check_size(body, max_bytes)
    event = chirpstack_event(topic) if topic else None
    if event is not None:
        if event != "up":
            return None
        return _to_uplink(validate_bytes(ChirpStackUplink, body, _WHAT, _HINT))
    return chirpstack_from_object(load_object(body))


def chirpstack_from_object(document: dict[str, Any]) -> Uplink | None:
    """`parse_chirpstack` for a JSON object already parsed (shape detection)."""
    if "deviceInfo" not in document:
        raise EnvelopeError("invalid_envelope", f"{_WHAT}: deviceInfo: Field required ({_HINT})")
    if not any(field in document for field in _UP_FIELDS):
        return None  # join, status, log, location… carry deviceInfo but no uplink fields
    return _to_uplink(validate_object(ChirpStackUplink, document, _WHAT, _HINT))


def _to_uplink(event: ChirpStackUplink) -> Uplink:
    device = event.device_info
    dev_eui = device.dev_eui.lower()
    lora = event.tx_info.modulation.lora if event.tx_info and event.tx_info.modulation else None
    return Uplink(
        network="chirpstack",
        device_id=device.device_name or dev_eui,
        application_id=device.application_id,
        received_at_ns=_received_at_ns(event),
        payload=decode_base64(event.data, "data"),
        dev_eui=dev_eui,
        f_cnt=event.f_cnt,
        f_port=event.f_port,
        decoded_payload=event.decoded_object,
        receptions=tuple(
            GatewayReception(gateway_id=rx.gateway_id, rssi=rx.rssi, snr=rx.snr)
            for rx in event.rx_info
        ),
        spreading_factor=lora.spreading_factor if lora else None,
        bandwidth_hz=lora.bandwidth if lora else None,
        frequency_hz=event.tx_info.frequency if event.tx_info else None,
        simulated=False,
    )


def _received_at_ns(event: ChirpStackUplink) -> int:
    """`time`; when a server leaves it out, the earliest network-server receive time."""
    if event.time is not None:
        return timestamp_ns(event.time, "time")
    received = [
        timestamp_ns(rx.ns_time, f"rxInfo[{index}].nsTime")
        for index, rx in enumerate(event.rx_info)
        if rx.ns_time is not None
    ]
    if not received:
        raise EnvelopeError(
            "invalid_envelope", f"{_WHAT}: time: Field required (and no rxInfo[].nsTime)"
        )
    return min(received)
