"""The device registry: devices, routes, unregistered sightings, dead letters and the audit log.

SQLAlchemy 2 models with Alembic migrations shipped in this package; SQLite by
default, PostgreSQL when more than one process shares it. CSV parsing (the dry
run) lives in `csv_import` and needs no database.
"""

from storage.registry.csv_import import (
    DEVICE_COLUMNS,
    ROUTE_COLUMNS,
    DeviceImport,
    RouteImport,
    parse_device_csv,
    parse_route_csv,
)
from storage.registry.drafts import (
    DEVICE_FIELDS,
    ROUTE_FIELDS,
    Catalogue,
    DeviceDraft,
    FieldMapCheck,
    RouteDraft,
)
from storage.registry.errors import (
    AlreadyRegistered,
    ChangeRejected,
    ImportRejected,
    InUse,
    InvalidRegistryUrl,
    NotRegistered,
    RegistryError,
    RegistryUnavailable,
    SchemaNotCurrent,
)
from storage.registry.records import (
    API_KEY_ROLES,
    DEVICE_STATUSES,
    DOMAINS,
    ApiKeyRecord,
    AuditRecord,
    DeadLetter,
    DeadLetterRecord,
    DeviceRecord,
    DeviceRow,
    DeviceStatus,
    Domain,
    FieldProblem,
    NewApiKey,
    RouteRecord,
    RouteRow,
    RowError,
    Sighting,
    SightingRecord,
)
from storage.registry.registry import MAX_DEAD_LETTER_BODY, Registry
from storage.registry.validation import InvalidValue, format_field_map

__all__ = [
    "API_KEY_ROLES",
    "DEVICE_COLUMNS",
    "DEVICE_FIELDS",
    "DEVICE_STATUSES",
    "DOMAINS",
    "MAX_DEAD_LETTER_BODY",
    "ROUTE_COLUMNS",
    "ROUTE_FIELDS",
    "AlreadyRegistered",
    "ApiKeyRecord",
    "AuditRecord",
    "Catalogue",
    "ChangeRejected",
    "DeadLetter",
    "DeadLetterRecord",
    "DeviceDraft",
    "DeviceImport",
    "DeviceRecord",
    "DeviceRow",
    "DeviceStatus",
    "Domain",
    "FieldMapCheck",
    "FieldProblem",
    "ImportRejected",
    "InUse",
    "InvalidRegistryUrl",
    "InvalidValue",
    "NewApiKey",
    "NotRegistered",
    "Registry",
    "RegistryError",
    "RegistryUnavailable",
    "RouteDraft",
    "RouteImport",
    "RouteRecord",
    "RouteRow",
    "RowError",
    "SchemaNotCurrent",
    "Sighting",
    "SightingRecord",
    "format_field_map",
    "parse_device_csv",
    "parse_route_csv",
]
