"""Route decisions, alerts, treatments, season reports and subscriptions as the API shows them.

Every time is ISO 8601 in UTC. Requests refuse unknown fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from storage.registry import (
    AlertEventRecord,
    AlertRecord,
    RouteStatusRecord,
    RouteTransitionRecord,
    SubscriptionRecord,
    TreatmentRecord,
)

StateName = Literal["CLEAR", "MARGINAL", "FREEZING", "ICE_LIKELY", "UNKNOWN"]
RecommendationName = Literal["NO_ACTION", "MONITOR", "TREAT"]
SeverityName = Literal["info", "warning", "critical"]
AlertStatusName = Literal["raised", "acknowledged", "cleared"]

_EXPLANATION = (
    "TREAT: sensor rst-bank-road-lower reads +0.6 °C at 02:10 and is forecast to reach "
    "−1.2 °C by 04:40 (Newton cooling fit on 14 readings); below +1.0 °C (MARGINAL)."
)


# -- route decisions -------------------------------------------------------------------------


class RouteStatus(BaseModel):
    """A route's current state and recommendation with the words a duty officer reads."""

    route_id: str = Field(examples=["matlock-bank"])
    name: str | None = Field(default=None, examples=["Bank Road and Smedley Street"])
    priority: int | None = Field(default=None, examples=[1])
    state: StateName = Field(examples=["MARGINAL"])
    recommendation: RecommendationName = Field(examples=["TREAT"])
    at: datetime | None = Field(description="Data time of the decision.")
    explanation: str = Field(examples=[_EXPLANATION])
    detail: dict[str, Any] = Field(
        description="The decision in full: each sensor's state, latest reading, dew point, "
        "prediction (model, predicted minimum and when), silent sensors."
    )

    @classmethod
    def of(
        cls, record: RouteStatusRecord, name: str | None = None, priority: int | None = None
    ) -> RouteStatus:
        return cls(
            route_id=record.route_id,
            name=name,
            priority=priority,
            state=record.state,
            recommendation=record.recommendation,
            at=record.at,
            explanation=record.explanation,
            detail=dict(record.detail),
        )


class Board(BaseModel):
    """Every route, highest priority first: what the gritting board shows."""

    count: int
    routes: list[RouteStatus]


class Transition(BaseModel):
    at: datetime
    state: StateName
    recommendation: RecommendationName
    explanation: str

    @classmethod
    def of(cls, record: RouteTransitionRecord) -> Transition:
        return cls(
            at=record.at,
            state=record.state,
            recommendation=record.recommendation,
            explanation=record.explanation,
        )


class TransitionList(BaseModel):
    route_id: str
    count: int
    transitions: list[Transition]


# -- alerts ----------------------------------------------------------------------------------


class AlertStep(BaseModel):
    kind: Literal["raised", "escalated", "acknowledged", "cleared"]
    at: datetime
    actor: str = Field(description="`engine` for the rules, or the key that acted.")
    severity: SeverityName
    summary: str

    @classmethod
    def of(cls, record: AlertEventRecord) -> AlertStep:
        return cls(
            kind=record.kind,
            at=record.at,
            actor=record.actor,
            severity=record.severity,
            summary=record.summary,
        )


class Alert(BaseModel):
    """An alert: one episode of a condition, from raised to cleared."""

    id: int = Field(examples=[42])
    key: str = Field(
        description="The condition's stable name; at most one open alert per key.",
        examples=["gritting:matlock-bank"],
    )
    rule: str = Field(examples=["gritting"])
    severity: SeverityName = Field(examples=["critical"])
    status: AlertStatusName = Field(examples=["raised"])
    summary: str = Field(examples=["matlock-bank: TREAT"])
    explanation: dict[str, Any]
    route_id: str | None = Field(examples=["matlock-bank"])
    device_id: str | None = Field(examples=[None])
    domain: str | None = Field(examples=["road"])
    site: str | None = Field(examples=[None])
    raised_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    cleared_at: datetime | None
    history: list[AlertStep] | None = Field(
        default=None, description="Every step of the alert's life (single-alert reads only)."
    )

    @classmethod
    def of(cls, record: AlertRecord, history: list[AlertEventRecord] | None = None) -> Alert:
        return cls(
            id=record.id,
            key=record.key,
            rule=record.rule,
            severity=record.severity,
            status=record.status,
            summary=record.summary,
            explanation=dict(record.explanation),
            route_id=record.route_id,
            device_id=record.device_id,
            domain=record.domain,
            site=record.site,
            raised_at=record.raised_at,
            updated_at=record.updated_at,
            acknowledged_at=record.acknowledged_at,
            acknowledged_by=record.acknowledged_by,
            cleared_at=record.cleared_at,
            history=None if history is None else [AlertStep.of(e) for e in history],
        )


class AlertList(BaseModel):
    count: int
    alerts: list[Alert]


# -- treatments ------------------------------------------------------------------------------


class NewTreatmentBody(BaseModel):
    """A gritting run to log."""

    model_config = ConfigDict(extra="forbid")

    route_id: str = Field(examples=["matlock-bank"])
    started_at: datetime = Field(examples=["2026-01-14T03:10:00Z"])
    ended_at: datetime | None = Field(default=None, examples=["2026-01-14T04:25:00Z"])
    spread_rate_g_m2: float | None = Field(
        default=None, description="Grams of salt per m²; empty: the route's rate.", examples=[10]
    )
    notes: str | None = Field(default=None, max_length=2000, examples=["Both directions"])


class Treatment(BaseModel):
    id: int
    route_id: str
    started_at: datetime
    ended_at: datetime | None
    spread_rate_g_m2: float | None
    notes: str | None
    logged_by: str
    logged_at: datetime

    @classmethod
    def of(cls, record: TreatmentRecord) -> Treatment:
        return cls(
            id=record.id,
            route_id=record.route_id,
            started_at=record.started_at,
            ended_at=record.ended_at,
            spread_rate_g_m2=record.spread_rate_g_m2,
            notes=record.notes,
            logged_by=record.logged_by,
            logged_at=record.logged_at,
        )


class TreatmentList(BaseModel):
    count: int
    treatments: list[Treatment]


# -- subscriptions ---------------------------------------------------------------------------


class _SubscriptionFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routes: list[str] = Field(
        default_factory=list, description="Only these routes; empty: all.", examples=[[]]
    )
    domains: list[str] = Field(
        default_factory=list, description="Only these domains; empty: all.", examples=[["road"]]
    )
    min_severity: SeverityName = Field(default="warning", examples=["critical"])
    active: bool = True


class NewSubscriptionBody(_SubscriptionFields):
    """Where to send which alerts: a webhook (signed with `secret`) or an e-mail address."""

    name: str = Field(min_length=1, max_length=200, examples=["Control room"])
    channel: Literal["webhook", "email"] = Field(examples=["webhook"])
    target: str = Field(max_length=2000, examples=["https://control-room.example.org/wherry-hook"])
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="HMAC-SHA256 signing secret for webhooks (at least 16 characters). "
        "Never shown back.",
    )


class SubscriptionChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    target: str | None = Field(default=None, max_length=2000)
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    routes: list[str] | None = None
    domains: list[str] | None = None
    min_severity: SeverityName | None = None
    active: bool | None = None


class Subscription(BaseModel):
    id: int
    name: str
    channel: Literal["webhook", "email"]
    target: str
    has_secret: bool = Field(description="Whether a signing secret is set (it is never shown).")
    routes: list[str]
    domains: list[str]
    min_severity: SeverityName
    active: bool

    @classmethod
    def of(cls, record: SubscriptionRecord) -> Subscription:
        return cls(
            id=record.id,
            name=record.name,
            channel=record.channel,
            target=record.target,
            has_secret=bool(record.secret),
            routes=list(record.routes),
            domains=list(record.domains),
            min_severity=record.min_severity,
            active=record.active,
        )


class SubscriptionList(BaseModel):
    count: int
    subscriptions: list[Subscription]
