"""How what the bridge reports is written: unregistered sightings and dead letters.

Both arrive in batches at the pipeline's pace, so each batch becomes one statement,
and the text in them comes from the outside world, so it is made safe for any database.
"""

import hashlib
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, case, func
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.registry.models import SightingModel
from storage.registry.records import DeadLetter, Sighting
from storage.registry.validation import InvalidValue, parse_dev_eui

MAX_DEAD_LETTER_BODY = 64 * 1024
"""Bytes of a dead letter's body that are kept; size and sha256 describe the whole."""

_MAX_TOPIC = 1024
_MAX_DETAIL = 4096
_MAX_REASON = 64
_MAX_NETWORK = 32
_SIGHTINGS = cast(Table, SightingModel.__table__)


def sighting_upsert(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO UPDATE adding counts and keeping the newest uplink's details."""
    table = _SIGHTINGS
    insert = postgresql_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    new, old = insert.excluded, table.c
    newer: ColumnElement[bool] = new.last_seen_ns >= old.last_seen_ns

    def latest(column: str, *, keep_known: bool = False) -> ColumnElement[Any]:
        incoming = func.coalesce(new[column], old[column]) if keep_known else new[column]
        return case((newer, incoming), else_=old[column])

    return insert.on_conflict_do_update(
        index_elements=[old.network, old.device_id],
        set_={
            "uplink_count": old.uplink_count + new.uplink_count,
            "first_seen_ns": case(
                (new.first_seen_ns < old.first_seen_ns, new.first_seen_ns),
                else_=old.first_seen_ns,
            ),
            "last_seen_ns": latest("last_seen_ns"),
            "f_port": latest("f_port"),
            "payload": latest("payload"),
            "application_id": latest("application_id", keep_known=True),
            "dev_eui": latest("dev_eui", keep_known=True),
        },
    )


def fold_sightings(sightings: Sequence[Sighting]) -> dict[tuple[str, str], dict[str, Any]]:
    """One row per (network, device_id): PostgreSQL refuses to update a row twice in one INSERT."""
    folded: dict[tuple[str, str], dict[str, Any]] = {}
    for sighting in sightings:
        network = clean_text(sighting.network, _MAX_NETWORK)
        device_id = clean_text(sighting.device_id, None)
        seen = int(sighting.seen_at_ns)
        application_id = clean_text(sighting.application_id, None) or None
        dev_eui = _normalised_eui(sighting.dev_eui)
        row = folded.get((network, device_id))
        if row is None:
            folded[(network, device_id)] = {
                "network": network,
                "device_id": device_id,
                "application_id": application_id,
                "dev_eui": dev_eui,
                "uplink_count": 1,
                "first_seen_ns": seen,
                "last_seen_ns": seen,
                "f_port": sighting.f_port,
                "payload": bytes(sighting.payload),
            }
            continue
        row["uplink_count"] += 1
        row["first_seen_ns"] = min(row["first_seen_ns"], seen)
        if seen >= row["last_seen_ns"]:
            row["last_seen_ns"] = seen
            row["f_port"] = sighting.f_port
            row["payload"] = bytes(sighting.payload)
            row["application_id"] = application_id or row["application_id"]
            row["dev_eui"] = dev_eui or row["dev_eui"]
    return folded


def dead_letter_row(letter: DeadLetter) -> dict[str, Any]:
    """The row kept for a dead letter: its first 64 KiB, and the whole body's size and sha256."""
    body = bytes(letter.body)
    return {
        "arrived_ns": int(letter.arrived_ns),
        "topic": clean_text(letter.topic, _MAX_TOPIC),
        "reason": clean_text(letter.reason, _MAX_REASON) or "unknown",
        "detail": clean_text(letter.detail, _MAX_DETAIL),
        "body": body[:MAX_DEAD_LETTER_BODY],
        "body_size": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "truncated": len(body) > MAX_DEAD_LETTER_BODY,
    }


def _normalised_eui(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return parse_dev_eui(value)
    except InvalidValue:
        return clean_text(value, 64) or None


def clean_text(value: str | None, limit: int | None) -> str:
    """Text any database accepts: no NUL (PostgreSQL refuses it), no lone surrogates, capped."""
    if value is None:
        return ""
    cleaned = (
        str(value).encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    )
    if limit is not None and len(cleaned) > limit:
        return cleaned[: limit - 1] + "…"
    return cleaned
