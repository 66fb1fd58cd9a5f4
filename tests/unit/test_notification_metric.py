"""A notification that failed its last try is a dead letter and shows at /metrics, so
Prometheus can alert on it (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path

from api.metrics import Metrics
from gateway_bridge.counters import Counters
from storage.registry import Registry
from tests.alerts.notify.receivers import alert_event, subscription
from wherry.alerting import _dead_letter


def test_a_failed_notification_is_kept_and_counted_for_prometheus(tmp_path: Path) -> None:
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.migrate()
    counters = Counters()

    _dead_letter(registry, counters)(subscription("https://x.example"), alert_event(), "503")

    assert registry.dead_letter_counts() == {"notification_failed": 1}
    exposition = Metrics(counters, dict).exposition().decode()
    assert 'wherry_dead_letters_total{reason="notification_failed"} 1.0' in exposition
    registry.close()
