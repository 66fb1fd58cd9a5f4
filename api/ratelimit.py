"""Per-client-address rate limit for anonymous callers: 429 with Retry-After, not a ban.

Open data is for pupils' scripts and browser projects; a loop without a sleep in it
should slow down, not take the server with it. Requests carrying an API key are not
limited here (keys are issued to people the council knows).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from api.services import RateLimit

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
MAX_CLIENTS = 100_000


class TokenBuckets:
    """One bucket per client address; each request takes a token, tokens refill steadily."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = limit.per_minute / 60.0
        self._burst = float(limit.burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(client, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            if tokens >= 1.0:
                self._store(client, tokens - 1.0, now)
                return 0.0
            self._store(client, tokens, now)
            return (1.0 - tokens) / self._rate if self._rate > 0 else 60.0

    def _store(self, client: str, tokens: float, now: float) -> None:
        if len(self._buckets) >= MAX_CLIENTS and client not in self._buckets:
            self._buckets.clear()  # a flood of addresses: forget them all rather than grow
        self._buckets[client] = (tokens, now)


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: RateLimit) -> None:
        self.app = app
        self.buckets = TokenBuckets(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS or _has_key(scope):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.buckets.take(client[0] if client else "unknown")
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry_after = str(max(1, math.ceil(wait)))
        body = (
            b'{"detail":"too many requests from this address: wait '
            + retry_after.encode()
            + b' s, or ask the council for an API key"}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"retry-after", retry_after.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _has_key(scope: Scope) -> bool:
    # A webhook secret counts as a key: TTN sends a whole fleet's uplinks from a few
    # addresses. Wrong secrets are limited by the ingest router itself.
    return any(
        name in (b"authorization", b"x-api-key", b"x-wherry-webhook-secret")
        for name, _ in scope["headers"]
    )
