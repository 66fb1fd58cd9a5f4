"""Wiring of the alert engine: plans and rules from the registry and settings; news out to the
registry, the live stream and the notifiers.

The engine itself (`alerts/engine.py`) knows none of these: this module is the only
place that decides where a route decision is kept and who hears about an alert.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from alerts.book import AlertBook
from alerts.engine import AlertEngine
from alerts.gritting import GrittingEngine, RoutePlan, decision_json
from alerts.model import AlertEvent, Condition, Observation, RouteDecision, Rule, Severity
from alerts.notify.broadcast import Broadcaster
from alerts.notify.dispatch import Dispatcher
from alerts.notify.email import EmailSender, SmtpOptions
from alerts.notify.payload import alert_payload, encode
from alerts.notify.retry import RetryPolicy
from alerts.notify.webhook import WebhookOptions, WebhookSender
from alerts.plans import route_sensors
from alerts.policy import GrittingPolicy, PolicyError, load_policy
from alerts.rules import DeviceHealth
from alerts.rules.config import RulesConfig, build_rules, load_rules
from gateway_bridge.batcher import Batcher
from gateway_bridge.points import READING
from storage import ReadingStore
from storage.points import Point
from storage.registry import (
    DeadLetter,
    DeviceRecord,
    Registry,
    RegistryError,
    RouteRecord,
    RouteStatusRecord,
    SubscriptionRecord,
)
from wherry.settings import Settings

log = logging.getLogger(__name__)


class RegistryOutbox:
    """Route decisions go to the live stream at once and to the registry (every replica reads
    them there) on a writer thread of their own, in order, batched, and retried while the
    registry is away; alert events go to the dispatcher, which streams and sends them.

    The engine's thread never waits for a route's registry write: under load those writes
    were a third of its time and held up every route behind them.
    """

    def __init__(self, registry: Registry, broadcaster: Broadcaster, dispatcher: Dispatcher):
        self._broadcaster = broadcaster
        self._dispatcher = dispatcher
        self._statuses: Batcher[RouteStatusRecord] = Batcher(
            "route-status",
            registry.save_route_statuses,
            on_rejected=_status_lost,
            max_items=500,
            max_delay=0.05,
        )
        self._statuses.start()

    def route_changed(self, decision: RouteDecision) -> None:
        detail = decision_json(decision)
        self._broadcaster.publish("route", detail)
        status = RouteStatusRecord(
            route_id=decision.route_id,
            state=decision.state.value,
            recommendation=decision.recommendation.value,
            at=_utc(decision.at_ns),
            explanation=decision.explanation,
            detail=detail,
        )
        self._statuses.submit([status])

    def alert_event(self, event: AlertEvent) -> None:
        self._dispatcher.dispatch(event)

    def close(self, timeout: float = 10.0) -> bool:
        """Write the decisions still queued; False if the registry did not take them in time."""
        return self._statuses.close(timeout)


def _status_lost(status: RouteStatusRecord, exc: Exception) -> None:
    log.error("route %s decision not saved: %s", status.route_id, exc)


@dataclass
class Alerting:
    """The running engine and its outlets; `announce` is what the API calls."""

    engine: AlertEngine
    outbox: RegistryOutbox
    broadcaster: Broadcaster
    dispatcher: Dispatcher

    def announce(self, event: AlertEvent) -> None:
        if event.kind == "acknowledged":
            self.engine.book.acknowledged(event.alert)
        self.dispatcher.dispatch(event)

    def close(self, timeout: float = 10.0) -> None:
        self.engine.stop(timeout)
        self.outbox.close(timeout)
        self.dispatcher.close(timeout)
        self.broadcaster.close()


def default_policy(settings: Settings) -> GrittingPolicy:
    if settings.policy_file is None:
        return GrittingPolicy()
    return load_policy(settings.policy_file)


def rules_config(settings: Settings) -> RulesConfig:
    return RulesConfig() if settings.rules_file is None else load_rules(settings.rules_file)


def route_plans(
    routes: Sequence[RouteRecord], devices: Sequence[DeviceRecord], policy: GrittingPolicy
) -> list[RoutePlan]:
    """Each route with its policy (the route's overrides over `policy`) and its road sensors
    among the active `devices`.

    A route whose overrides are broken keeps the base policy, loudly: a typo in one
    route's settings must not take its decisions away.
    """
    sensors = route_sensors(devices)
    plans = []
    for route in routes:
        try:
            route_policy = policy.with_overrides(route.policy, source=f"route {route.route_id}")
        except PolicyError as exc:
            log.error("%s; using the default policy for this route", exc)
            route_policy = policy
        plans.append(
            RoutePlan(route.route_id, route_policy, sensors.get(route.route_id, frozenset()))
        )
    return plans


def build_alerting(settings: Settings, registry: Registry, store: ReadingStore) -> Alerting:
    """Build and start the engine, warmed up with the last hours of readings."""
    policy = default_policy(settings)
    rules = build_rules(rules_config(settings))
    book = AlertBook(registry)
    _resume(rules, book)
    reader = RegistryReader(registry, policy, rules)
    broadcaster = Broadcaster()
    dispatcher = Dispatcher(
        registry.subscriptions,
        webhook=WebhookSender(_webhook_options(settings), retry=_retry_policy(settings)),
        email=_email(settings),
        broadcaster=broadcaster,
        on_failed=_dead_letter(registry),
    )
    outbox = RegistryOutbox(registry, broadcaster, dispatcher)
    engine = AlertEngine(
        GrittingEngine(reader()),
        rules,
        book,
        outbox,
        plans=reader,
    )
    reader.report = engine.report
    warm_up(engine, store, hours=settings.alert_warmup_hours)
    engine.start()
    return Alerting(engine, outbox, broadcaster, dispatcher)


def warm_up(engine: AlertEngine, store: ReadingStore, *, hours: float) -> None:
    """Replay the last `hours` of stored readings so a restart has its trends back."""
    now_ns = time.time_ns()
    try:
        points = store.query(READING, start_ns=now_ns - int(hours * 3600e9), limit=500_000)
    except Exception as exc:  # the store may be down at start: the spool covers writes
        log.warning("alert engine starts cold (readings store: %s)", exc)
        points = []
    count = engine.warm_up((_observation(point) for point in points), now_ns)
    log.info("alert engine warmed up on %d readings from the last %g h", count, hours)


def _observation(point: Point) -> Observation:
    tags = point.tags
    return Observation(
        device_id=tags.get("device_id", ""),
        time_ns=point.time_ns,
        domain=tags.get("domain", "other"),
        route_id=tags.get("route"),
        site=tags.get("site"),
        values={k: float(v) for k, v in point.fields.items() if isinstance(v, int | float)},
    )


def _resume(rules: Sequence[Rule], book: AlertBook) -> None:
    """Tell each rule which of its alerts are open, so it can clear those that ended."""
    open_alerts = [
        (a.key, Severity(a.severity), int(a.raised_at.timestamp() * 1e9)) for a in book.open_alerts
    ]
    for rule in rules:
        rule.resume(open_alerts)


class RegistryReader:
    """What the engine calls every minute, on its own thread: the routes to decide and the
    devices to watch, afresh. A device retired since the last look stops being watched and
    its health alerts clear (`report` hands those to the engine)."""

    def __init__(self, registry: Registry, policy: GrittingPolicy, rules: Sequence[Rule]):
        self._registry = registry
        self._policy = policy
        self._health = [rule for rule in rules if isinstance(rule, DeviceHealth)]
        self._watched: set[str] = set()
        self.report: Callable[[Condition], None] = lambda condition: None

    def __call__(self) -> list[RoutePlan]:
        devices = [d for d in self._registry.devices() if d.status == "active"]
        active = {d.device_id for d in devices}
        for health in self._health:
            for gone in self._watched - active:
                for condition in health.forget(gone, time.time_ns()):
                    self.report(condition)
            health.track((d.device_id, d.domain, d.route_id, d.site) for d in devices)
        self._watched = active
        return route_plans(self._registry.routes(), devices, self._policy)


def _dead_letter(registry: Registry) -> Callable[[SubscriptionRecord, AlertEvent, str], None]:
    """A notification that failed its last try is kept where engineers look: dead letters."""

    def failed(subscription: SubscriptionRecord, event: AlertEvent, reason: str) -> None:
        log.error(
            "alert %s not delivered to subscription %s (%s): %s",
            event.alert.key,
            subscription.id,
            subscription.channel,
            reason,
        )
        letter = DeadLetter(
            arrived_ns=time.time_ns(),
            topic=f"notify:{subscription.channel}:{subscription.id}",
            reason="notification_failed",
            detail=reason,
            body=encode(alert_payload(event)),
        )
        try:
            registry.record_dead_letters([letter])
        except RegistryError as exc:
            log.error("notification dead letter not kept: %s", exc)

    return failed


def _utc(time_ns: int) -> datetime:
    return datetime.fromtimestamp(time_ns / 1e9, UTC)


def _email(settings: Settings) -> EmailSender | None:
    if settings.smtp_url is None:
        return None
    options = SmtpOptions.from_url(settings.smtp_url.get_secret_value())
    return EmailSender(options, retry=_retry_policy(settings))


def _webhook_options(settings: Settings) -> WebhookOptions:
    return WebhookOptions(
        timeout_s=settings.webhook_timeout_s,
        connect_timeout_s=settings.webhook_connect_timeout_s,
        ca_file=settings.webhook_ca_file,
    )


def _retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        attempts=settings.notify_attempts,
        backoff_s=settings.notify_backoff_s,
        backoff_max_s=settings.notify_backoff_max_s,
        retry_after_max_s=settings.notify_retry_after_max_s,
    )


def spool_condition(level: str, detail: str) -> Condition:
    """The spool's level as an alert: a warning at 80 % of its quota, critical when full
    (the bridge then stops acknowledging, and TTN's QoS 0 uplinks can be lost)."""
    return Condition(
        key="spool:points",
        rule="spool",
        active=level != "ok",
        severity=Severity.CRITICAL if level == "full" else Severity.WARNING,
        at_ns=time.time_ns(),
        summary=f"Spool {level}: {detail}",
        explanation={"level": level, "detail": detail},
    )
