"""/metrics in Prometheus text format: the bridge's counters and the API's latency by route."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway_bridge.counters import Counters

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEAD_LETTER_PREFIX = "dead_letters."


class BridgeCollector(Collector):
    """Turns the bridge's named counts into Prometheus counters at scrape time."""

    def __init__(self, counters: Counters, gauges: Callable[[], dict[str, float]]) -> None:
        self._counters = counters
        self._gauges = gauges

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        counts = self._counters.snapshot()
        dead = CounterMetricFamily(
            "wherry_dead_letters", "Messages set aside, by reason", labels=["reason"]
        )
        for name, count in sorted(counts.items()):
            value = float(count)
            if name.startswith(DEAD_LETTER_PREFIX):
                dead.add_metric([name.removeprefix(DEAD_LETTER_PREFIX)], value)
            else:
                yield CounterMetricFamily(f"wherry_{name}", f"Bridge count: {name}", value=value)
        yield dead
        for name, gauge in sorted(self._gauges().items()):
            yield GaugeMetricFamily(f"wherry_{name}", f"Bridge gauge: {name}", value=gauge)


class Metrics:
    """One Prometheus registry per app, so tests and replicas never share state."""

    def __init__(self, counters: Counters, gauges: Callable[[], dict[str, float]]) -> None:
        self.gauges = gauges
        """The live figures (buffer and spool depths); /readyz reads the spool's from here."""
        self.registry = CollectorRegistry()
        self.registry.register(BridgeCollector(counters, gauges))
        self.request_seconds = Histogram(
            "wherry_api_request_seconds",
            "API latency by route template and method",
            ["route", "method", "status"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class LatencyMiddleware:
    """Times every HTTP request under its route template (`/api/v1/devices/{device_id}`)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, prefix: str = "") -> None:
        self.app = app
        self.metrics = metrics
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.request_seconds.labels(
                self._route_template(scope), scope["method"], str(status)
            ).observe(time.perf_counter() - started)

    def _route_template(self, scope: Scope) -> str:
        """The matched route's template, left in the scope by the router; never the raw path,
        so a scan of random URLs cannot grow the metric's label set."""
        route = scope.get("route")
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
        if not template:
            return "unmatched"
        if scope["path"].startswith(self.prefix) and not template.startswith(self.prefix):
            template = self.prefix + template  # routes of an included router keep their own path
        return str(template)
