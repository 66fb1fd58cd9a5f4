"""Webhooks against a real local HTTP(S) server: signature, retries, backoff, TLS."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alerts.notify.retry import Delivery, RetryPolicy
from alerts.notify.webhook import WebhookOptions, WebhookSender
from tests.alerts.notify.receivers import (
    Answer,
    Certificate,
    WebhookReceiver,
    alert_event,
    subscription,
)
from tests.servers import free_port

DOC = Path(__file__).resolve().parents[3] / "docs" / "notifications.md"
FAST = RetryPolicy(attempts=4, backoff_s=0.05, backoff_max_s=0.2, jitter=0.0)
SECRET = "s3cret-for-tests"


@pytest.fixture
def sender() -> Iterator[WebhookSender]:
    webhooks = WebhookSender(WebhookOptions(timeout_s=2.0, connect_timeout_s=1.0), retry=FAST)
    yield webhooks
    webhooks.close()


@pytest.fixture
def receivers() -> Iterator[Callable[..., WebhookReceiver]]:
    started: list[WebhookReceiver] = []

    def start(*answers: Answer, **options: Any) -> WebhookReceiver:
        receiver = WebhookReceiver(answers, **options)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.close()


def doc_verify() -> Callable[..., bool]:
    """The `verify` function exactly as docs/notifications.md prints it."""
    after_marker = DOC.read_text().split("<!-- verify-example", 1)[1]
    code = re.search(r"```python\n(.*?)```", after_marker, flags=re.DOTALL)
    assert code is not None, "the verification example is missing from the doc"
    assert len([line for line in code.group(1).splitlines() if line.strip()]) <= 10
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)
    verify: Callable[..., bool] = namespace["verify"]
    return verify


def test_a_delivery_is_signed_json_that_the_docs_example_verifies(
    sender: WebhookSender, receivers: Callable[..., WebhookReceiver]
) -> None:
    receiver = receivers()
    delivery = sender.send(subscription(receiver.url), alert_event("escalated"))
    assert delivery.delivered and delivery.attempts == 1
    [request] = receiver.received
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-wherry-event"] == "escalated"
    assert abs(int(request.headers["x-wherry-timestamp"]) - time.time()) < 5
    signed = request.headers["x-wherry-timestamp"].encode() + b"." + request.body
    expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert request.headers["x-wherry-signature"] == f"sha256={expected}"
    assert json.loads(request.body)["event"] == "escalated"

    verify = doc_verify()
    headers = {name.title(): value for name, value in request.headers.items()}
    assert verify(SECRET, headers, request.body)
    assert not verify("another secret", headers, request.body)
    assert not verify(SECRET, headers, request.body.replace(b"R12", b"R13"))
    stale = {**headers, "X-Wherry-Timestamp": str(int(time.time()) - 3600)}
    assert not verify(SECRET, stale, request.body)


def test_server_errors_are_retried_with_growing_waits_until_delivered(
    sender: WebhookSender, receivers: Callable[..., WebhookReceiver]
) -> None:
    receiver = receivers(Answer(500), Answer(502), Answer(503))
    delivery = sender.send(subscription(receiver.url), alert_event())
    assert delivery.delivered and delivery.attempts == 4 and delivery.retries == 3
    times = [request.at for request in receiver.received]
    waits = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert waits[0] >= 0.05 and waits[1] >= 0.1 and waits[2] >= 0.2
    ids = {request.headers["x-wherry-delivery"] for request in receiver.received}
    assert len(ids) == 1, "every retry of one notification carries the same delivery id"


def test_a_receiver_that_always_fails_is_given_up_on_with_the_reason(
    sender: WebhookSender, receivers: Callable[..., WebhookReceiver]
) -> None:
    receiver = receivers(then=Answer(503, body=b"maintenance"))
    delivery = sender.send(subscription(receiver.url), alert_event())
    assert not delivery.delivered
    assert delivery.attempts == len(receiver.received) == 4
    assert "answered 503: maintenance" in delivery.reason
    assert "gave up after 4 tries" in delivery.reason


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_client_errors_other_than_429_are_not_retried(
    sender: WebhookSender, receivers: Callable[..., WebhookReceiver], status: int
) -> None:
    receiver = receivers(then=Answer(status))
    delivery = sender.send(subscription(receiver.url), alert_event())
    assert not delivery.delivered and delivery.attempts == 1 == len(receiver.received)
    assert f"answered {status}" in delivery.reason


def test_a_redirect_is_not_followed_and_says_where_to(
    sender: WebhookSender, receivers: Callable[..., WebhookReceiver]
) -> None:
    receiver = receivers(then=Answer(308, headers={"Location": "https://new.example/hook"}))
    delivery = sender.send(subscription(receiver.url), alert_event())
    assert not delivery.delivered and delivery.attempts == 1
    assert "https://new.example/hook" in delivery.reason


def test_retry_after_on_429_is_honoured(
    receivers: Callable[..., WebhookReceiver],
) -> None:
    receiver = receivers(Answer(429, headers={"Retry-After": "1"}))
    slow_backoff = RetryPolicy(attempts=3, backoff_s=0.01, jitter=0.0, retry_after_max_s=5)
    with_retry_after = WebhookSender(retry=slow_backoff)
    try:
        delivery = with_retry_after.send(subscription(receiver.url), alert_event())
    finally:
        with_retry_after.close()
    assert delivery.delivered and delivery.attempts == 2
    first, second = receiver.received
    assert second.at - first.at >= 0.95


def test_retry_after_is_capped(receivers: Callable[..., WebhookReceiver]) -> None:
    receiver = receivers(Answer(503, headers={"Retry-After": "3600"}))
    capped = WebhookSender(retry=RetryPolicy(attempts=2, retry_after_max_s=0.2, jitter=0.0))
    started = time.monotonic()
    try:
        delivery = capped.send(subscription(receiver.url), alert_event())
    finally:
        capped.close()
    assert delivery.delivered and delivery.attempts == 2
    assert time.monotonic() - started < 2.0


def test_timeouts_are_retried(receivers: Callable[..., WebhookReceiver]) -> None:
    receiver = receivers(Answer(200, delay_s=1.0))
    impatient = WebhookSender(WebhookOptions(timeout_s=0.3), retry=FAST)
    try:
        delivery = impatient.send(subscription(receiver.url), alert_event())
    finally:
        impatient.close()
    assert delivery.delivered and delivery.attempts == 2


def test_a_receiver_that_is_not_listening_is_retried_then_given_up_on(
    sender: WebhookSender,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    delivery = sender.send(subscription(url), alert_event())
    assert not delivery.delivered and delivery.attempts == 4
    assert "could not connect" in delivery.reason


def test_a_receiver_that_comes_up_late_still_gets_the_event(
    receivers: Callable[..., WebhookReceiver],
) -> None:
    port = free_port()
    patient = WebhookSender(retry=RetryPolicy(attempts=8, backoff_s=0.1, jitter=0.0))
    deliveries: list[Delivery] = []
    url = f"http://127.0.0.1:{port}/hook"
    sending = threading.Thread(
        target=lambda: deliveries.append(patient.send(subscription(url), alert_event()))
    )
    sending.start()
    time.sleep(0.25)
    receiver = receivers(port=port)
    sending.join(10)
    patient.close()
    [delivery] = deliveries
    assert delivery.delivered and delivery.attempts > 1
    assert len(receiver.received) == 1


def test_tls_is_verified_by_default_and_a_ca_file_makes_a_private_ca_trusted(
    receivers: Callable[..., WebhookReceiver], certificate: Certificate
) -> None:
    receiver = receivers(tls=certificate)
    assert receiver.url.startswith("https://localhost:")
    default = WebhookSender(retry=FAST)
    trusting = WebhookSender(WebhookOptions(ca_file=certificate.cert), retry=FAST)
    try:
        refused = default.send(subscription(receiver.url), alert_event())
        delivered = trusting.send(subscription(receiver.url), alert_event())
    finally:
        default.close()
        trusting.close()
    assert not refused.delivered and refused.attempts == 1
    assert "certificate not trusted" in refused.reason
    assert delivered.delivered
    assert len(receiver.received) == 1


def test_no_secret_no_signature(
    sender: WebhookSender, receivers: Callable[..., WebhookReceiver]
) -> None:
    receiver = receivers()
    assert sender.send(subscription(receiver.url, secret=None), alert_event()).delivered
    assert "x-wherry-signature" not in receiver.received[0].headers


def test_a_target_that_is_not_a_url_is_refused_at_once(sender: WebhookSender) -> None:
    delivery = sender.send(subscription("ops@council.example"), alert_event())
    assert not delivery.delivered and delivery.attempts == 1
    assert "not an http(s) URL" in delivery.reason


def test_stopping_cuts_a_long_backoff_short(receivers: Callable[..., WebhookReceiver]) -> None:
    receiver = receivers(then=Answer(500))
    patient = WebhookSender(retry=RetryPolicy(attempts=5, backoff_s=30.0))
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    try:
        delivery = patient.send(subscription(receiver.url), alert_event(), stop)
    finally:
        patient.close()
    assert time.monotonic() - started < 5
    assert not delivery.delivered and delivery.attempts == 1
    assert "stopped before the next try" in delivery.reason
