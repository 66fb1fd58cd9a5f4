"""The dispatcher: who hears about what, never holding up the engine, nothing lost."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from alerts.model import AlertEvent
from alerts.notify.broadcast import Broadcaster, StreamEvent
from alerts.notify.dispatch import Dispatcher, matches
from alerts.notify.email import EmailSender, SmtpOptions
from alerts.notify.retry import RetryPolicy
from alerts.notify.webhook import WebhookOptions, WebhookSender
from storage.registry.records import SubscriptionRecord
from tests.alerts.notify.receivers import (
    Answer,
    MailDrop,
    WebhookReceiver,
    alert_event,
    smtp_server,
    subscription,
)

FAST = RetryPolicy(attempts=3, backoff_s=0.05, jitter=0.0)


class FailedLog:
    """The `on_failed` callback: keeps what could not be delivered, as the lead's dead letters."""

    def __init__(self) -> None:
        self.entries: list[tuple[SubscriptionRecord, AlertEvent, str]] = []
        self._lock = threading.Lock()

    def __call__(self, subscription: SubscriptionRecord, event: AlertEvent, reason: str) -> None:
        with self._lock:
            self.entries.append((subscription, event, reason))


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


@pytest.fixture
def webhooks() -> Iterator[WebhookSender]:
    sender = WebhookSender(WebhookOptions(timeout_s=5.0), retry=FAST)
    yield sender
    sender.close()


def dispatcher_for(
    subscriptions: Sequence[SubscriptionRecord] | Callable[[], Sequence[SubscriptionRecord]],
    failed: FailedLog,
    **notifiers: Any,
) -> Dispatcher:
    lookup = subscriptions if callable(subscriptions) else (lambda: subscriptions)
    return Dispatcher(lookup, on_failed=failed, **notifiers)


# -- matching --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "event", "expected"),
    [
        ({}, alert_event(), True),
        ({"active": False}, alert_event(), False),
        ({"routes": ("R12", "R14")}, alert_event(route_id="R12"), True),
        ({"routes": ("R14",)}, alert_event(route_id="R12"), False),
        ({"routes": ("R14",)}, alert_event(route_id=None), False),
        ({"domains": ("air",)}, alert_event(domain="road"), False),
        ({"domains": ("air", "road")}, alert_event(domain="road"), True),
        ({"min_severity": "warning"}, alert_event(severity="info"), False),
        ({"min_severity": "warning"}, alert_event(severity="warning"), True),
        ({"min_severity": "critical"}, alert_event(severity="warning"), False),
        ({"min_severity": "info"}, alert_event(severity="info"), True),
        ({"min_severity": "critical"}, alert_event(severity="CRITICAL?"), True),
        ({"min_severity": "loud"}, alert_event(severity="info"), True),
    ],
)
def test_matching(options: dict[str, Any], event: AlertEvent, expected: bool) -> None:
    assert matches(subscription("https://x.example/", **options), event) is expected
    assert Dispatcher.matches(subscription("https://x.example/", **options), event) is expected


# -- delivery --------------------------------------------------------------------------------


def test_a_slow_webhook_delays_neither_the_caller_nor_the_other_subscribers(
    receivers: Callable[..., WebhookReceiver], webhooks: WebhookSender
) -> None:
    slow = receivers(then=Answer(200, delay_s=0.8))
    fast = receivers()
    failed = FailedLog()
    dispatcher = dispatcher_for(
        [subscription(slow.url, id=1), subscription(fast.url, id=2)], failed, webhook=webhooks
    )
    events = [alert_event(kind) for kind in ("raised", "escalated", "acknowledged", "cleared")]
    started = time.monotonic()
    for event in events:
        dispatcher.dispatch(event)
    assert time.monotonic() - started < 0.2, "dispatch only queues (a send takes 0.8 s)"
    fast.wait_for(4, timeout=1.5)
    assert len(slow.received) < 4, "the fast receiver did not wait for the slow one"
    assert dispatcher.close(timeout=10)
    for receiver in (slow, fast):
        kinds = [request.headers["x-wherry-event"] for request in receiver.received]
        assert kinds == ["raised", "escalated", "acknowledged", "cleared"], "in order"
    assert failed.entries == []
    counts = dispatcher.counts.snapshot()
    assert counts["webhook_sent"] == 8 and counts["events"] == 4
    assert counts.get("webhook_failed", 0) == 0


def test_what_cannot_be_delivered_goes_to_on_failed_with_the_reason(
    receivers: Callable[..., WebhookReceiver], webhooks: WebhookSender
) -> None:
    down = receivers(then=Answer(503))
    gone = receivers(then=Answer(410))
    failed = FailedLog()
    subs = [subscription(down.url, id=1), subscription(gone.url, id=2)]
    dispatcher = dispatcher_for(subs, failed, webhook=webhooks)
    event = alert_event()
    dispatcher.dispatch(event)
    assert dispatcher.close(timeout=10)
    reasons = {sub.id: (ev, reason) for sub, ev, reason in failed.entries}
    assert reasons[1][0] is event and "503" in reasons[1][1] and "gave up after 3" in reasons[1][1]
    assert reasons[2][0] is event and "410" in reasons[2][1]
    counts = dispatcher.counts.snapshot()
    assert counts["webhook_failed"] == 2
    assert counts["webhook_retried"] == 2  # the 503 receiver was tried three times
    assert len(down.received) == 3 and len(gone.received) == 1


def test_only_matching_active_subscriptions_hear(
    receivers: Callable[..., WebhookReceiver], webhooks: WebhookSender
) -> None:
    receiver = receivers()
    failed = FailedLog()
    subs = [
        subscription(receiver.url, id=1, routes=("R12",)),
        subscription(receiver.url, id=2, routes=("R14",)),
        subscription(receiver.url, id=3, active=False),
        subscription(receiver.url, id=4, min_severity="critical"),
    ]
    dispatcher = dispatcher_for(subs, failed, webhook=webhooks)
    dispatcher.dispatch(alert_event(route_id="R12", severity="warning"))
    assert dispatcher.close(timeout=10)
    assert len(receiver.received) == 1
    assert failed.entries == []


def test_e_mail_goes_out_through_the_dispatcher_and_an_unconfigured_channel_is_reported(
    receivers: Callable[..., WebhookReceiver],
) -> None:
    drop = MailDrop()
    relay: Controller = smtp_server(drop)
    try:
        mail = EmailSender(SmtpOptions(host="127.0.0.1", port=relay.port, starttls=False))
        failed = FailedLog()
        subs = [
            subscription("duty@council.example", id=1, channel="email"),
            subscription("https://hooks.example/x", id=2, channel="webhook"),
        ]
        dispatcher = dispatcher_for(subs, failed, email=mail)  # no webhook sender
        dispatcher.dispatch(alert_event())
        assert dispatcher.close(timeout=10)
        [message] = drop.wait_for(1)
    finally:
        relay.stop()
    assert message["Subject"] == "[wherry] TREAT R12 Matlock A6 — raised"
    [(sub, _, reason)] = failed.entries
    assert sub.id == 2 and reason == "no webhook sender is configured in wherry"
    assert dispatcher.counts.snapshot()["email_sent"] == 1


def test_the_live_stream_hears_every_alert_at_once() -> None:
    broadcaster = Broadcaster()
    failed = FailedLog()

    async def main() -> StreamEvent | object:
        with broadcaster.listen() as listener:
            dispatcher = dispatcher_for([], failed, broadcaster=broadcaster)
            dispatcher.dispatch(alert_event("acknowledged"))
            item = await listener.next(timeout=1)
            dispatcher.close(timeout=5)
            return item

    item = asyncio.run(main())
    assert isinstance(item, StreamEvent) and item.name == "alert"
    assert item.data["event"] == "acknowledged" and item.data["alert_id"] == 42


def test_subscriptions_that_cannot_be_read_are_read_again(
    receivers: Callable[..., WebhookReceiver], webhooks: WebhookSender
) -> None:
    receiver = receivers()
    calls = 0

    def flaky() -> Sequence[SubscriptionRecord]:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise ConnectionError("registry is restarting")
        return [subscription(receiver.url)]

    failed = FailedLog()
    dispatcher = Dispatcher(flaky, webhook=webhooks, on_failed=failed, lookup_retry_s=0.05)
    dispatcher.dispatch(alert_event())
    assert dispatcher.close(timeout=10)
    assert len(receiver.received) == 1
    assert dispatcher.counts.snapshot()["lookup_errors"] == 2


def test_closing_with_a_stuck_receiver_cuts_it_short_and_reports_what_was_left(
    receivers: Callable[..., WebhookReceiver],
) -> None:
    down = receivers(then=Answer(503))
    patient = WebhookSender(retry=RetryPolicy(attempts=10, backoff_s=30.0))
    failed = FailedLog()
    dispatcher = dispatcher_for([subscription(down.url)], failed, webhook=patient)
    dispatcher.dispatch(alert_event("raised"))
    dispatcher.dispatch(alert_event("cleared"))
    down.wait_for(1)
    started = time.monotonic()
    assert dispatcher.close(timeout=0.3) is False
    assert time.monotonic() - started < 3
    patient.close()
    reasons = [(event.kind, reason) for _, event, reason in failed.entries]
    assert reasons[0][0] == "raised" and "stopped before the next try" in reasons[0][1]
    assert reasons[1] == ("cleared", "wherry stopped before this was sent")
    assert dispatcher.pending() == 0


def test_a_subscription_with_too_much_waiting_gets_the_excess_as_failures(
    receivers: Callable[..., WebhookReceiver], webhooks: WebhookSender
) -> None:
    stalled = receivers(Answer(200, delay_s=0.5))
    failed = FailedLog()
    dispatcher = Dispatcher(
        lambda: [subscription(stalled.url)], webhook=webhooks, on_failed=failed, backlog_limit=2
    )
    for n in range(5):
        dispatcher.dispatch(alert_event(alert_id=n))
    assert dispatcher.close(timeout=10)
    delivered = len(stalled.received)
    assert delivered + len(failed.entries) == 5
    assert len(failed.entries) >= 2
    assert all("already waiting" in reason for _, _, reason in failed.entries)


def test_an_event_after_close_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    dispatcher = dispatcher_for([], FailedLog())
    assert dispatcher.close(timeout=1)
    dispatcher.dispatch(alert_event())
    assert "came after notifications stopped" in caplog.text
