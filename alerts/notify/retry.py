"""Retries with exponential backoff, shared by every notifier that talks to another server.

A notifier says what one try did (`Attempt`); `deliver` decides whether to try
again and how long to wait. Waiting goes through a `threading.Event`, so stopping
wherry cuts a long backoff short instead of holding shutdown hostage.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`attempts` tries in all; waits of `backoff_s`, doubling up to `backoff_max_s`.

    A server's own `Retry-After` is honoured up to `retry_after_max_s`, so a
    receiver cannot park a critical alert for an hour. `jitter` spreads the waits
    of many notifications by up to that fraction, so they do not retry in step.
    """

    attempts: int = 5
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    retry_after_max_s: float = 120.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts}")
        if min(self.backoff_s, self.backoff_max_s, self.retry_after_max_s, self.jitter) < 0:
            raise ValueError("backoff, caps and jitter must not be negative")

    def wait_before(self, retry: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.retry_after_max_s)
        wait = min(self.backoff_s * 2.0 ** (retry - 1), self.backoff_max_s)
        return wait * (1.0 + self.jitter * random.random())


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one try did. `retryable` failures (the network, 5xx, 429) are tried again."""

    ok: bool
    reason: str = ""
    retryable: bool = False
    retry_after_s: float | None = None


SUCCESS = Attempt(ok=True)


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a notification ended: delivered or not, after how many tries, and why not."""

    delivered: bool
    attempts: int
    reason: str = ""

    @property
    def retries(self) -> int:
        return self.attempts - 1


def deliver(
    attempt: Callable[[], Attempt], policy: RetryPolicy, stop: threading.Event | None = None
) -> Delivery:
    """Try until delivered, refused for good, out of tries, or `stop` is set while waiting."""
    stop = stop or threading.Event()
    tries = 0
    while True:
        tries += 1
        outcome = attempt()
        if outcome.ok:
            return Delivery(delivered=True, attempts=tries)
        if not outcome.retryable:
            return Delivery(delivered=False, attempts=tries, reason=outcome.reason)
        if tries >= policy.attempts:
            reason = f"{outcome.reason} (gave up after {tries} tries)"
            return Delivery(delivered=False, attempts=tries, reason=reason)
        if stop.wait(policy.wait_before(tries, outcome.retry_after_s)):
            reason = f"{outcome.reason} (wherry stopped before the next try)"
            return Delivery(delivered=False, attempts=tries, reason=reason)
