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
from storage.registry.errors import (
    ImportRejected,
    InvalidRegistryUrl,
    RegistryError,
    RegistryUnavailable,
    SchemaNotCurrent,
)
from storage.registry.records import (
    DEVICE_STATUSES,
    DOMAINS,
    AuditRecord,
    DeadLetter,
    DeadLetterRecord,
    DeviceRecord,
    DeviceRow,
    DeviceStatus,
    Domain,
    RouteRecord,
    RouteRow,
    RowError,
    Sighting,
    SightingRecord,
)
from storage.registry.registry import MAX_DEAD_LETTER_BODY, Registry
from storage.registry.validation import InvalidValue, format_field_map

__all__ = [
    "DEVICE_COLUMNS",
    "DEVICE_STATUSES",
    "DOMAINS",
    "MAX_DEAD_LETTER_BODY",
    "ROUTE_COLUMNS",
    "AuditRecord",
    "DeadLetter",
    "DeadLetterRecord",
    "DeviceImport",
    "DeviceRecord",
    "DeviceRow",
    "DeviceStatus",
    "Domain",
    "ImportRejected",
    "InvalidRegistryUrl",
    "InvalidValue",
    "Registry",
    "RegistryError",
    "RegistryUnavailable",
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
