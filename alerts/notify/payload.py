"""The JSON body of an alert event: one shape for webhooks, e-mail and the live stream.

Receivers script against this shape (docs/notifications.md documents it), so it
changes only by adding fields; `version` moves if a field ever changes meaning.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum

from alerts.model import AlertEvent

PAYLOAD_VERSION = 1


def alert_payload(event: AlertEvent) -> dict[str, object]:
    """The event as a JSON-ready dict: the alert's fields flat, times ISO 8601 UTC.

    `route_id` and `domain` sit at the top level, as in `route` stream events, so one
    filter serves both kinds of event.
    """
    alert = event.alert
    return {
        "version": PAYLOAD_VERSION,
        "event": event.kind,
        "at": iso_utc(event.at),
        "alert_id": alert.id,
        "key": alert.key,
        "rule": alert.rule,
        "severity": alert.severity,
        "status": alert.status,
        "summary": alert.summary,
        "explanation": json_ready(alert.explanation),
        "route_id": alert.route_id,
        "device_id": alert.device_id,
        "domain": alert.domain,
        "site": alert.site,
        "raised_at": iso_utc(alert.raised_at),
        "updated_at": iso_utc(alert.updated_at),
        "acknowledged_at": iso_utc(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "cleared_at": iso_utc(alert.cleared_at),
    }


def encode(payload: Mapping[str, object]) -> bytes:
    """Compact UTF-8 JSON; the exact bytes a webhook signs and a receiver verifies."""
    ready = json_ready(payload)
    return json.dumps(ready, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def iso_utc(moment: datetime | None) -> str | None:
    """`2026-01-12T03:14:00Z`; a naive time is taken to be UTC already (the registry's clock)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_ready(value: object) -> object:
    """`value` with mappings and sequences copied and times, enums, NaN and others made JSON-safe.

    A rule's explanation is meant to be JSON already; this keeps one odd value (a
    datetime, a tuple) from costing a duty officer the whole notification.
    """
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # NaN is not JSON
    if value is None or isinstance(value, bool | int | str):
        return value
    return _fallback(value)


def _fallback(value: object) -> object:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(str(item) for item in value)
    return str(value)
