"""Webhooks as a source: The Things Stack and ChirpStack POST each uplink to wherry.

An HTTP sender has no broker to redeliver from, so a request is answered only once
its message is durably handed off: the pipeline acknowledged it (points written
or spooled, or the message kept as a sighting or a dead letter). A body that is
not an uplink envelope is dead-lettered, like a bad MQTT message, and the answer
says why. The HTTP side (headers, size limit, status codes) is `api/routers/ingest.py`;
this module knows nothing of HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from gateway_bridge.envelopes import EnvelopeError, EnvelopeReason, parse_ttn
from gateway_bridge.envelopes.chirpstack import chirpstack_from_object
from gateway_bridge.envelopes.validation import check_size, load_object
from gateway_bridge.sources.handoff import HandOff
from gateway_bridge.uplink import Acknowledge, RawMessage, Uplink

log = logging.getLogger(__name__)

WebhookNetwork = Literal["ttn", "chirpstack"]
DEFAULT_MAX_BYTES = 256 * 1024
DEFAULT_HANDOFF_TIMEOUT_S = 10.0
MIN_SECRET_LENGTH = 16


class IngestPipeline(Protocol):
    """What a webhook needs of the pipeline (`gateway_bridge.pipeline.Pipeline` is one)."""

    @property
    def max_message_bytes(self) -> int: ...

    def handle(self, message: RawMessage) -> None: ...

    def dead_letter(
        self, message: RawMessage, reason: str, detail: str, acknowledge: Acknowledge | None
    ) -> None: ...


Status = Literal["accepted", "ignored", "rejected", "timeout"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one webhook body.

    - `accepted`: an uplink, handed off (stored, spooled, or kept as a sighting);
    - `ignored`: a valid event that is not an uplink (join, status…), nothing to store;
    - `rejected`: not an uplink envelope; `reason` as in `ENVELOPE_REASONS`, kept as a
      dead letter;
    - `timeout`: not yet handed off within the time allowed (the store is slow or
      away); the message may still be written, so the sender should retry.
    """

    status: Status
    detail: str = ""
    reason: EnvelopeReason | None = None


def webhook_topic(network: WebhookNetwork) -> str:
    """The pseudo-topic of webhook messages: dead letters say where they came from."""
    return f"webhook:{network}"


class WebhookIngest:
    """Takes webhook bodies into the pipeline and reports the outcome of each.

    `secret` is what senders put in the webhook's header; it is kept only as a
    SHA-256 digest and compared in constant time.
    """

    def __init__(
        self,
        pipeline: IngestPipeline,
        *,
        secret: str,
        max_bytes: int = DEFAULT_MAX_BYTES,
        handoff_timeout_s: float = DEFAULT_HANDOFF_TIMEOUT_S,
    ) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"a webhook secret needs at least {MIN_SECRET_LENGTH} characters")
        self._pipeline = pipeline
        self._secret_digest = _digest(secret)
        self.max_bytes = max_bytes
        self.handoff_timeout_s = handoff_timeout_s

    def __repr__(self) -> str:
        return f"WebhookIngest(max_bytes={self.max_bytes}, secret=***)"

    def authenticates(self, given: str | None) -> bool:
        """True when `given` is the configured secret; the time taken does not depend on it."""
        return given is not None and hmac.compare_digest(_digest(given), self._secret_digest)

    def receive(self, network: WebhookNetwork, body: bytes, *, event: str | None = None) -> Outcome:
        """Hand one body to the pipeline and wait for it to be taken. Blocks up to the timeout.

        `event` is ChirpStack's `?event=` (only `up` carries an uplink).
        """
        message_topic = webhook_topic(network)
        if event is not None and event != "up":
            return Outcome("ignored", f"a ChirpStack {event[:40]!r} event carries no uplink")
        try:
            # The pipeline's own limit too: what it would dead-letter must not be answered 2xx.
            limit = min(self.max_bytes, self._pipeline.max_message_bytes)
            uplink = _classify(network, body, limit)
        except EnvelopeError as exc:
            return self._reject(RawMessage(message_topic, body, time.time_ns()), exc)
        handoff = HandOff()
        self._pipeline.handle(
            RawMessage(message_topic, body, time.time_ns(), acknowledge=handoff.acknowledgement())
        )
        if not handoff.wait(self.handoff_timeout_s):
            return Outcome("timeout", self._timeout_detail())
        if uplink is None:
            return Outcome("ignored", "a valid event that is not an uplink")
        return Outcome("accepted")

    def receive_oversize(
        self, network: WebhookNetwork, head: bytes, declared: int | None
    ) -> Outcome:
        """Dead-letter a body larger than `max_bytes`, of which only `head` was read."""
        size = f"{declared} bytes" if declared is not None else "more than that"
        error = EnvelopeError(
            "oversize", f"body is {size}, more than the limit of {self.max_bytes} bytes"
        )
        return self._reject(RawMessage(webhook_topic(network), head, time.time_ns()), error)

    def _reject(self, message: RawMessage, error: EnvelopeError) -> Outcome:
        handoff = HandOff()
        self._pipeline.dead_letter(message, error.reason, error.message, handoff.acknowledgement())
        if not handoff.wait(self.handoff_timeout_s):
            return Outcome("timeout", self._timeout_detail())
        return Outcome("rejected", error.message, error.reason)

    def _timeout_detail(self) -> str:
        return (
            f"not stored within {self.handoff_timeout_s:g} s (the store is slow or unavailable); "
            "send it again later"
        )


def _classify(network: WebhookNetwork, body: bytes, max_bytes: int) -> Uplink | None:
    """The uplink in `body` as the pipeline will read it, or None for another event.

    The pipeline decides a body's format by its shape (`parse_message`), The Things
    Stack's first; the ChirpStack endpoint refuses what that test reads as The Things
    Stack's, so the answer and what is stored cannot disagree.
    """
    if network == "ttn":
        return parse_ttn(body, None, max_bytes=max_bytes)
    check_size(body, max_bytes)
    document = load_object(body)
    if "end_device_ids" in document or isinstance(document.get("result"), dict):
        raise EnvelopeError(
            "invalid_envelope",
            "a The Things Stack message sent to the ChirpStack endpoint: use /ingest/ttn",
        )
    return chirpstack_from_object(document)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
