"""Where readings live: one `ReadingStore` protocol, InfluxDB and SQLite behind it.

Open a store from its URL with `open_store`; see `docs/stores.md`.
"""

from storage.errors import StoreError, StoreRejected, StoreUnavailable
from storage.influx import InfluxStore
from storage.line_protocol import InvalidPoint, check_point
from storage.open import InfluxSpec, SQLiteSpec, StoreSpec, open_store, parse_store_url, redact_url
from storage.points import FieldValue, Point
from storage.readings import ReadingStore
from storage.sqlite import SQLiteStore

__all__ = [
    "FieldValue",
    "InfluxSpec",
    "InfluxStore",
    "InvalidPoint",
    "Point",
    "ReadingStore",
    "SQLiteSpec",
    "SQLiteStore",
    "StoreError",
    "StoreRejected",
    "StoreSpec",
    "StoreUnavailable",
    "check_point",
    "open_store",
    "parse_store_url",
    "redact_url",
]
