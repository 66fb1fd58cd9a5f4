"""Devices, routes, sightings, dead letters, decoders and the audit log as the API shows them.

Requests refuse unknown fields (a typo never silently does nothing). Values are
checked by the registry's own rules (`storage.registry.validation`), so a device
sent as JSON and the same device in a CSV are refused with the same message.
Every time is ISO 8601 in UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from storage.registry import DeviceRecord, RouteRecord

DomainName = Literal["road", "air", "water", "other"]
StatusName = Literal["active", "retired"]

ID_PATTERN = r"^[a-z0-9](?:-?[a-z0-9])+$"
EUI_PATTERN = r"^(?:0[xX])?[0-9A-Fa-f](?:[\s:-]*[0-9A-Fa-f]){15}$"
# Documented, not enforced by pydantic: the registry checks these rules itself, so a
# device refused here gets the same message as the same device in a CSV.
_ID_RULES: dict[str, Any] = {"pattern": ID_PATTERN, "minLength": 2, "maxLength": 36}
_EUI_RULES: dict[str, Any] = {"pattern": EUI_PATTERN}

_DEVICE_ID = Field(
    description="The Things Stack's device id: lower-case a-z, 0-9 and single '-', 2–36 long.",
    examples=["rst-bank-road-lower"],
    json_schema_extra=_ID_RULES,
)
_DEV_EUI = Field(
    description="16 hex digits; any case, ':' '-' or spaces between digits are dropped.",
    examples=["70B3D57BA0000A11"],
    json_schema_extra=_EUI_RULES,
)
_FIELD_MAP_EXAMPLE = {"temperature": "road_surface_temperature"}
_POLICY_EXAMPLE = {"marginal_threshold_c": 0.5, "horizon_minutes": 120}


class ErrorDetail(BaseModel):
    detail: str = Field(examples=["no device 'rst-99' is registered"])


# -- devices -----------------------------------------------------------------------------


class Device(BaseModel):
    """A registered device: what decodes its uplinks and where its readings belong."""

    device_id: str = _DEVICE_ID
    dev_eui: str = Field(description="16 lower-case hex digits.", examples=["70b3d57ba0000a11"])
    join_eui: str | None = Field(
        description="The JoinEUI (AppEUI), 16 hex digits; shared by many devices.",
        examples=["70b3d57ed0000000"],
    )
    name: str | None = Field(examples=["Bank Road (lower)"])
    decoder: str = Field(
        description="Decoder id, see GET /decoders.", examples=["decentlab-dl-ds18"]
    )
    domain: DomainName = Field(examples=["road"])
    route_id: str | None = Field(examples=["matlock-bank"])
    latitude: float | None = Field(examples=[53.13905])
    longitude: float | None = Field(examples=[-1.55452])
    public: bool = Field(description="Part of the open data.", examples=[False])
    owner: str | None = Field(examples=["Highways"])
    field_map: dict[str, str] = Field(
        description="Vendor field → canonical quantity, on top of the decoder's defaults.",
        examples=[_FIELD_MAP_EXAMPLE],
    )
    site: str | None = Field(examples=["bank-road"])
    application_id: str | None = Field(examples=["derbyshire-roads"])
    status: StatusName = Field(
        description="`retired` devices stay readable but their uplinks are no longer read.",
        examples=["active"],
    )
    notes: str | None = Field(examples=["Probe in the nearside wheel track"])

    @classmethod
    def of(cls, record: DeviceRecord) -> Device:
        return cls.model_validate(record, from_attributes=True)


class DeviceList(BaseModel):
    count: int = Field(examples=[1])
    devices: list[Device]


class _DeviceFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    join_eui: str | None = Field(default=None, examples=["70B3D57ED0000000"])
    name: str | None = Field(default=None, examples=["Bank Road (lower)"])
    route_id: str | None = Field(default=None, examples=["matlock-bank"])
    latitude: float | None = Field(
        default=None,
        description="−90…90; with longitude.",
        examples=[53.13905],
        json_schema_extra={"minimum": -90, "maximum": 90},
    )
    longitude: float | None = Field(
        default=None,
        description="−180…180; with latitude.",
        examples=[-1.55452],
        json_schema_extra={"minimum": -180, "maximum": 180},
    )
    public: bool = Field(default=False, examples=[False])
    owner: str | None = Field(default=None, examples=["Highways"])
    field_map: dict[str, str] = Field(default_factory=dict, examples=[_FIELD_MAP_EXAMPLE])
    site: str | None = Field(default=None, examples=["bank-road"])
    application_id: str | None = Field(default=None, examples=["derbyshire-roads"])
    notes: str | None = Field(default=None, examples=["Probe in the nearside wheel track"])


class NewDevice(_DeviceFields):
    """A device to register."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "device_id": "rst-bank-road-lower",
                    "dev_eui": "70B3D57BA0000A11",
                    "decoder": "decentlab-dl-ds18",
                    "domain": "road",
                    "name": "Bank Road (lower)",
                    "route_id": "matlock-bank",
                    "latitude": 53.13905,
                    "longitude": -1.55452,
                    "public": False,
                    "owner": "Highways",
                    "field_map": {"temperature": "road_surface_temperature"},
                }
            ]
        },
    )

    device_id: str = _DEVICE_ID
    dev_eui: str = _DEV_EUI
    decoder: str = Field(
        description="Decoder id, see GET /decoders.", examples=["decentlab-dl-ds18"]
    )
    domain: DomainName = Field(examples=["road"])


class DeviceChanges(BaseModel):
    """Only the fields given change; `null` clears an optional field. The id cannot change."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Bank Road (upper)",
                    "public": True,
                    "latitude": 53.1412,
                    "longitude": -1.5521,
                }
            ]
        },
    )

    dev_eui: str | None = Field(default=None, examples=["70B3D57BA0000A12"])
    join_eui: str | None = None
    name: str | None = Field(default=None, examples=["Bank Road (upper)"])
    decoder: str | None = None
    domain: DomainName | None = None
    route_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    public: bool | None = Field(default=None, examples=[True])
    owner: str | None = None
    field_map: dict[str, str] | None = None
    site: str | None = None
    application_id: str | None = None
    notes: str | None = None
    status: StatusName | None = Field(
        default=None,
        description="Set `active` to bring a retired device back.",
        examples=["active"],
    )


# -- CSV imports ---------------------------------------------------------------------------


class CsvUpload(BaseModel):
    """A CSV sent inside JSON, for clients that cannot send `text/csv`."""

    model_config = ConfigDict(extra="forbid")

    csv: str = Field(
        examples=[
            "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,"
            "field_map\nrst-01,70B3D57BA0000A11,Bank Road,decentlab-dl-ds18,road,,,,false,,\n"
        ]
    )


class RowProblem(BaseModel):
    line: int = Field(description="Line in the CSV, the header being line 1.", examples=[5])
    id: str | None = Field(
        description="The id on that row, when there is one.", examples=["rst-03"]
    )
    reason: str = Field(
        examples=[
            "dev_eui 'xyz' contains 'x' 'y' 'z': a DevEUI is exactly 16 hex digits, "
            "e.g. 70b3d57ed005a12f"
        ]
    )


class ImportReport(BaseModel):
    """What an import found and did. A dry run changes nothing; an apply applies every row."""

    dry_run: bool = Field(examples=[True])
    rows: int = Field(description="Rows read, bad ones included.", examples=[500])
    valid_rows: int = Field(examples=[493])
    applied: int = Field(description="Rows written (0 for a dry run).", examples=[0])
    errors: list[RowProblem] = Field(description="Every bad row, in file order.")


# -- routes --------------------------------------------------------------------------------


class Route(BaseModel):
    route_id: str = Field(examples=["matlock-bank"])
    name: str | None = Field(examples=["Matlock Bank: Bank Road and Smedley Street"])
    length_km: float = Field(examples=[6.4])
    priority: int = Field(description="1 is treated first.", examples=[1])
    area: str | None = Field(examples=["Matlock"])
    policy: dict[str, Any] = Field(
        description="Per-route overrides of the gritting policy, as stored.",
        examples=[_POLICY_EXAMPLE],
    )
    spread_rate_g_m2: float | None = Field(description="Salt per square metre.", examples=[10.0])
    width_m: float | None = Field(description="Carriageway width treated.", examples=[7.3])

    @classmethod
    def of(cls, record: RouteRecord) -> Route:
        return cls.model_validate(record, from_attributes=True)


class RouteList(BaseModel):
    count: int = Field(examples=[1])
    routes: list[Route]


class NewRoute(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "route_id": "matlock-bank",
                    "name": "Matlock Bank",
                    "length_km": 6.4,
                    "priority": 1,
                    "area": "Matlock",
                    "policy": {"marginal_threshold_c": 0.5},
                    "spread_rate_g_m2": 10,
                    "width_m": 7.3,
                }
            ]
        },
    )

    route_id: str = Field(
        description="Lower-case a-z, 0-9 and single '-', 2–36 long.",
        examples=["matlock-bank"],
        json_schema_extra=_ID_RULES,
    )
    length_km: float = Field(description="Above 0, at most 10,000.", examples=[6.4])
    priority: int = Field(description="1 to 1000; 1 is treated first.", examples=[1])
    name: str | None = Field(default=None, examples=["Matlock Bank: Bank Road and Smedley Street"])
    area: str | None = Field(default=None, examples=["Matlock"])
    policy: dict[str, Any] = Field(
        default_factory=dict,
        description="A JSON object of gritting-policy overrides (names and limits in "
        "docs/alerts.md); unknown names or values out of range are refused.",
        examples=[_POLICY_EXAMPLE],
    )
    spread_rate_g_m2: float | None = Field(default=None, examples=[10.0])
    width_m: float | None = Field(default=None, examples=[7.3])


class RouteChanges(BaseModel):
    """Only the fields given change; `null` clears an optional field. The id cannot change."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"priority": 2, "policy": {"marginal_threshold_c": 0.5}}]},
    )

    length_km: float | None = Field(default=None, examples=[6.9])
    priority: int | None = Field(default=None, examples=[2])
    name: str | None = None
    area: str | None = None
    policy: dict[str, Any] | None = Field(default=None, examples=[_POLICY_EXAMPLE])
    spread_rate_g_m2: float | None = None
    width_m: float | None = None


# -- sightings -----------------------------------------------------------------------------


class SightingInfo(BaseModel):
    """Uplinks from a device that is not registered: counted, never dropped."""

    network: str = Field(examples=["ttn"])
    device_id: str = Field(examples=["eui-70b3d57ba0000a99"])
    application_id: str | None = Field(examples=["derbyshire-roads"])
    dev_eui: str | None = Field(examples=["70b3d57ba0000a99"])
    f_port: int | None = Field(description="Port of the latest uplink.", examples=[1])
    payload_hex: str = Field(description="Payload of the latest uplink.", examples=["0203e80a8c"])
    count: int = Field(examples=[42])
    first_seen: datetime = Field(examples=["2026-01-15T03:10:00Z"])
    last_seen: datetime = Field(examples=["2026-01-15T09:40:00Z"])


class SightingList(BaseModel):
    count: int = Field(examples=[1])
    sightings: list[SightingInfo]


class DeviceDraftInfo(BaseModel):
    """What the uplinks already told us about a device; the rest is up to you."""

    device_id: str = Field(examples=["eui-70b3d57ba0000a99"])
    dev_eui: str | None = Field(examples=["70b3d57ba0000a99"])
    application_id: str | None = Field(examples=["derbyshire-roads"])


class SightingDraft(BaseModel):
    sighting: SightingInfo
    draft: DeviceDraftInfo
    needed: list[str] = Field(
        description="Fields the registration must still give.", examples=[["decoder", "domain"]]
    )
    candidate_decoders: list[str] = Field(
        description="Decoders that read the latest payload on its port without an error.",
        examples=[["decentlab-dl-ds18"]],
    )


class SightingRegistration(BaseModel):
    """What the uplinks could not tell; device_id, DevEUI and application come from them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "decoder": "decentlab-dl-ds18",
                    "domain": "road",
                    "route_id": "matlock-bank",
                    "name": "Bank Road (upper)",
                    "public": False,
                }
            ]
        },
    )

    decoder: str = Field(examples=["decentlab-dl-ds18"])
    domain: DomainName = Field(examples=["road"])
    dev_eui: str | None = Field(
        default=None,
        description="Needed only when the uplinks did not carry one.",
        examples=["70B3D57BA0000A99"],
    )
    join_eui: str | None = None
    name: str | None = Field(default=None, examples=["Bank Road (upper)"])
    route_id: str | None = Field(default=None, examples=["matlock-bank"])
    latitude: float | None = Field(default=None, examples=[53.1412])
    longitude: float | None = Field(default=None, examples=[-1.5521])
    public: bool = False
    owner: str | None = Field(default=None, examples=["Highways"])
    field_map: dict[str, str] = Field(default_factory=dict, examples=[_FIELD_MAP_EXAMPLE])
    site: str | None = None
    notes: str | None = None


# -- dead letters --------------------------------------------------------------------------


class DeadLetterInfo(BaseModel):
    id: int = Field(examples=[17])
    arrived_at: datetime = Field(examples=["2026-01-15T03:12:45.123456Z"])
    topic: str = Field(examples=["v3/derbyshire-roads@ttn/devices/rst-01/up"])
    reason: str = Field(examples=["malformed_json"])
    detail: str = Field(examples=["Expecting value: line 1 column 1 (char 0)"])
    body_base64: str = Field(description="The kept body (at most 64 KiB).", examples=["eyJlbmQ="])
    body_text: str = Field(
        description="The kept body as UTF-8, undecodable bytes replaced.", examples=['{"end']
    )
    body_size: int = Field(description="Bytes in the whole original message.", examples=[5])
    body_sha256: str = Field(examples=["5d41402abc4b2a76b9719d911017c592" * 2])
    truncated: bool = Field(examples=[False])


class DeadLetterList(BaseModel):
    count: int = Field(examples=[1])
    dead_letters: list[DeadLetterInfo]


class DeadLetterCounts(BaseModel):
    total: int = Field(examples=[4])
    by_reason: dict[str, int] = Field(examples=[{"malformed_json": 3, "oversize": 1}])


# -- decoders ------------------------------------------------------------------------------


class QuantityInfo(BaseModel):
    quantity: str = Field(examples=["road_surface_temperature"])
    unit: str = Field(examples=["°C"])
    description: str = Field(examples=["Road surface temperature (RST)"])


class DecoderInfo(BaseModel):
    id: str = Field(examples=["decentlab-dl-ds18"])
    vendor: str = Field(examples=["Decentlab"])
    model: str = Field(examples=["DL-DS18"])
    description: str = Field(examples=["Decentlab DS18B20 temperature probe"])
    f_ports: list[int] | None = Field(description="Ports it reads; null: any.", examples=[[1]])
    quantities: list[QuantityInfo]
    default_field_map: dict[str, str] = Field(examples=[_FIELD_MAP_EXAMPLE])


class DecoderList(BaseModel):
    count: int = Field(examples=[1])
    decoders: list[DecoderInfo]


class PayloadTrial(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"hex": "02000100037fec0bb8", "f_port": 1}]}
    )

    hex: str = Field(
        max_length=1024,
        description="The payload as hex; spaces between bytes are allowed.",
        examples=["02 0a 39 00 01 0b 3c"],
    )
    f_port: int | None = Field(default=None, ge=0, le=255, examples=[1])
    field_map: dict[str, str] | None = Field(
        default=None,
        description="A device's field map to try with it.",
        examples=[_FIELD_MAP_EXAMPLE],
    )


class TriedReading(BaseModel):
    quantity: str = Field(examples=["road_surface_temperature"])
    value: float | None = Field(examples=[-1.25])
    unit: str = Field(examples=["°C"])
    source_field: str = Field(examples=["temperature"])
    valid: bool = Field(examples=[True])
    invalid_reason: str | None = Field(examples=[None])


class PayloadTrialResult(BaseModel):
    decoder: str = Field(examples=["decentlab-dl-ds18"])
    vendor_fields: dict[str, Any] = Field(
        description="The vendor's own field names and values.",
        examples=[{"temperature": -1.25, "battery_voltage": 3.021}],
    )
    readings: list[TriedReading]


# -- audit ---------------------------------------------------------------------------------


class AuditEntry(BaseModel):
    id: int = Field(examples=[42])
    at: datetime = Field(examples=["2026-01-15T09:41:07.512Z"])
    actor: str = Field(examples=["key:3f9a1c0b7d2e (Jo Bloggs, network engineer)"])
    entity: str = Field(examples=["device"])
    entity_id: str = Field(examples=["rst-bank-road-lower"])
    action: str = Field(
        description="create, update, retire, delete or revoke.", examples=["update"]
    )
    origin: str = Field(description="edit, csv-import or sighting.", examples=["edit"])
    before: dict[str, Any] | None = Field(examples=[{"name": "Bank Road"}])
    after: dict[str, Any] | None = Field(examples=[{"name": "Bank Road (lower)"}])


class AuditLog(BaseModel):
    count: int = Field(examples=[1])
    entries: list[AuditEntry]
