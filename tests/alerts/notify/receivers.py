"""Real servers for notifier tests: an HTTP webhook receiver, an SMTP server, a TLS certificate.

No mocks: the notifiers talk over real sockets to these, as they would to a
council's alerting system or mail relay.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from alerts.model import AlertEvent, AlertEventKind
from storage.registry.records import AlertRecord, SubscriptionRecord
from tests.servers import free_port

RAISED_AT = datetime(2026, 1, 12, 3, 14, 5, tzinfo=UTC)


def alert_event(
    kind: AlertEventKind = "raised",
    *,
    alert_id: int = 42,
    route_id: str | None = "R12",
    domain: str | None = "road",
    severity: str = "critical",
    summary: str = "TREAT R12 Matlock A6",
    at: datetime = RAISED_AT,
) -> AlertEvent:
    """An event of the gritting rule's shape, as the alert book would hand it over."""
    alert = AlertRecord(
        id=alert_id,
        key=f"gritting:{route_id}",
        rule="gritting",
        severity=severity,
        status="cleared" if kind == "cleared" else "raised",
        summary=summary,
        explanation={
            "state": "ICE_LIKELY",
            "deciding_sensor": "rst-12a",
            "latest_c": -0.4,
            "predicted_minimum_c": -1.2,
            "silent": ["rst-12c"],
        },
        raised_at=RAISED_AT,
        updated_at=at,
        route_id=route_id,
        device_id=None,
        domain=domain,
        site="Matlock",
        cleared_at=at if kind == "cleared" else None,
    )
    return AlertEvent(kind=kind, alert=alert, at=at)


def subscription(
    target: str,
    *,
    id: int = 1,
    channel: str = "webhook",
    secret: str | None = "s3cret-for-tests",
    routes: tuple[str, ...] = (),
    domains: tuple[str, ...] = (),
    min_severity: str = "warning",
    active: bool = True,
) -> SubscriptionRecord:
    return SubscriptionRecord(
        id=id,
        name=f"test {channel} {id}",
        channel=channel,  # type: ignore[arg-type]
        target=target,
        secret=secret,
        routes=routes,
        domains=domains,
        min_severity=min_severity,
        active=active,
    )


# -- TLS ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for `localhost` and 127.0.0.1; `cert` is also its own CA."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificate(directory: Path) -> Certificate:
    """Made with the openssl CLI (the `cryptography` package is not installed here)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("these TLS tests need the openssl command-line tool")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Certificate(cert, key)


# -- webhooks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """How the receiver answers one POST: a status, headers, and an optional stall first."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    body: bytes = b""


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.monotonic()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (a timeout test) is expected, not news


class WebhookReceiver:
    """A real HTTP(S) server on a thread: answers POSTs from a script, then with `then`."""

    def __init__(
        self,
        answers: Iterable[Answer] = (),
        *,
        then: Answer | None = None,
        tls: Certificate | None = None,
        port: int = 0,
    ) -> None:
        self._answers = list(answers)
        self._then = then or Answer()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                answer = receiver._record(
                    Received(
                        {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()
                    )
                )
                time.sleep(answer.delay_s)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", port), Handler)
        scheme = "http"
        if tls is not None:
            self._server.socket = tls.server_context().wrap_socket(
                self._server.socket, server_side=True
            )
            scheme = "https"
        self.url = f"{scheme}://localhost:{self._server.server_address[1]}/hooks/wherry"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _record(self, received: Received) -> Answer:
        with self._arrived:
            self.received.append(received)
            self._arrived.notify_all()
            return self._answers.pop(0) if self._answers else self._then

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} requests arrived, not {count}")
            return list(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- SMTP -----------------------------------------------------------------------------------


class MailDrop:
    """An aiosmtpd handler keeping every message; answers DATA from a script first."""

    def __init__(self, answers: Iterable[str] = ()) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []
        self.sessions: list[Session] = []
        self.data_commands = 0
        self._answers = list(answers)
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._arrived:
            self.data_commands += 1
            if self._answers:
                return self._answers.pop(0)
            content = envelope.content
            assert isinstance(content, bytes)
            message = message_from_bytes(content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
            self.envelopes.append(envelope)
            self.sessions.append(session)
            self._arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"{len(self.messages)} messages arrived, not {count}")
            return list(self.messages)


def password_check(username: str, password: str) -> Any:
    """An aiosmtpd authenticator accepting one login (AUTH LOGIN and PLAIN)."""

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            username.encode(),
            password.encode(),
        )
        # handled=False: aiosmtpd answers a failure with 535, as real servers do
        return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)

    return authenticate


def smtp_server(drop: MailDrop, **smtp_parameters: Any) -> Controller:
    """A started aiosmtpd server on 127.0.0.1; stop it with `.stop()`."""
    controller = Controller(
        drop, hostname="127.0.0.1", port=free_port(), server_hostname="mail.test",
        **smtp_parameters,
    )  # fmt: skip
    controller.start()
    return controller
