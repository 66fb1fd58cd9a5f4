"""Webhooks: an alert event POSTed as signed JSON to a subscriber's URL, with retries.

The signature is an HMAC-SHA256 of `"<timestamp>.<body>"` with the subscription's
secret, in the manner of Stripe and Slack: a receiver proves the body came from
wherry and is recent without sharing anything but the secret (docs/notifications.md).
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from alerts.model import AlertEvent
from alerts.notify.payload import alert_payload, encode
from alerts.notify.retry import SUCCESS, Attempt, Delivery, RetryPolicy, deliver
from storage.registry.records import SubscriptionRecord

USER_AGENT = "wherry-webhook/1"
REASON_BODY_CHARS = 200


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    """How wherry talks to webhook receivers.

    TLS certificates are verified unless `verify_tls` is False; `ca_file` adds a
    private CA (a council's own) to trust instead of the system store.
    """

    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    verify_tls: bool = True
    ca_file: Path | None = None


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of `b"<timestamp>." + body` keyed with the UTF-8 secret."""
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class WebhookSender:
    """POSTs alert events to webhook subscriptions; safe to share between threads."""

    def __init__(
        self,
        options: WebhookOptions | None = None,
        *,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.options = options or WebhookOptions()
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.options.timeout_s, connect=self.options.connect_timeout_s),
            verify=_tls_verification(self.options),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    def send(
        self,
        subscription: SubscriptionRecord,
        event: AlertEvent,
        stop: threading.Event | None = None,
    ) -> Delivery:
        """Deliver `event` to the subscription's URL, retrying as the policy says."""
        body = encode(alert_payload(event))
        delivery_id = str(uuid.uuid4())  # the same on every retry, so receivers can de-duplicate

        target, secret = subscription.target, subscription.secret
        return deliver(
            lambda: self.post(target, body, event.kind, secret, delivery_id), self.retry, stop
        )

    def post(
        self, url: str, body: bytes, kind: str, secret: str | None, delivery_id: str
    ) -> Attempt:
        """One signed POST; what it did, and whether trying again could help."""
        if not url.startswith(("https://", "http://")):
            return Attempt(ok=False, reason=f"webhook URL {url!r} is not an http(s) URL")
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            "X-Wherry-Event": kind,
            "X-Wherry-Timestamp": str(timestamp),
            "X-Wherry-Delivery": delivery_id,
        }
        if secret:
            headers["X-Wherry-Signature"] = signature(secret, timestamp, body)
        try:
            response = self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            return Attempt(ok=False, retryable=True, reason=f"{url}: timed out ({_name(exc)})")
        except httpx.ConnectError as exc:
            if _certificate_refused(exc):
                return Attempt(
                    ok=False,
                    reason=f"{url}: TLS certificate not trusted ({exc}); "
                    "give the webhook CA file if the receiver uses a private CA",
                )
            return Attempt(ok=False, retryable=True, reason=f"{url}: could not connect ({exc})")
        except httpx.UnsupportedProtocol as exc:
            return Attempt(ok=False, reason=f"{url}: {exc}")
        except httpx.TransportError as exc:
            return Attempt(ok=False, retryable=True, reason=f"{url}: {_name(exc)} ({exc})")
        except httpx.InvalidURL as exc:
            return Attempt(ok=False, reason=f"webhook URL {url!r} is not valid: {exc}")
        return _judge(url, response, now=self._clock())

    def close(self) -> None:
        self._client.close()


def _judge(url: str, response: httpx.Response, *, now: float) -> Attempt:
    status = response.status_code
    if 200 <= status < 300:
        return SUCCESS
    said = response.text[:REASON_BODY_CHARS].strip()
    reason = f"{url} answered {status}" + (f": {said}" if said else "")
    if status == 429 or status >= 500:
        retry_after = _retry_after_s(response.headers.get("Retry-After"), now)
        return Attempt(ok=False, retryable=True, reason=reason, retry_after_s=retry_after)
    if 300 <= status < 400:
        location = response.headers.get("Location", "?")
        reason += f" (redirects are not followed: point the subscription at {location})"
    return Attempt(ok=False, reason=reason)


def _retry_after_s(value: str | None, now: float) -> float | None:
    """Retry-After as seconds (`120`) or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.fromtimestamp(now, UTC)).total_seconds())


def _tls_verification(options: WebhookOptions) -> ssl.SSLContext | bool:
    if not options.verify_tls:
        return False
    if options.ca_file is not None:
        return ssl.create_default_context(cafile=str(options.ca_file))
    return True


def _certificate_refused(exc: BaseException) -> bool:
    """True when a connection failed because the server's certificate was not trusted."""
    seen: BaseException | None = exc
    for _ in range(10):  # a chain of causes, never a cycle
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _name(exc: Exception) -> str:
    return type(exc).__name__
