"""The alert book: rule conditions become alerts with a lifecycle, each episode raised once.

Rules say what is wrong now; the book remembers what has been said. A condition
that is active and has no open alert raises one; one that rises in severity
escalates it; one that is no longer active clears it. Open alerts live in the
registry, so after a restart a condition still active finds its alert and is not
announced again; the registry's partial unique index does the same across replicas.

With several processes, only the holder of the alert lease keeps a book, and it
writes under that lease (`fence`): once another process has taken over, every
write fails with `LeaseLost` and nothing more is announced from here.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from alerts.model import AlertEvent, Condition
from storage.registry import AlertRecord, LeaseLost, LeaseRecord, NewAlert, Registry, RegistryError

log = logging.getLogger(__name__)


class AlertBook:
    def __init__(self, registry: Registry, *, fence: LeaseRecord | None = None) -> None:
        self._registry = registry
        self._fence = fence
        self._open: dict[str, AlertRecord] = {a.key: a for a in registry.open_alerts()}
        self._unsaved: dict[str, Condition] = {}

    @property
    def open_alerts(self) -> list[AlertRecord]:
        return list(self._open.values())

    def apply(self, condition: Condition) -> AlertEvent | None:
        """Record a condition; the event to announce, if it is news.

        If the registry is unreachable the condition is kept and tried again by
        `retry_unsaved`, so an outage delays an alert but never loses it. `LeaseLost`
        is raised, not kept: the process now holding the lease decides instead.
        """
        try:
            event = self._apply(condition)
        except LeaseLost:
            raise
        except RegistryError as exc:
            log.error("alert %s not saved, will retry: %s", condition.key, exc)
            self._unsaved[condition.key] = condition
            return None
        self._unsaved.pop(condition.key, None)
        return event

    def retry_unsaved(self) -> list[AlertEvent]:
        events = []
        for condition in list(self._unsaved.values()):
            event = self.apply(condition)
            if event is not None:
                events.append(event)
        return events

    def acknowledged(self, alert: AlertRecord) -> AlertEvent:
        """A person acknowledged `alert` (through the API): keep the book in step."""
        if alert.key in self._open and self._open[alert.key].id == alert.id:
            self._open[alert.key] = alert
        return AlertEvent("acknowledged", alert, alert.updated_at)

    def _apply(self, condition: Condition) -> AlertEvent | None:
        at = datetime.fromtimestamp(condition.at_ns / 1e9, UTC)
        current = self._open.get(condition.key)
        if not condition.active:
            if current is None:
                return None
            cleared = self._registry.clear_alert(
                current.id, summary=condition.summary, at=at, fence=self._fence
            )
            del self._open[condition.key]
            return AlertEvent("cleared", cleared, at)
        if current is None:
            raised = self._registry.raise_alert(_new_alert(condition, at), fence=self._fence)
            if raised is None:  # another replica raised it first: take theirs, say nothing
                self._open.update({a.key: a for a in self._registry.open_alerts()})
                return None
            self._open[condition.key] = raised
            return AlertEvent("raised", raised, at)
        updated, escalated = self._registry.update_alert(
            current.id,
            severity=condition.severity.value,
            summary=condition.summary,
            explanation=condition.explanation,
            at=at,
            fence=self._fence,
        )
        self._open[condition.key] = updated
        return AlertEvent("escalated", updated, at) if escalated else None


def _new_alert(condition: Condition, at: datetime) -> NewAlert:
    return NewAlert(
        key=condition.key,
        rule=condition.rule,
        severity=condition.severity.value,
        summary=condition.summary,
        explanation=condition.explanation,
        at=at,
        route_id=condition.route_id,
        device_id=condition.device_id,
        domain=condition.domain,
        site=condition.site,
    )
