"""Plain frozen values that cross the registry's boundary; ORM objects never leave it."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Domain = Literal["road", "air", "water", "other"]
DeviceStatus = Literal["active", "retired"]
DOMAINS: tuple[Domain, ...] = ("road", "air", "water", "other")
DEVICE_STATUSES: tuple[DeviceStatus, ...] = ("active", "retired")
API_KEY_ROLES = ("admin", "engineer", "highways", "reader")


@dataclass(frozen=True, slots=True)
class RowError:
    """One bad row of an import: where it is, which id it names, and what to fix.

    `line` is the physical line in the CSV where the row starts (the header is
    line 1); 0 when the row did not come from a file. `device_id` holds the id
    named on the row (the route_id in a routes CSV), or None when that cell is blank.
    """

    line: int
    device_id: str | None
    reason: str

    @property
    def row_id(self) -> str | None:
        """The id on the row, whatever kind of row it is."""
        return self.device_id

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "row"
        named = f" ({self.device_id})" if self.device_id else ""
        return f"{where}{named}: {self.reason}"


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A validated device as an import (CSV now, the API later) asks for it."""

    device_id: str
    dev_eui: str
    name: str | None
    decoder: str
    domain: Domain
    route_id: str | None
    latitude: float | None
    longitude: float | None
    public: bool
    owner: str | None
    field_map: Mapping[str, str]
    line: int = 0


@dataclass(frozen=True, slots=True)
class RouteRow:
    """A validated route as an import asks for it."""

    route_id: str
    name: str | None
    length_km: float
    priority: int
    area: str | None
    line: int = 0


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A registered device: what the bridge needs to decode and label its uplinks."""

    device_id: str
    dev_eui: str
    name: str | None
    decoder: str
    domain: Domain
    route_id: str | None
    latitude: float | None
    longitude: float | None
    public: bool
    owner: str | None
    field_map: Mapping[str, str]
    site: str | None
    application_id: str | None
    status: DeviceStatus
    notes: str | None
    join_eui: str | None = None


@dataclass(frozen=True, slots=True)
class RouteRecord:
    """A gritting route; priority 1 is treated first.

    `policy` holds per-route overrides of the gritting policy, stored as given (a
    JSON object) and checked by the alert engine that reads it.
    """

    route_id: str
    name: str | None
    length_km: float
    priority: int
    area: str | None
    policy: Mapping[str, object] = field(default_factory=dict)
    spread_rate_g_m2: float | None = None
    width_m: float | None = None


@dataclass(frozen=True, slots=True)
class Sighting:
    """One uplink from a device the registry does not know, as the bridge saw it."""

    network: str
    device_id: str
    application_id: str | None
    dev_eui: str | None
    seen_at_ns: int
    f_port: int | None
    payload: bytes


@dataclass(frozen=True, slots=True)
class SightingRecord:
    """Everything heard so far from one unregistered device on one network.

    `f_port` and `payload` are those of the latest uplink (by the network's clock).
    """

    network: str
    device_id: str
    application_id: str | None
    dev_eui: str | None
    f_port: int | None
    payload: bytes
    count: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message the pipeline could not use, with why; `body` is the raw message."""

    arrived_ns: int
    topic: str
    reason: str
    detail: str
    body: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """A kept dead letter. `body` holds at most the first 64 KiB of the message;
    `body_size` and `body_sha256` describe the whole original."""

    id: int
    arrived_at: datetime
    topic: str
    reason: str
    detail: str
    body: bytes = field(repr=False)
    body_size: int
    body_sha256: str
    truncated: bool


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One change to the registry: who, when, which entity, and its state before and after.

    `before` is None for a creation, `after` None for a deletion.
    """

    id: int
    at: datetime
    actor: str
    entity: str
    entity_id: str
    action: str
    origin: str
    before: Mapping[str, object] | None
    after: Mapping[str, object] | None


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A key about to be stored: only the hash of its secret ever reaches the registry."""

    key_id: str
    label: str
    role: str
    secret_hash: str
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored API key: its role, who made it, and when it expires, was revoked or last used."""

    key_id: str
    label: str
    role: str
    secret_hash: str = field(repr=False)
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_by: str


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One reason a device, route or key was refused: the field at fault and what to fix."""

    field: str
    reason: str

    def __str__(self) -> str:
        return self.reason


AlertStatus = Literal["raised", "acknowledged", "cleared"]
ALERT_STATUSES: tuple[AlertStatus, ...] = ("raised", "acknowledged", "cleared")


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert as the registry keeps it: one per episode of a condition, with its lifecycle.

    At most one alert per `key` is open (raised or acknowledged) at a time; a
    condition that clears and comes back opens a new alert. `severity` is the
    highest the episode reached; `explanation` is the rule's JSON detail.
    """

    id: int
    key: str
    rule: str
    severity: str
    status: AlertStatus
    summary: str
    explanation: Mapping[str, object]
    raised_at: datetime
    updated_at: datetime
    route_id: str | None = None
    device_id: str | None = None
    domain: str | None = None
    site: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    cleared_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TreatmentRecord:
    """One gritting run as highways logged it; `spread_rate_g_m2` None means the route's default."""

    id: int
    route_id: str
    started_at: datetime
    ended_at: datetime | None
    spread_rate_g_m2: float | None
    notes: str | None
    logged_by: str
    logged_at: datetime


SubscriptionChannel = Literal["webhook", "email"]


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """Who hears about which alerts, and how.

    Empty `routes`/`domains` mean all of them; `min_severity` filters quieter
    alerts out. `target` is a URL for a webhook, an address for e-mail; `secret`
    signs webhook bodies (HMAC-SHA256) and is never shown back by the API.
    """

    id: int
    name: str
    channel: SubscriptionChannel
    target: str
    secret: str | None = field(default=None, repr=False)
    routes: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    min_severity: str = "warning"
    active: bool = True


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert about to be raised: a rule's condition, as the registry stores it."""

    key: str
    rule: str
    severity: str
    summary: str
    explanation: Mapping[str, object]
    at: datetime
    route_id: str | None = None
    device_id: str | None = None
    domain: str | None = None
    site: str | None = None


@dataclass(frozen=True, slots=True)
class AlertEventRecord:
    """One step of an alert's life; `actor` is `engine` for what the rules did."""

    alert_id: int
    kind: str
    at: datetime
    actor: str
    severity: str
    summary: str


@dataclass(frozen=True, slots=True)
class RouteStatusRecord:
    """A route's decision as stored for every replica: `detail` is the decision's JSON."""

    route_id: str
    state: str
    recommendation: str
    at: datetime
    explanation: str
    detail: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RouteTransitionRecord:
    route_id: str
    at: datetime
    state: str
    recommendation: str
    explanation: str


@dataclass(frozen=True, slots=True)
class NewTreatment:
    """A gritting run as highways report it (the API and the CLI build these)."""

    route_id: str
    started_at: datetime
    ended_at: datetime | None = None
    spread_rate_g_m2: float | None = None
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class NewSubscription:
    name: str
    channel: SubscriptionChannel
    target: str
    secret: str | None = field(default=None, repr=False)
    routes: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    min_severity: str = "warning"
    active: bool = True


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """A named lease as the registry holds it. `epoch` counts changes of holder, so a record
    also serves as a fence: a write made under it fails once another process took over."""

    name: str
    holder: str
    epoch: int
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
