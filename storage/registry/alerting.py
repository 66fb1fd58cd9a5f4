"""What the alert engine and highways write: alerts and their events, route decisions,
treatments and notification subscriptions.

`Registry` opens the transaction and calls these. Changes people make (acknowledging,
logging a treatment, editing a subscription) are audited; what the engine does is
recorded in `alert_events` and `route_transitions` instead, which is its own history.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from storage.registry.conversions import audit_entry
from storage.registry.errors import ChangeRejected, NotRegistered
from storage.registry.models import (
    AlertEventModel,
    AlertModel,
    RouteModel,
    RouteStatusModel,
    RouteTransitionModel,
    SubscriptionModel,
    TreatmentModel,
)
from storage.registry.records import (
    AlertEventRecord,
    AlertRecord,
    AlertStatus,
    FieldProblem,
    NewAlert,
    NewSubscription,
    NewTreatment,
    RouteStatusRecord,
    RouteTransitionRecord,
    SubscriptionRecord,
    TreatmentRecord,
)

ENGINE = "engine"
Row = TypeVar("Row")
SEVERITIES = ("info", "warning", "critical")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_SUBSCRIPTION_FIELDS = frozenset(
    {"name", "target", "secret", "routes", "domains", "min_severity", "active"}
)

# -- alerts --------------------------------------------------------------------------------


def open_alerts(session: Session) -> list[AlertRecord]:
    query = select(AlertModel).where(AlertModel.status != "cleared").order_by(AlertModel.id)
    return [alert_record(model) for model in session.scalars(query)]


def raise_alert(session: Session, alert: NewAlert, *, now: datetime) -> AlertRecord | None:
    """Open an alert; None when an open alert with this key exists already (another
    replica raised it first): the partial unique index decides, not a read-then-write."""
    model = AlertModel(
        key=alert.key,
        rule=alert.rule,
        severity=alert.severity,
        status="raised",
        summary=alert.summary,
        explanation=dict(alert.explanation),
        route_id=alert.route_id,
        device_id=alert.device_id,
        domain=alert.domain,
        site=alert.site,
        raised_at=alert.at,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(model)
            session.flush()
    except IntegrityError:
        return None
    _event(session, model, "raised", alert.at, ENGINE)
    return alert_record(model)


def update_alert(
    session: Session,
    alert_id: int,
    *,
    severity: str,
    summary: str,
    explanation: Mapping[str, object],
    at: datetime,
    now: datetime,
) -> tuple[AlertRecord, bool]:
    """Bring an open alert's words up to date; returns it and whether its severity rose."""
    model = _open_alert(session, alert_id)
    escalated = SEVERITIES.index(severity) > SEVERITIES.index(model.severity)
    if escalated:
        model.severity = severity
    model.summary = summary
    model.explanation = dict(explanation)
    model.updated_at = now
    if escalated:
        _event(session, model, "escalated", at, ENGINE)
    return alert_record(model), escalated


def clear_alert(
    session: Session, alert_id: int, *, summary: str, at: datetime, now: datetime
) -> AlertRecord:
    model = _open_alert(session, alert_id)
    model.status = "cleared"
    model.cleared_at = at
    model.updated_at = now
    model.summary = summary
    _event(session, model, "cleared", at, ENGINE)
    return alert_record(model)


def acknowledge_alert(session: Session, alert_id: int, *, actor: str, at: datetime) -> AlertRecord:
    """A person has seen the alert; acknowledging twice keeps the first acknowledgement."""
    model = session.get(AlertModel, alert_id)
    if model is None:
        raise NotRegistered(f"no alert {alert_id}")
    if model.status == "cleared":
        raise ChangeRejected(
            [FieldProblem("status", f"alert {alert_id} is cleared already: nothing to acknowledge")]
        )
    if model.status == "acknowledged":
        return alert_record(model)
    before = alert_record(model)
    model.status = "acknowledged"
    model.acknowledged_at = at
    model.acknowledged_by = actor
    model.updated_at = at
    _event(session, model, "acknowledged", at, actor)
    after = alert_record(model)
    session.add(
        audit_entry(
            at=at,
            actor=actor,
            entity="alert",
            entity_id=str(alert_id),
            action="acknowledge",
            origin="edit",
            before=before,
            after=after,
        )
    )
    return after


def alerts_query(
    *,
    status: AlertStatus | None = None,
    open_only: bool = False,
    route_id: str | None = None,
    device_id: str | None = None,
    domain: str | None = None,
    rule: str | None = None,
) -> Select[AlertModel]:
    query = select(AlertModel).order_by(AlertModel.raised_at.desc(), AlertModel.id.desc())
    if open_only:
        query = query.where(AlertModel.status != "cleared")
    if status is not None:
        query = query.where(AlertModel.status == status)
    if route_id is not None:
        query = query.where(AlertModel.route_id == route_id)
    if device_id is not None:
        query = query.where(AlertModel.device_id == device_id)
    if domain is not None:
        query = query.where(AlertModel.domain == domain)
    if rule is not None:
        query = query.where(AlertModel.rule == rule)
    return query


def alert_events(session: Session, alert_id: int) -> list[AlertEventRecord]:
    query = (
        select(AlertEventModel)
        .where(AlertEventModel.alert_id == alert_id)
        .order_by(AlertEventModel.id)
    )
    return [
        AlertEventRecord(
            alert_id=m.alert_id,
            kind=m.kind,
            at=m.at,
            actor=m.actor,
            severity=m.severity,
            summary=m.summary,
        )
        for m in session.scalars(query)
    ]


def alert_record(model: AlertModel) -> AlertRecord:
    return AlertRecord(
        id=model.id,
        key=model.key,
        rule=model.rule,
        severity=model.severity,
        status=model.status,  # type: ignore[arg-type]  # the CHECK constraint holds it
        summary=model.summary,
        explanation=model.explanation,
        raised_at=model.raised_at,
        updated_at=model.updated_at,
        route_id=model.route_id,
        device_id=model.device_id,
        domain=model.domain,
        site=model.site,
        acknowledged_at=model.acknowledged_at,
        acknowledged_by=model.acknowledged_by,
        cleared_at=model.cleared_at,
    )


def _open_alert(session: Session, alert_id: int) -> AlertModel:
    model = session.get(AlertModel, alert_id)
    if model is None or model.status == "cleared":
        raise NotRegistered(f"no open alert {alert_id}")
    return model


def _event(session: Session, model: AlertModel, kind: str, at: datetime, actor: str) -> None:
    session.add(
        AlertEventModel(
            alert_id=model.id,
            kind=kind,
            at=at,
            actor=actor,
            severity=model.severity,
            summary=model.summary,
        )
    )


# -- route decisions -----------------------------------------------------------------------


def save_route_status(session: Session, status: RouteStatusRecord, *, now: datetime) -> bool:
    """Store a route's decision; a change of state or recommendation is also a transition.

    Returns whether it was a transition. A decision older than the stored one is
    ignored, so a slow replica cannot put an old state back.
    """
    model = session.get(RouteStatusModel, status.route_id, with_for_update=True)
    if model is not None and status.at < model.at:
        return False
    changed = (
        model is None
        or model.state != status.state
        or model.recommendation != status.recommendation
    )
    if model is None:
        model = RouteStatusModel(route_id=status.route_id)
        session.add(model)
    model.state = status.state
    model.recommendation = status.recommendation
    model.at = status.at
    model.explanation = status.explanation
    model.detail = dict(status.detail)
    model.updated_at = now
    if changed:
        session.add(
            RouteTransitionModel(
                route_id=status.route_id,
                at=status.at,
                state=status.state,
                recommendation=status.recommendation,
                explanation=status.explanation,
            )
        )
    return changed


def route_status_record(model: RouteStatusModel) -> RouteStatusRecord:
    return RouteStatusRecord(
        route_id=model.route_id,
        state=model.state,
        recommendation=model.recommendation,
        at=model.at,
        explanation=model.explanation,
        detail=model.detail,
    )


def transitions_query(
    route_id: str | None, since: datetime | None, until: datetime | None
) -> Select[RouteTransitionModel]:
    query = select(RouteTransitionModel).order_by(RouteTransitionModel.at, RouteTransitionModel.id)
    model = RouteTransitionModel
    return _route_and_window(query, model.route_id, route_id, model.at, since, until)


def transition_record(model: RouteTransitionModel) -> RouteTransitionRecord:
    return RouteTransitionRecord(
        route_id=model.route_id,
        at=model.at,
        state=model.state,
        recommendation=model.recommendation,
        explanation=model.explanation,
    )


def _route_and_window(
    query: Select[Row],
    route_column: InstrumentedAttribute[str],
    route_id: str | None,
    time_column: InstrumentedAttribute[datetime],
    since: datetime | None,
    until: datetime | None,
) -> Select[Row]:
    """Rows of one route (or all) whose time is in [since, until) (either end open)."""
    if route_id is not None:
        query = query.where(route_column == route_id)
    if since is not None:
        query = query.where(time_column >= since)
    if until is not None:
        query = query.where(time_column < until)
    return query


# -- treatments ----------------------------------------------------------------------------


def log_treatment(
    session: Session, treatment: NewTreatment, *, actor: str, at: datetime
) -> TreatmentRecord:
    problems = treatment_problems(treatment)
    if session.get(RouteModel, treatment.route_id) is None:
        problems.append(FieldProblem("route_id", f"route '{treatment.route_id}' is not registered"))
    if problems:
        raise ChangeRejected(problems)
    model = TreatmentModel(
        route_id=treatment.route_id,
        started_at=treatment.started_at,
        ended_at=treatment.ended_at,
        spread_rate_g_m2=treatment.spread_rate_g_m2,
        notes=treatment.notes,
        logged_by=actor,
        logged_at=at,
    )
    session.add(model)
    session.flush()
    record = treatment_record(model)
    session.add(
        audit_entry(
            at=at,
            actor=actor,
            entity="treatment",
            entity_id=str(model.id),
            action="create",
            origin="edit",
            before=None,
            after=record,
        )
    )
    return record


def treatment_problems(treatment: NewTreatment) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for name in ("started_at", "ended_at"):
        value = getattr(treatment, name)
        if value is not None and value.tzinfo is None:
            problems.append(FieldProblem(name, f"{name} must carry a time zone (e.g. Z)"))
    if (
        not problems
        and treatment.ended_at is not None
        and treatment.ended_at < treatment.started_at
    ):
        problems.append(FieldProblem("ended_at", "ended_at is before started_at"))
    rate = treatment.spread_rate_g_m2
    if rate is not None and not 0 < rate <= 100:
        problems.append(
            FieldProblem("spread_rate_g_m2", "spread_rate_g_m2 must be above 0 and at most 100")
        )
    if treatment.notes is not None and len(treatment.notes) > 2000:
        problems.append(FieldProblem("notes", "notes are limited to 2000 characters"))
    return problems


def delete_treatment(
    session: Session, treatment_id: int, *, actor: str, at: datetime
) -> TreatmentRecord:
    model = session.get(TreatmentModel, treatment_id)
    if model is None:
        raise NotRegistered(f"no treatment {treatment_id}")
    before = treatment_record(model)
    session.delete(model)
    session.add(
        audit_entry(
            at=at,
            actor=actor,
            entity="treatment",
            entity_id=str(treatment_id),
            action="delete",
            origin="edit",
            before=before,
            after=None,
        )
    )
    return before


def treatments_query(
    route_id: str | None, since: datetime | None, until: datetime | None
) -> Select[TreatmentModel]:
    query = select(TreatmentModel).order_by(TreatmentModel.started_at, TreatmentModel.id)
    model = TreatmentModel
    return _route_and_window(query, model.route_id, route_id, model.started_at, since, until)


def treatment_record(model: TreatmentModel) -> TreatmentRecord:
    return TreatmentRecord(
        id=model.id,
        route_id=model.route_id,
        started_at=model.started_at,
        ended_at=model.ended_at,
        spread_rate_g_m2=model.spread_rate_g_m2,
        notes=model.notes,
        logged_by=model.logged_by,
        logged_at=model.logged_at,
    )


# -- subscriptions -------------------------------------------------------------------------


def create_subscription(
    session: Session, new: NewSubscription, *, actor: str, at: datetime
) -> SubscriptionRecord:
    problems = subscription_problems(new)
    if problems:
        raise ChangeRejected(problems)
    model = SubscriptionModel(created_at=at, updated_at=at)
    _fill_subscription(model, new)
    session.add(model)
    session.flush()
    record = subscription_record(model)
    session.add(_subscription_audit(at, actor, record.id, "create", None, record))
    return record


def update_subscription(
    session: Session,
    subscription_id: int,
    changes: Mapping[str, Any],
    *,
    actor: str,
    at: datetime,
) -> SubscriptionRecord:
    model = session.get(SubscriptionModel, subscription_id)
    if model is None:
        raise NotRegistered(f"no subscription {subscription_id}")
    unknown = sorted(set(changes) - _SUBSCRIPTION_FIELDS)
    if unknown:
        raise ChangeRejected(
            [FieldProblem(name, f"'{name}' cannot be changed") for name in unknown]
        )
    before = subscription_record(model)
    merged = replace(_as_new(before), **dict(changes))
    problems = subscription_problems(merged)
    if problems:
        raise ChangeRejected(problems)
    _fill_subscription(model, merged)
    model.updated_at = at
    after = subscription_record(model)
    session.add(_subscription_audit(at, actor, subscription_id, "update", before, after))
    return after


def delete_subscription(
    session: Session, subscription_id: int, *, actor: str, at: datetime
) -> SubscriptionRecord:
    model = session.get(SubscriptionModel, subscription_id)
    if model is None:
        raise NotRegistered(f"no subscription {subscription_id}")
    before = subscription_record(model)
    session.delete(model)
    session.add(_subscription_audit(at, actor, subscription_id, "delete", before, None))
    return before


def subscription_problems(new: NewSubscription) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if not new.name.strip() or len(new.name) > 200:
        problems.append(FieldProblem("name", "name must be 1 to 200 characters"))
    if new.min_severity not in SEVERITIES:
        problems.append(
            FieldProblem("min_severity", f"min_severity must be one of {', '.join(SEVERITIES)}")
        )
    if new.channel == "webhook":
        parts = urlsplit(new.target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(FieldProblem("target", "a webhook target must be an http(s) URL"))
        if not new.secret or len(new.secret) < 16:
            problems.append(
                FieldProblem("secret", "a webhook needs a signing secret of at least 16 characters")
            )
    elif new.channel == "email":
        if not _EMAIL.match(new.target):
            problems.append(FieldProblem("target", "an e-mail target must be an address"))
    else:
        problems.append(FieldProblem("channel", "channel must be 'webhook' or 'email'"))
    for name, values in (("routes", new.routes), ("domains", new.domains)):
        if any(not isinstance(v, str) or not v or len(v) > 64 for v in values):
            problems.append(FieldProblem(name, f"{name} must be a list of ids"))
    return problems


def subscription_record(model: SubscriptionModel) -> SubscriptionRecord:
    return SubscriptionRecord(
        id=model.id,
        name=model.name,
        channel=model.channel,  # type: ignore[arg-type]  # the CHECK constraint holds it
        target=model.target,
        secret=model.secret,
        routes=tuple(model.routes),
        domains=tuple(model.domains),
        min_severity=model.min_severity,
        active=model.active,
    )


def _fill_subscription(model: SubscriptionModel, new: NewSubscription) -> None:
    model.name = new.name.strip()
    model.channel = new.channel
    model.target = new.target
    model.secret = new.secret
    model.routes = list(new.routes)
    model.domains = list(new.domains)
    model.min_severity = new.min_severity
    model.active = new.active


def _as_new(record: SubscriptionRecord) -> NewSubscription:
    return NewSubscription(
        name=record.name,
        channel=record.channel,
        target=record.target,
        secret=record.secret,
        routes=record.routes,
        domains=record.domains,
        min_severity=record.min_severity,
        active=record.active,
    )


def _subscription_audit(
    at: datetime,
    actor: str,
    subscription_id: int,
    action: str,
    before: SubscriptionRecord | None,
    after: SubscriptionRecord | None,
) -> Any:
    return audit_entry(
        at=at,
        actor=actor,
        entity="subscription",
        entity_id=str(subscription_id),
        action=action,
        origin="edit",
        before=before,
        after=after,
    )
