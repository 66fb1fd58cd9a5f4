"""What the API needs from the rest of wherry, handed in by the composition root."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from alerts.model import AlertEvent
from alerts.notify.broadcast import Broadcaster
from alerts.rules.health import HealthSettings
from api.key_cache import KeyCache
from gateway_bridge.counters import Counters
from gateway_bridge.sources.webhook import WebhookIngest
from storage import ReadingStore
from storage.registry import Registry


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RateLimit:
    """Anonymous requests allowed per client address: `burst` at once, refilled at `per_minute`."""

    per_minute: float = 120.0
    burst: int = 60


@dataclass
class Services:
    """The registry, the readings store and the bridge's counters, shared by every request.

    `counters` is the running bridge's (for /metrics) when the API runs inside
    `wherry run`, or a fresh, empty set for `wherry api` alone.
    """

    registry: Registry
    store: ReadingStore
    counters: Counters = field(default_factory=Counters)
    clock: Callable[[], datetime] = utc_now
    rate_limit: RateLimit = field(default_factory=RateLimit)
    public_base_url: str | None = None
    webhooks: WebhookIngest | None = None
    """Webhook ingest (POST /ingest/ttn, /ingest/chirpstack); None when it is off."""
    broadcaster: Broadcaster | None = None
    """Live events for GET /api/v1/stream; None when this process runs no engine."""
    announce: Callable[[AlertEvent], None] | None = None
    """Passes alert events made through the API (acknowledgements) to the notifiers."""
    session_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    """Signs the pages' session cookies; replicas behind one address must share it."""
    health: HealthSettings = field(default_factory=HealthSettings)
    """The device-health rules' limits, so the devices pages call a battery low or a link
    weak where the alerts do."""
    keys: KeyCache = field(init=False)

    def __post_init__(self) -> None:
        self.keys = KeyCache(self.registry)
