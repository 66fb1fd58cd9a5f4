"""The event body every channel sends: its fields, its times, and that the doc lists them all."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from alerts.notify.payload import alert_payload, encode
from alerts.notify.retry import RetryPolicy
from tests.alerts.notify.receivers import alert_event

DOC = Path(__file__).resolve().parents[3] / "docs" / "notifications.md"


def test_the_body_carries_the_alert_flat_with_utc_times() -> None:
    event = alert_event("raised")
    body = alert_payload(event)
    assert body["version"] == 1
    assert body["event"] == "raised"
    assert body["alert_id"] == 42
    assert body["key"] == "gritting:R12"
    assert (body["rule"], body["severity"], body["status"]) == ("gritting", "critical", "raised")
    assert body["summary"] == "TREAT R12 Matlock A6"
    assert (body["route_id"], body["domain"], body["site"], body["device_id"]) == (
        "R12", "road", "Matlock", None,
    )  # fmt: skip
    assert body["at"] == body["raised_at"] == "2026-01-12T03:14:05Z"
    assert body["cleared_at"] is None
    assert body["explanation"] == {
        "state": "ICE_LIKELY",
        "deciding_sensor": "rst-12a",
        "latest_c": -0.4,
        "predicted_minimum_c": -1.2,
        "silent": ["rst-12c"],
    }


def test_times_in_other_zones_and_naive_times_come_out_as_utc() -> None:
    event = alert_event("cleared")
    plus_one = timezone(timedelta(hours=1))
    alert = replace(
        event.alert,
        cleared_at=datetime(2026, 1, 12, 8, 0, tzinfo=plus_one),
        updated_at=datetime(2026, 1, 12, 7, 0, 0, 250_000),  # naive: the registry's UTC
    )
    body = alert_payload(replace(event, alert=alert))
    assert body["cleared_at"] == "2026-01-12T07:00:00Z"
    assert body["updated_at"] == "2026-01-12T07:00:00.250000Z"


def test_an_odd_explanation_value_does_not_cost_the_notification() -> None:
    event = alert_event()
    odd = {
        "at": datetime(2026, 1, 12, 3, 0, tzinfo=UTC),
        "sensors": ("a", "b"),
        "minimum": float("nan"),
        "policy": RetryPolicy(attempts=2),
        "nested": {"ok": True, "when": datetime(2026, 1, 12, tzinfo=UTC)},
    }
    body = encode(alert_payload(replace(event, alert=replace(event.alert, explanation=odd))))
    parsed = json.loads(body)["explanation"]
    assert parsed["at"] == "2026-01-12T03:00:00Z"
    assert parsed["sensors"] == ["a", "b"]
    assert parsed["minimum"] is None
    assert parsed["policy"].startswith("RetryPolicy(")
    assert parsed["nested"] == {"ok": True, "when": "2026-01-12T00:00:00Z"}


def test_encoding_is_compact_utf8() -> None:
    event = alert_event(summary="TREAT R12 Matlock — A6 ❄")
    body = encode(alert_payload(event))
    assert b"\n" not in body and b", " not in body
    assert "— A6 ❄".encode() in body


def test_the_doc_lists_every_field_of_the_body() -> None:
    table = DOC.read_text().split("## The event body", 1)[1].split("## Webhooks", 1)[0]
    documented = re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)
    assert documented == list(alert_payload(alert_event()))
