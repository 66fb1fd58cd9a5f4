"""Notifications: alert events out to webhooks, e-mail and the live stream.

One module per channel beside the shared pieces: `payload` (the JSON every channel
sends), `retry` (backoff), `broadcast` (live events for SSE clients) and
`dispatch` (who hears about what, without holding up the engine).
"""

from alerts.notify.broadcast import Broadcaster, Gap, Listener, StreamEvent
from alerts.notify.dispatch import Dispatcher, FailedCallback, Notifier, NotifyCounts, matches
from alerts.notify.email import EmailSender, SmtpOptions, SmtpUrlError
from alerts.notify.payload import PAYLOAD_VERSION, alert_payload, encode
from alerts.notify.retry import Delivery, RetryPolicy
from alerts.notify.webhook import WebhookOptions, WebhookSender, signature

__all__ = [
    "PAYLOAD_VERSION",
    "Broadcaster",
    "Delivery",
    "Dispatcher",
    "EmailSender",
    "FailedCallback",
    "Gap",
    "Listener",
    "Notifier",
    "NotifyCounts",
    "RetryPolicy",
    "SmtpOptions",
    "SmtpUrlError",
    "StreamEvent",
    "WebhookOptions",
    "WebhookSender",
    "alert_payload",
    "encode",
    "matches",
    "signature",
]
