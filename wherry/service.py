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
from api.services import RateLimit, Services
from gateway_bridge.sources.mqtt import MqttOptions, MqttSource
from storage import open_store, redact_url
from storage.errors import StoreError
from storage.registry import Registry, RegistryError
from wherry.api_server import ApiServer
from wherry.bridge import Bridge, build_bridge
from wherry.settings import Settings

log = logging.getLogger("wherry")
STATUS_EVERY_S = 60.0


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
    )


def open_bridge(settings: Settings) -> Bridge:
    """Open the registry (migrating it) and the readings store, and start the batchers."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    registry = Registry(settings.effective_registry_url)
    registry.migrate()
    store = open_store(settings.effective_store_url)
    log.info("readings store: %s", redact_url(settings.effective_store_url))
    return build_bridge(settings, store, registry)


def api_services(settings: Settings, bridge: Bridge) -> Services:
    return Services(
        registry=bridge.registry,
        store=bridge.store,
        counters=bridge.counters,
        rate_limit=RateLimit(settings.rate_limit_per_minute, settings.rate_limit_burst),
    )


def bridge_gauges(bridge: Bridge) -> Callable[[], dict[str, float]]:
    """Live depths for /metrics: what waits in memory for the store and the registry."""

    def gauges() -> dict[str, float]:
        return {
            "points_waiting": float(bridge.sinks.points.depth),
            "dead_letters_waiting": float(bridge.sinks.dead_letters.depth),
            "sightings_waiting": float(bridge.sinks.sightings.depth),
        }

    return gauges


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
    try:
        bridge = open_bridge(settings)
    except (RegistryError, StoreError, ValueError) as exc:
        log.error("cannot start: %s", exc)
        return 1

    api: ApiServer | None = None
    if settings.serve_api or not subscribe:
        app = create_app(api_services(settings, bridge), gauges=bridge_gauges(bridge))
        api = ApiServer(app, settings.api_host, settings.api_port)
        gc.freeze()  # start-up objects out of the collector's sight: no 100 ms full-GC stalls
        try:
            api.start()
        except RuntimeError as exc:
            log.error("cannot start: %s", exc)
            bridge.close()
            return 1

    source: MqttSource | None = None
    if subscribe and settings.mqtt_url:
        source = MqttSource(mqtt_options(settings), bridge.pipeline.handle)
        source.start()
    elif subscribe:
        log.warning("WHERRY_MQTT_URL is not set: nothing to subscribe to")

    while not stop.wait(STATUS_EVERY_S):
        log.info("status: %s", bridge.counters.snapshot())

    if source is not None:
        source.stop()
    if api is not None:
        api.stop()
    clean = bridge.close()
    bridge.store.close()
    bridge.registry.close()
    log.info("stopped: %s", bridge.counters.snapshot())
    return 0 if clean else 1
