"""Wiring of the alert engine: plans and rules from the registry and settings; news out to the
registry, the live stream and the notifiers.

The engine itself (`alerts/engine.py`) knows none of these: this module is the only
place that decides where a route decision is kept and who hears about an alert.

Of several processes sharing a registry, only the holder of the alert lease
(`alerts/lease.py`) runs an engine; the others stand by and start one, warmed up
from the readings store, when the lease comes to them (decision 0013).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from alerts.book import AlertBook
from alerts.engine import AlertEngine
from alerts.follow import FollowerThread, StoreFollower
from alerts.gritting import GrittingEngine, RoutePlan, decision_json
from alerts.lease import LeaseKeeper, holder_name
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
from gateway_bridge.counters import Counters
from storage import ReadingStore
from storage.registry import (
    DeadLetter,
    DeviceRecord,
    LeaseRecord,
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


class Alerting:
    """This process's part in alerting: an engine while it holds the alert lease, and the
    outlets (live stream, notifications) that outlive engines; `announce` is what the API
    calls.

    A runner thread watches the lease: when it comes, an engine is built, warmed up
    from the store and started (and, with `alert_evaluation=store`, fed from the store);
    when it goes, the engine is halted at once, its queue dropped: the new holder
    reads the same readings from the store.
    """

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        store: ReadingStore,
        keeper: LeaseKeeper,
        outbox: RegistryOutbox,
        broadcaster: Broadcaster,
        dispatcher: Dispatcher,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.settings = settings
        self.clock = clock  # moves the engine's timers: the wall clock, or the demo's night
        self.registry = registry
        self.store = store
        self.keeper = keeper
        self.outbox = outbox
        self.broadcaster = broadcaster
        self.dispatcher = dispatcher
        self._policy = default_policy(settings)
        self._rules = rules_config(settings)
        self._engine: AlertEngine | None = None
        self._fence: LeaseRecord | None = None
        self._follow: FollowerThread | None = None
        self._retry_at = 0.0
        self._stop = threading.Event()
        self._runner = threading.Thread(target=self._run, name="alert-runner", daemon=True)

    @property
    def engine(self) -> AlertEngine:
        """The running engine; `RuntimeError` while this process stands by."""
        engine = self._engine
        if engine is None:
            raise RuntimeError("this process stands by: another one holds the alert lease")
        return engine

    @property
    def evaluating(self) -> bool:
        return self._engine is not None

    def gauges(self) -> dict[str, float]:
        """For /metrics: uplinks waiting for evaluation, and those never evaluated because the
        queue was full (their readings are stored regardless)."""
        engine = self._engine
        if engine is None:
            return {"alert_queue_depth": 0.0, "alert_observations_dropped": 0.0}
        return {
            "alert_queue_depth": float(engine.depth),
            "alert_observations_dropped": float(engine.dropped),
        }

    def submit(self, observation: Observation) -> None:
        """The pipeline's `observe` in inline mode: evaluated here only while holding the lease
        (a standby's uplinks reach the holder through the store, at its next warm-up)."""
        engine = self._engine
        if engine is not None:
            engine.submit(observation)

    def report(self, condition: Condition) -> None:
        engine = self._engine
        if engine is not None:
            engine.report(condition)
        else:
            log.warning(
                "%s (%s) not evaluated: this process stands by for the alert lease",
                condition.key, condition.summary,
            )  # fmt: skip

    def announce(self, event: AlertEvent) -> None:
        engine = self._engine
        if event.kind == "acknowledged" and engine is not None:
            engine.book.acknowledged(event.alert)
        self.dispatcher.dispatch(event)

    def start(self) -> None:
        """Claim the lease and, if it is ours, warm an engine up before returning (as a lone
        process always did); then keep watching the lease."""
        self.keeper.start()
        self._step()
        self._runner.start()

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.keeper.changed.set()
        if self._runner.is_alive():
            self._runner.join(timeout)
        if self._follow is not None:
            self._follow.stop(timeout)
        if self._engine is not None:
            self._engine.stop(timeout)  # evaluate what is queued, still under the lease
        self._engine = None
        self.keeper.stop(release=True)
        self.outbox.close(timeout)
        self.dispatcher.close(timeout)
        self.broadcaster.close()

    # -- the runner thread ------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            # Woken by the keeper, or in time to see the lease run out by our own clock.
            self.keeper.changed.wait(min(0.5, self.keeper.renew_every_s))
            self.keeper.changed.clear()
            if not self._stop.is_set():
                self._step()

    def _step(self) -> None:
        lease = self.keeper.current()
        if self._engine is not None and (lease is None or lease.epoch != self._fence_epoch()):
            self._stand_down()
        if lease is not None and self._engine is None and time.monotonic() >= self._retry_at:
            try:
                self._take_over(lease)
            except Exception:
                log.exception("cannot start the alert engine; trying again in 5 s")
                self._stand_down()
                self._retry_at = time.monotonic() + 5.0

    def _fence_epoch(self) -> int | None:
        return self._fence.epoch if self._fence is not None else None

    def _take_over(self, lease: LeaseRecord) -> None:
        settings = self.settings
        rules = build_rules(self._rules)
        book = AlertBook(self.registry, fence=lease)
        _resume(rules, book)
        reader = RegistryReader(self.registry, self._policy, rules)
        engine = AlertEngine(
            GrittingEngine(reader()), rules, book, self.outbox, plans=reader, clock=self.clock
        )
        reader.report = engine.report
        follower = StoreFollower(self.store, lookback_s=settings.alert_follow_lookback_s)
        self._fence = lease
        if settings.alert_evaluation == "inline":
            self._engine = engine  # uplinks queue from now on; the engine starts after warm-up
        warm_up(engine, follower, hours=settings.alert_warmup_hours, now_ns=self.clock())
        if self.keeper.current() is None:
            raise RuntimeError("the alert lease ran out while warming up")
        self._engine = engine
        engine.start()
        if settings.alert_evaluation == "store":
            self._follow = FollowerThread(
                follower,
                lambda observation: engine.submit(observation, wait_s=30.0),
                interval_s=settings.alert_follow_interval_s,
            )
            self._follow.start()
        log.info(
            "this process evaluates alerts (%s readings, lease epoch %d)",
            "every stored" if settings.alert_evaluation == "store" else "its own",
            lease.epoch,
        )

    def _stand_down(self) -> None:
        """Stop evaluating at once: nothing more is decided or announced from here."""
        follow, engine = self._follow, self._engine
        self._follow = self._engine = None
        self._fence = None
        if follow is not None:
            follow.stop(5.0)
        if engine is not None:
            engine.stop(5.0, drain=False)
            log.error(
                "alert lease lost: this process stopped evaluating alerts and stands by "
                "(another process, or this one once the registry answers again, takes over)"
            )


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


def build_alerting(
    settings: Settings,
    registry: Registry,
    store: ReadingStore,
    counters: Counters | None = None,
    *,
    clock: Callable[[], int] = time.time_ns,
) -> Alerting:
    """Build the outlets, claim the alert lease and, when this process gets it, start an
    engine warmed up with the last hours of readings. `counters` (the bridge's, shown at
    /metrics) counts notifications that became dead letters. `clock` (ns) is the engine's:
    `wherry demo` passes its simulated night's."""
    broadcaster = Broadcaster()
    dispatcher = Dispatcher(
        registry.subscriptions,
        webhook=WebhookSender(_webhook_options(settings), retry=_retry_policy(settings)),
        email=_email(settings),
        broadcaster=broadcaster,
        on_failed=_dead_letter(registry, counters),
    )
    outbox = RegistryOutbox(registry, broadcaster, dispatcher)
    keeper = LeaseKeeper(
        registry, holder=holder_name(settings.data_dir), ttl_s=settings.alert_lease_s
    )
    alerting = Alerting(
        settings, registry, store, keeper, outbox, broadcaster, dispatcher, clock=clock
    )
    alerting.start()
    return alerting


def warm_up(
    engine: AlertEngine, follower: StoreFollower, *, hours: float, now_ns: int | None = None
) -> None:
    """Replay the last `hours` (before `now_ns`, default now) of stored uplinks so a restart
    (or a takeover) has its trends back; `follower` then knows which ones it need not hand
    over again."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    try:
        history = follower.history(now_ns, hours)
    except Exception as exc:  # the store may be down at start: the spool covers writes
        log.warning("alert engine starts cold (readings store: %s)", exc)
        history = []
    count = engine.warm_up(history, now_ns)
    log.info("alert engine warmed up on %d readings from the last %g h", count, hours)


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


def _dead_letter(
    registry: Registry, counters: Counters | None = None
) -> Callable[[SubscriptionRecord, AlertEvent, str], None]:
    """A notification that failed its last try is kept where engineers look: dead letters
    (and counted as `wherry_dead_letters{reason="notification_failed"}`)."""

    def failed(subscription: SubscriptionRecord, event: AlertEvent, reason: str) -> None:
        if counters is not None:
            counters.add("dead_letters.notification_failed")
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
