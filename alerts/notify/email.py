"""E-mail: an alert event as a message a duty officer can read on a phone, over SMTP.

STARTTLS is required unless the configuration turns it off (a local relay on the
same host); AUTH LOGIN/PLAIN when a username is given. The plain-text body leads
with what to do; the same JSON as the webhooks rides along as an attachment for tools.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from alerts.model import AlertEvent
from alerts.notify.payload import alert_payload, encode, iso_utc, json_ready
from alerts.notify.retry import SUCCESS, Attempt, Delivery, RetryPolicy, deliver
from storage.registry.records import SubscriptionRecord

log = logging.getLogger(__name__)

SUBJECT_SUMMARY_CHARS = 120
URL_QUERY_KEYS = ("starttls", "from", "timeout", "ca_file")
TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "0", "off"})


class SmtpUrlError(ValueError):
    """An SMTP URL wherry cannot use; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class SmtpOptions:
    """The SMTP server alerts go out through.

    `starttls` True (the default) refuses to send unless the server upgrades the
    connection to TLS, verified against the system CAs or `ca_file`.
    """

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    from_address: str = "wherry@localhost"
    timeout: float = 10.0
    ca_file: Path | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpOptions:
        """`smtp://user:pass@host:587?starttls=true&from=gritting@council.example`.

        Also `timeout=<seconds>` and `ca_file=<path>`. User and password are
        percent-decoded (`%40` for `@`). The port defaults to 587 with STARTTLS, 25 without.
        """
        parts = urlsplit(url)
        if parts.scheme != "smtp":
            raise SmtpUrlError(
                f"an SMTP URL starts with smtp:// (STARTTLS on port 587), not {parts.scheme!r}://"
            )
        if not parts.hostname:
            raise SmtpUrlError("the SMTP URL names no host: smtp://user:pass@host:587")
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(query) - set(URL_QUERY_KEYS))
        if unknown:
            raise SmtpUrlError(
                f"unknown SMTP URL options {unknown}; known: {', '.join(URL_QUERY_KEYS)}"
            )
        values = {key: query[key][-1] for key in query}
        starttls = _flag(values.get("starttls", "true"))
        try:
            port = parts.port or (587 if starttls else 25)
            timeout = float(values.get("timeout", "10"))
        except ValueError as exc:
            raise SmtpUrlError(f"SMTP URL: {exc}") from exc
        username = unquote(parts.username) if parts.username else None
        sender = values.get("from") or (username if username and "@" in username else None)
        return cls(
            host=parts.hostname,
            port=port,
            username=username,
            password=unquote(parts.password) if parts.password is not None else None,
            starttls=starttls,
            from_address=sender or "wherry@localhost",
            timeout=timeout,
            ca_file=Path(values["ca_file"]) if values.get("ca_file") else None,
        )


class EmailSender:
    """Sends alert events to e-mail subscriptions; one SMTP session per message, thread-safe."""

    def __init__(self, options: SmtpOptions, *, retry: RetryPolicy | None = None) -> None:
        self.options = options
        self.retry = retry or RetryPolicy()
        self._tls = ssl.create_default_context(
            cafile=str(options.ca_file) if options.ca_file else None
        )

    def send(
        self,
        subscription: SubscriptionRecord,
        event: AlertEvent,
        stop: threading.Event | None = None,
    ) -> Delivery:
        """Mail `event` to the subscription's address(es), retrying as the policy says."""
        message = compose(event, sender=self.options.from_address, to=subscription.target)
        return deliver(lambda: self.submit(message), self.retry, stop)

    def submit(self, message: EmailMessage) -> Attempt:
        """One SMTP session: connect, STARTTLS, AUTH, send; what it did and whether to retry."""
        where = f"SMTP server {self.options.host}:{self.options.port}"
        smtp: smtplib.SMTP | None = None
        try:
            # Connecting in the constructor also tells STARTTLS which name to verify.
            smtp = smtplib.SMTP(self.options.host, self.options.port, timeout=self.options.timeout)
            smtp.ehlo()
            if self.options.starttls:
                if not smtp.has_extn("starttls"):
                    return Attempt(
                        ok=False,
                        reason=f"{where} does not offer STARTTLS; turn starttls off only "
                        "for a relay on a trusted network",
                    )
                smtp.starttls(context=self._tls)
                smtp.ehlo()
            if self.options.username:
                smtp.login(self.options.username, self.options.password or "")
            refused = smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            return Attempt(ok=False, reason=f"{where} refused the login: {_said(exc)}")
        except smtplib.SMTPNotSupportedError as exc:
            return Attempt(ok=False, reason=f"{where}: {exc}")
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            reason = f"{where} refused every recipient: {_recipients(exc.recipients)}"
            return Attempt(ok=False, reason=reason, retryable=all(400 <= c < 500 for c in codes))
        except smtplib.SMTPResponseException as exc:
            transient = 400 <= exc.smtp_code < 500
            return Attempt(ok=False, reason=f"{where}: {_said(exc)}", retryable=transient)
        except ssl.SSLCertVerificationError as exc:
            return Attempt(
                ok=False,
                reason=f"{where}: TLS certificate not trusted ({exc.verify_message}); "
                "give the SMTP CA file if the server uses a private CA",
            )
        except (smtplib.SMTPException, OSError) as exc:
            return Attempt(ok=False, retryable=True, reason=f"{where}: {type(exc).__name__} {exc}")
        finally:
            if smtp is not None:
                _quit(smtp)
        if refused:
            log.warning("%s refused some recipients: %s", where, _recipients(refused))
        return SUCCESS


def compose(event: AlertEvent, *, sender: str, to: str) -> EmailMessage:
    """The message: a subject and plain-text body for people, the JSON attached for tools."""
    message = EmailMessage()
    message["Subject"] = subject(event)
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid("wherry", domain=sender.rpartition("@")[2] or None)
    message["X-Wherry-Event"] = event.kind
    message.set_content(body_text(event))
    message.add_attachment(
        encode(alert_payload(event)),
        maintype="application",
        subtype="json",
        filename=f"wherry-alert-{event.alert.id}-{event.kind}.json",
    )
    return message


def subject(event: AlertEvent) -> str:
    """`[wherry] TREAT R12 Matlock A6 — raised`: the summary first, so it fits a lock screen."""
    summary = " ".join(event.alert.summary.split())
    if len(summary) > SUBJECT_SUMMARY_CHARS:
        summary = summary[: SUBJECT_SUMMARY_CHARS - 1] + "…"
    return f"[wherry] {summary} — {event.kind}"


def body_text(event: AlertEvent) -> str:
    """What happened, where, when and why, in short lines; times in UTC, said so."""
    alert = event.alert
    lines = [alert.summary, "", f"{_headline(event)} · {alert.severity} · alert {alert.id}"]
    where = [
        f"{label} {value}"
        for label, value in (
            ("route", alert.route_id),
            ("site", alert.site),
            ("device", alert.device_id),
            ("domain", alert.domain),
        )
        if value
    ]
    if where:
        lines.append(" · ".join(where))
    lines.append(f"At {_readable(iso_utc(event.at))}")
    if alert.raised_at != event.at:
        lines.append(f"Raised {_readable(iso_utc(alert.raised_at))}")
    if alert.acknowledged_at is not None:
        who = f" by {alert.acknowledged_by}" if alert.acknowledged_by else ""
        lines.append(f"Acknowledged{who} {_readable(iso_utc(alert.acknowledged_at))}")
    if alert.cleared_at is not None:
        lines.append(f"Cleared {_readable(iso_utc(alert.cleared_at))}")
    why = _explanation_lines(alert.explanation)
    if why:
        lines += ["", "Why:", *why]
    lines += ["", f"-- wherry · rule {alert.rule} · key {alert.key}"]
    return "\n".join(lines) + "\n"


def _headline(event: AlertEvent) -> str:
    return {
        "raised": "Raised",
        "escalated": "Escalated",
        "acknowledged": "Acknowledged",
        "cleared": "Cleared",
    }.get(event.kind, event.kind.capitalize())


def _explanation_lines(explanation: Mapping[str, object]) -> list[str]:
    """One line per field of the rule's explanation; nested values as compact JSON."""
    lines = []
    for name, value in explanation.items():
        ready = json_ready(value)
        shown = ready if isinstance(ready, str) else json.dumps(ready, ensure_ascii=False)
        lines.append(f"  {name}: {shown}")
    return lines


def _readable(moment: str | None) -> str:
    """`2026-01-12 03:14:05 UTC` from ISO 8601: easier on the eye at 3 a.m."""
    if moment is None:
        return "?"
    return moment.replace("T", " ").removesuffix("Z").split(".")[0] + " UTC"


def _flag(value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise SmtpUrlError(f"starttls must be true or false, not {value!r}")


def _said(exc: smtplib.SMTPResponseException) -> str:
    said = exc.smtp_error
    text = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
    return f"{exc.smtp_code} {text}".strip()


def _recipients(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return ", ".join(
        f"{address} ({code} {said.decode(errors='replace')})"
        for address, (code, said) in refused.items()
    )


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye if the session is still up; a failed goodbye never undoes a sent message."""
    try:
        if smtp.sock is not None:
            smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
