"""`wherry run` and `wherry api`: open the stores, start the bridge, the MQTT source and the
HTTP API, and stop cleanly on a signal."""

from __future__ import annotations

import gc
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from api.app import create_app
from api.pages.session import load_or_create_secret
from api.services import RateLimit, Services
from gateway_bridge.sources.mqtt import MqttOptions, MqttSource
from gateway_bridge.spool import SpoolAlarm
from storage import open_store, redact_url
from storage.errors import StoreError
from storage.registry import Registry, RegistryError
from wherry.alerting import Alerting, build_alerting, rules_config, spool_condition
from wherry.api_server import ApiServer
from wherry.bridge import Bridge, build_bridge
from wherry.ingest import start_backfill, webhook_ingest
from wherry.settings import Settings

log = logging.getLogger("wherry")
STATUS_EVERY_S = 60.0
SHUTDOWN_FLUSH_S = 30.0
SHARE_DRAIN_S = 10.0


def mqtt_options(settings: Settings) -> MqttOptions:
    assert settings.mqtt_url is not None
    return MqttOptions.from_url(
        settings.mqtt_url,
        settings.mqtt_topics,
        qos=settings.mqtt_qos,
        client_id=settings.mqtt_client_id,
        protocol=settings.mqtt_protocol,
        ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
        cert_file=str(settings.mqtt_cert_file) if settings.mqtt_cert_file else None,
        key_file=str(settings.mqtt_key_file) if settings.mqtt_key_file else None,
        tls_insecure=settings.mqtt_tls_insecure,
        worker=str(settings.data_dir.resolve()),  # one data dir, one worker (the spool's lock)
    )


def open_bridge(settings: Settings, *, on_spool_alarm: SpoolAlarm | None = None) -> Bridge:
    """Open the registry (migrating it) and the readings store, and start the batchers.

    `on_spool_alarm(level, detail)` hears the spool's level: ok, warning (80 %), full.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    registry = Registry(settings.effective_registry_url)
    registry.migrate()
    store = open_store(settings.effective_store_url)
    log.info("readings store: %s", redact_url(settings.effective_store_url))
    return build_bridge(settings, store, registry, on_spool_alarm=on_spool_alarm)


def api_services(settings: Settings, bridge: Bridge, alerting: Alerting | None) -> Services:
    return Services(
        registry=bridge.registry,
        store=bridge.store,
        counters=bridge.counters,
        rate_limit=RateLimit(settings.rate_limit_per_minute, settings.rate_limit_burst),
        webhooks=webhook_ingest(settings, bridge),
        broadcaster=alerting.broadcaster if alerting else None,
        announce=alerting.announce if alerting else None,
        session_secret=session_secret(settings),
        health=rules_config(settings).health,
    )


def session_secret(settings: Settings) -> bytes:
    """The pages' cookie-signing secret: the setting, or one kept in the data dir."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    return load_or_create_secret(settings.data_dir / "session.key")


def bridge_gauges(bridge: Bridge, alerting: Alerting | None) -> Callable[[], dict[str, float]]:
    """Live figures for /metrics and /readyz: what waits in memory, in the spool and for the
    alert engine."""
    if alerting is None:
        return bridge.gauges
    return lambda: bridge.gauges() | alerting.gauges()


GC_YOUNG_THRESHOLD = 10_000


def collect_less_often() -> None:
    """Run the cyclic garbage collector's young pass every 10,000 allocations, not 700.

    An uplink allocates about a hundred container objects (the parsed envelope, readings,
    points, an observation), so with Python's default the collector ran every few uplinks
    and, as survivors were promoted, walked every long-lived object (trend histories, the
    batch being written) every few hundred. That was a third of the bridge's CPU at
    thousands of uplinks a second (docs/performance.md). The hot path makes few reference
    cycles, so collecting less often costs little memory.
    """
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def run_service(
    settings: Settings, stop: threading.Event | None = None, *, subscribe: bool = True
) -> int:
    """Run until SIGTERM/SIGINT (or `stop` is set); exit status 0 when everything was written.

    `subscribe` False is `wherry api`: the API alone, no MQTT subscription.
    """
    stop = stop or threading.Event()
    stop_on_signals(stop)
    collect_less_often()
    alerting: Alerting | None = None

    def spool_alarm(level: str, detail: str) -> None:
        if alerting is not None:
            alerting.report(spool_condition(level, detail))

    try:
        bridge = open_bridge(settings, on_spool_alarm=spool_alarm)
        if settings.alerts:
            alerting = build_alerting(settings, bridge.registry, bridge.store, bridge.counters)
            if settings.alert_evaluation == "inline":  # else it follows the readings store
                bridge.pipeline.observe = alerting.submit
    except (RegistryError, StoreError, ValueError) as exc:
        log.error("cannot start: %s", exc)
        return 1

    api: ApiServer | None = None
    if settings.serve_api or not subscribe:
        services = api_services(settings, bridge, alerting)
        app = create_app(services, gauges=bridge_gauges(bridge, alerting))
        api = ApiServer(app, settings.api_host, settings.api_port)
        gc.freeze()  # start-up objects out of the collector's sight: no 100 ms full-GC stalls
        try:
            api.start()
        except RuntimeError as exc:
            log.error("cannot start: %s", exc)
            bridge.close()
            return 1

    backfill = start_backfill(settings, bridge) if subscribe else None
    source: MqttSource | None = None
    if subscribe and settings.mqtt_url:
        source = MqttSource(
            mqtt_options(settings),
            bridge.intake.handle,
            on_ready=backfill.trigger if backfill else None,  # on start and every reconnect
        )
        source.start()
    elif subscribe:
        log.warning("WHERRY_MQTT_URL is not set: nothing to subscribe to")
    if backfill is not None:
        backfill.trigger()  # now, whether or not the broker answers; again on each connect

    while not stop.wait(STATUS_EVERY_S):
        log.info("status: %s", bridge.counters.snapshot())

    # Stop taking redeliverable messages, then store or spool what is in flight while the
    # broker connection is still up to carry the acknowledgements; then disconnect.
    if backfill is not None:
        backfill.stop()  # what it handed off is acknowledged; the rest is fetched next time
    if source is not None and source.leave_shared():
        # The group takes our share from now on; store what the broker had queued for us,
        # so none of it waits in this session for a worker that may never come back.
        bridge.intake.drain(timeout=SHARE_DRAIN_S)
    bridge.intake.close()
    flushed = bridge.flush(SHUTDOWN_FLUSH_S)
    if source is not None:
        bridge.intake.settle()  # the broker stops sending: our last acks are read, not reset
    if source is not None:
        source.stop()
    if alerting is not None:
        alerting.broadcaster.close()  # live-stream clients let go, so the API can stop
    if api is not None:
        api.stop()
    clean = bridge.close(SHUTDOWN_FLUSH_S if flushed else 1.0) and flushed
    if alerting is not None:
        alerting.close()  # evaluate what is queued, deliver pending notifications
    if not clean:
        log.error(
            "stopped with points neither stored nor spooled; an own broker redelivers their "
            "messages to the next run"
        )
    bridge.store.close()
    bridge.registry.close()
    log.info("stopped: %s", bridge.counters.snapshot())
    return 0 if clean else 1
