"""MQTT as a source of uplinks: The Things Stack's broker, ChirpStack's, or an own Mosquitto.

Two kinds of broker, two delivery contracts:

- The Things Stack speaks MQTT 3.1.1 with QoS 0 only: what arrives while the
  bridge is away is lost (the Storage Integration backfill covers the gap).
- An own broker gets QoS 1 and a persistent session under a client id that stays
  the same across restarts. Messages are acknowledged by hand (`manual_ack`):
  `RawMessage.acknowledge` sends the PUBACK, and the pipeline calls it only once
  the message is durably handed off. Anything unacknowledged when the connection
  drops is redelivered by the broker after the reconnect.

Several bridge workers share the load with a shared subscription (`$share/{group}/…`):
the broker hands each message to one member of the group. A member with a persistent
session stays in the group while it is away (Mosquitto queues its share for it), so a
worker that stops cleanly leaves the group first (`leave_shared`) and the others take
its share.

paho-mqtt runs the network in its own thread: `start()` never blocks and never
fails because the broker is down; it keeps retrying with capped exponential
backoff and subscribes again on every connect.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway_bridge.sources.mqtt_client import BufferedClient
from gateway_bridge.uplink import RawMessage

log = logging.getLogger(__name__)

MqttProtocol = Literal["3.1.1", "5"]

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
TTN_HOST_SUFFIXES = ("thethings.network", "cloud.thethings.industries")


class MqttOptionsError(ValueError):
    """MQTT settings that cannot work; the message names the setting and what is expected."""


@dataclass(frozen=True, repr=False)
class MqttOptions:
    """How to reach one broker and what to subscribe to.

    `None` means "choose for me": `port` 1883 (8883 with TLS); `qos` 0 for The
    Things Stack (every topic is `v3/…`, or the host is TTN's or TTI's cloud),
    else 1; `persistent` when the QoS is at least 1; `client_id`
    `wherry-<hostname>-<hash of broker, user and topics>`, the same on every
    restart so the persistent session resumes. With a shared subscription the
    hash also covers `worker` (wherry passes its data dir), so workers on one
    host get distinct ids without being told: two clients with one id would take
    the session from each other in turn. The `effective_*` properties give the
    resolved values. The password never appears in `repr()` or in logs.
    """

    host: str
    topics: tuple[str, ...]
    port: int | None = None
    tls: bool = False
    username: str | None = None
    password: str | None = None
    qos: int | None = None
    client_id: str | None = None
    persistent: bool | None = None
    ca_file: str | None = None
    """PEM bundle of the CAs to trust; None trusts the system's CAs."""
    cert_file: str | None = None
    """PEM client certificate, for brokers that authenticate clients by certificate."""
    key_file: str | None = None
    tls_insecure: bool = False
    """Accept any server certificate (no chain, no hostname check). Testing only."""
    keepalive: int = 60
    protocol: MqttProtocol = "3.1.1"
    reconnect_min_delay: int = 1
    reconnect_max_delay: int = 60
    session_expiry: int = 7 * 24 * 3600
    """MQTT 5 only: seconds the broker keeps a persistent session while the bridge is away."""
    worker: str | None = None
    """What sets this bridge worker apart from others on the same host (its data dir);
    part of the default client id when a topic is a shared subscription."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "topics", tuple(self.topics))
        _check_options(self)

    @classmethod
    def from_url(cls, url: str, topics: Sequence[str], **kw: Any) -> MqttOptions:
        """Options from `mqtt://[user[:password]@]host[:port]` or `mqtts://…` plus topics.

        Percent-encode reserved characters in the user name and password
        (`@` → `%40`, `:` → `%3A`). Other keyword arguments set the fields of the
        same name (`qos=1`, `ca_file="ca.pem"`…).
        """
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise MqttOptionsError(f"MQTT URL {_redact_url(url)!r} is not valid: {exc}") from None
        if parts.scheme not in DEFAULT_PORTS:
            raise MqttOptionsError(
                f"MQTT URL {_redact_url(url)!r} must start with mqtt:// or mqtts:// (TLS)"
            )
        if not parts.hostname:
            raise MqttOptionsError(f"MQTT URL {_redact_url(url)!r} has no host name")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise MqttOptionsError(
                f"MQTT URL {_redact_url(url)!r} must be only scheme://user:password@host:port; "
                "give topics separately"
            )
        return cls(
            host=parts.hostname,
            port=port,
            tls=parts.scheme == "mqtts",
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
            topics=tuple(topics),
            **kw,
        )

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return DEFAULT_PORTS["mqtts" if self.tls else "mqtt"]

    @property
    def is_things_stack(self) -> bool:
        """True for The Things Stack's broker, which allows QoS 0 only."""
        host = self.host.lower().rstrip(".")
        if any(host == s or host.endswith("." + s) for s in TTN_HOST_SUFFIXES):
            return True
        return all(_unshared(topic).startswith("v3/") for topic in self.topics)

    @property
    def shared_topics(self) -> tuple[str, ...]:
        """The `$share/{group}/{filter}` subscriptions, which this worker leaves on a clean stop."""
        return tuple(topic for topic in self.topics if topic.startswith("$share/"))

    @property
    def effective_qos(self) -> int:
        if self.qos is not None:
            return self.qos
        return 0 if self.is_things_stack else 1

    @property
    def effective_persistent(self) -> bool:
        return self.persistent if self.persistent is not None else self.effective_qos >= 1

    @property
    def effective_client_id(self) -> str:
        if self.client_id:
            return self.client_id
        identity = "\n".join(
            [self.host.lower(), str(self.effective_port), self.username or "", *sorted(self.topics)]
        )
        if self.shared_topics and self.worker:
            identity += "\nworker=" + self.worker  # unshared: the id of earlier releases
        digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
        hostname = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0])[:32]
        return f"wherry-{hostname or 'host'}-{digest}"

    @property
    def redacted_url(self) -> str:
        """The broker as a URL with the password replaced by `***`, safe to log."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = ""
        if self.username is not None:
            user = self.username + (":***" if self.password is not None else "") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.effective_port}"

    def __repr__(self) -> str:
        return (
            f"MqttOptions(url={self.redacted_url!r}, topics={self.topics!r}, "
            f"qos={self.effective_qos}, persistent={self.effective_persistent}, "
            f"client_id={self.effective_client_id!r}, protocol={self.protocol!r}, "
            f"ca_file={self.ca_file!r}, cert_file={self.cert_file!r}, key_file={self.key_file!r}, "
            f"tls_insecure={self.tls_insecure}, keepalive={self.keepalive}, "
            f"reconnect_delay={self.reconnect_min_delay}..{self.reconnect_max_delay}s)"
        )

    __str__ = __repr__


MessageHandler = Callable[[RawMessage], None]


class MqttSource:
    """Subscribes to `options.topics` and hands every message to `on_message` as a `RawMessage`.

    `connected` is set once the broker has accepted the connection and answered
    the subscription (what is published from then on arrives), and cleared on
    disconnect. `on_message` runs on paho's network thread: hand the message off
    quickly. An exception it raises is logged and the message is left
    unacknowledged (the broker redelivers it after the next reconnect).
    `on_ready`, also on paho's thread, is called each time `connected` is set: what
    was published while the bridge was away can be fetched from then on (backfill).
    """

    def __init__(
        self,
        options: MqttOptions,
        on_message: MessageHandler,
        *,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.options = options
        self.connected = threading.Event()
        self._on_message = on_message
        self._on_ready = on_ready  # after every (re)connect and subscription: start a backfill
        self._client: paho.Client | None = None
        self._stopping = False
        self._last_error: str | None = None
        self._failures = 0
        self._session_up = False  # CONNACK accepted on the current connection
        self._attempt_reported = False
        # Bumped on every disconnect: an acknowledgement of a message received on an
        # earlier connection is dropped (the broker redelivers it on the new one).
        self._generation = 0
        self._ack_lock = threading.Lock()
        self._pending_subscriptions: dict[int, list[str]] = {}
        self._leaving = False  # left the shared subscriptions: a reconnect must not rejoin
        self._unsubscribed = threading.Condition()
        self._unsubscribe_answers: dict[int, bool] = {}  # UNSUBACKs by packet id: accepted?

    @property
    def last_error(self) -> str | None:
        """Why the last connection attempt failed, or None once connected."""
        return self._last_error

    def start(self) -> None:
        """Start connecting in the background; returns at once, even if the broker is down.

        Raises `MqttOptionsError` only for TLS files that cannot be loaded.
        """
        if self._client is not None:
            raise RuntimeError("this MqttSource was already started")
        options = self.options
        self._stopping = False
        client = self._create_client()
        self._client = client
        log.info(
            "MQTT connecting to %s (tls=%s, client_id=%s, qos=%d, persistent session=%s, "
            "topics=%s)",
            options.redacted_url,
            options.tls,
            options.effective_client_id,
            options.effective_qos,
            options.effective_persistent,
            ", ".join(options.topics),
        )
        if options.protocol == "5":
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = (
                options.session_expiry if options.effective_persistent else 0
            )
            client.connect_async(
                options.host,
                options.effective_port,
                options.keepalive,
                clean_start=not options.effective_persistent,
                properties=properties,
            )
        else:
            client.connect_async(options.host, options.effective_port, options.keepalive)
        client.loop_start()

    def wait_connected(self, timeout: float | None = None) -> bool:
        """True once connected and subscribed, False if `timeout` seconds pass first."""
        return self.connected.wait(timeout)

    def leave_shared(self, timeout: float = 5.0) -> bool:
        """Unsubscribe from the `$share/…` filters; True once the broker has confirmed.

        From then on the broker gives this worker's share to the rest of the group, and
        sends here only what it had already queued for this session (hand that to the
        pipeline as usual before stopping). Without it, a persistent session stays in
        the group while the worker is away and the broker piles a share up for it.
        False when there is nothing to leave or the broker did not answer in time.
        """
        client = self._client
        shared = list(self.options.shared_topics)
        if client is None or not shared:
            return False
        self._leaving = True
        if not self.connected.is_set():
            return False
        result, mid = client.unsubscribe(shared)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            log.warning("MQTT could not leave %s: %s", ", ".join(shared), result)
            return False
        with self._unsubscribed:  # the answer may have come before we got here
            answered = self._unsubscribed.wait_for(
                lambda: mid in self._unsubscribe_answers, timeout
            )
            accepted = self._unsubscribe_answers.pop(mid, False)
        if not answered:
            log.warning("MQTT broker did not confirm leaving %s", ", ".join(shared))
        if not accepted:
            return False
        log.info("MQTT left %s: the rest of the group takes this worker's share", ", ".join(shared))
        return True

    def stop(self, timeout: float = 10) -> None:
        """Disconnect cleanly (queued acknowledgements go out first) and stop the network thread."""
        client, self._client = self._client, None
        if client is None:
            return
        self._stopping = True
        client.disconnect()
        stopper = threading.Thread(target=client.loop_stop, name="mqtt-stop", daemon=True)
        stopper.start()
        stopper.join(timeout)
        if stopper.is_alive():
            log.warning("MQTT network thread did not stop within %.0f s", timeout)
        self.connected.clear()

    def __enter__(self) -> MqttSource:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- paho wiring --------------------------------------------------------------

    def _create_client(self) -> paho.Client:
        options = self.options
        v5 = options.protocol == "5"
        client = BufferedClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=options.effective_client_id,
            clean_session=None if v5 else not options.effective_persistent,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            reconnect_on_failure=True,
            manual_ack=options.effective_qos >= 1,
        )
        if options.username is not None:
            client.username_pw_set(options.username, options.password)
        if options.tls:
            client.tls_set_context(_tls_context(options))
            if options.tls_insecure:
                log.warning(
                    "MQTT TLS certificate checks are OFF for %s (tls_insecure): "
                    "anyone on the path can read and forge uplinks",
                    options.redacted_url,
                )
                client.tls_insecure_set(True)
        client.reconnect_delay_set(options.reconnect_min_delay, options.reconnect_max_delay)
        client.on_pre_connect = self._handle_pre_connect
        client.on_connect = self._handle_connect
        client.on_connect_fail = self._handle_connect_fail
        client.on_disconnect = self._handle_disconnect
        client.on_subscribe = self._handle_subscribe
        client.on_unsubscribe = self._handle_unsubscribe
        client.on_message = self._handle_message
        return client

    def _next_delay(self) -> int:
        options = self.options
        delay: int = options.reconnect_min_delay << min(self._failures, 30)
        return min(delay, options.reconnect_max_delay)

    def _handle_pre_connect(self, client: paho.Client, userdata: object) -> None:
        self._attempt_reported = False

    def _failed_attempt(self, error: str, level: int, advice: str = "") -> None:
        """Record and log a connection attempt that did not end in a session."""
        self._last_error = error
        self._attempt_reported = True
        if not self._stopping:
            log.log(
                level,
                "MQTT could not connect to %s: %s%s; retrying in about %d s",
                self.options.redacted_url,
                error,
                advice,
                self._next_delay(),
            )
        self._failures += 1

    def _handle_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        options = self.options
        if reason_code.is_failure:
            self._failed_attempt(
                f"the broker refused the connection: {reason_code}",
                logging.ERROR,
                " (check the user name, password and client id)",
            )
            return
        self._failures = 0
        self._last_error = None
        self._session_up = True
        log.info(
            "MQTT connected to %s:%d (tls=%s, client_id=%s, session present=%s)",
            options.host,
            options.effective_port,
            options.tls,
            options.effective_client_id,
            flags.session_present,
        )
        qos = options.effective_qos
        topics = [t for t in options.topics if not (self._leaving and t in options.shared_topics)]
        if not topics:  # stopping, and every subscription was shared: nothing to rejoin
            self.connected.set()
            return
        result, mid = client.subscribe([(topic, qos) for topic in topics])
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            log.error("MQTT subscribe to %s failed: %s", ", ".join(topics), result)
        else:
            self._pending_subscriptions[mid] = topics

    def _handle_subscribe(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        topics = self._pending_subscriptions.pop(mid, None)
        if topics is None:
            return
        for topic, code in zip(topics, reason_codes, strict=False):
            if code.is_failure:
                log.error(
                    "MQTT broker refused the subscription to %s: %s (check its ACL)", topic, code
                )
            else:
                log.info("MQTT subscribed to %s (granted qos %d)", topic, code.value)
        self.connected.set()  # ready: what is published from now on reaches us
        if self._on_ready is not None:
            try:
                self._on_ready()
            except Exception:
                log.exception("MQTT on_ready callback failed")

    def _handle_unsubscribe(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        failed = [code for code in reason_codes if code.is_failure]
        if failed:
            log.warning("MQTT broker refused to unsubscribe: %s", ", ".join(map(str, failed)))
        with self._unsubscribed:
            self._unsubscribe_answers[mid] = not failed
            self._unsubscribed.notify_all()

    def _handle_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._ack_lock:
            self._generation += 1
        was_connected, self._session_up = self._session_up, False
        self.connected.clear()
        self._pending_subscriptions.clear()
        if self._stopping:
            log.info("MQTT disconnected from %s (stopped)", self.options.redacted_url)
        elif not was_connected:
            if not self._attempt_reported:
                # e.g. TLS 1.3: a broker rejects a client certificate after the handshake
                self._failed_attempt(
                    "the broker closed the connection before accepting it",
                    logging.WARNING,
                    " (does it require a client certificate or other credentials?)",
                )
        else:
            log.warning(
                "MQTT disconnected from %s: %s; reconnecting in about %d s",
                self.options.redacted_url,
                _disconnect_reason(reason_code),
                self._next_delay(),
            )

    def _handle_connect_fail(self, client: paho.Client, userdata: object) -> None:
        # paho calls this from inside its `except OSError:` block, so the cause is at hand.
        cause = sys.exc_info()[1]
        self._failed_attempt(
            _describe(cause) if cause is not None else "connection failed", logging.WARNING
        )

    def _handle_message(
        self, client: paho.Client, userdata: object, message: paho.MQTTMessage
    ) -> None:
        arrived_ns = time.time_ns()
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = message._topic.decode("utf-8", "replace")
        acknowledge: Callable[[], None] | None = None
        if message.qos >= 1 and self.options.effective_qos >= 1:
            acknowledge = _Acknowledgement(
                partial(self._acknowledge, client, self._generation, message.mid, message.qos)
            )
        raw = RawMessage(
            topic=topic, body=bytes(message.payload), arrived_ns=arrived_ns, acknowledge=acknowledge
        )
        try:
            self._on_message(raw)
        except Exception:
            log.exception(
                "MQTT message handler failed on %s; the message stays unacknowledged", topic
            )

    def _acknowledge(self, client: paho.Client, generation: int, mid: int, qos: int) -> None:
        with self._ack_lock:
            if generation != self._generation:
                log.debug("MQTT ack of mid %d skipped: received on an earlier connection", mid)
                return
            result = client.ack(mid, qos)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.debug("MQTT ack of mid %d not sent (%s); the broker will redeliver", mid, result)


class _Acknowledgement:
    """`RawMessage.acknowledge` for one QoS >= 1 message: thread-safe, effective once.

    Once only, because a second PUBACK for the same packet id could acknowledge a
    later message the broker has since sent under that id.
    """

    __slots__ = ("_done", "_lock", "_send")

    def __init__(self, send: Callable[[], None]) -> None:
        self._send = send
        self._done = False
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._send()


def _tls_context(options: MqttOptions) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=options.ca_file)
    except (ssl.SSLError, OSError) as exc:
        raise MqttOptionsError(
            f"MQTT ca_file {options.ca_file!r} is not a PEM bundle of CA certificates: {exc}"
        ) from None
    if options.cert_file is not None:
        try:
            context.load_cert_chain(options.cert_file, options.key_file)
        except (ssl.SSLError, OSError) as exc:
            raise MqttOptionsError(
                f"MQTT cert_file {options.cert_file!r} / key_file {options.key_file!r}: not a PEM "
                f"certificate with its matching unencrypted private key: {exc}"
            ) from None
    if options.tls_insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _describe(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {error.verify_message or error}"
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if not isinstance(error, ssl.SSLError) else text


def _disconnect_reason(reason_code: ReasonCode) -> str:
    # paho reports a dropped connection (broker gone, network down) as "Unspecified error".
    if reason_code.value == 128:
        return "connection lost"
    if reason_code.value == 142:
        return (
            "session taken over: another client connected with the same client id (give each "
            "bridge worker its own WHERRY_MQTT_CLIENT_ID, or leave it unset)"
        )
    return str(reason_code)


def _unshared(topic: str) -> str:
    """`$share/{group}/{filter}` → `{filter}`."""
    if topic.startswith("$share/"):
        parts = topic.split("/", 2)
        return parts[2] if len(parts) == 3 else ""
    return topic


def _redact_url(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _check_topic(topic: str) -> str | None:
    """Why `topic` is not a valid MQTT subscription filter, or None."""
    if not topic:
        return "is empty"
    if "\x00" in topic:
        return "contains a NUL character"
    levels = _unshared(topic).split("/") if topic.startswith("$share/") else topic.split("/")
    if topic.startswith("$share/") and len(topic.split("/", 2)) < 3:
        return "is a $share/{group}/{filter} without a filter"
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return "uses # other than as the whole last level"
        if "+" in level and level != "+":
            return "uses + other than as a whole level"
    return None


def _check_options(options: MqttOptions) -> None:
    problems: list[str] = []
    if not options.host:
        problems.append("host is empty")
    if options.port is not None and not 0 < options.port < 65536:
        problems.append(f"port {options.port} is not between 1 and 65535")
    if not options.topics:
        problems.append("no topics to subscribe to (e.g. v3/+/devices/+/up)")
    for topic in options.topics:
        why = _check_topic(topic)
        if why:
            problems.append(f"topic {topic!r} {why}")
    if options.qos is not None and options.qos not in (0, 1, 2):
        problems.append(f"qos {options.qos} is not 0, 1 or 2")
    if options.protocol not in ("3.1.1", "5"):
        problems.append(f"protocol {options.protocol!r} is not '3.1.1' or '5'")
    if options.password is not None and options.username is None:
        problems.append("a password needs a user name")
    if options.keepalive < 5:
        problems.append(f"keepalive {options.keepalive} s is below 5 s")
    if not 0 < options.reconnect_min_delay <= options.reconnect_max_delay:
        problems.append(
            f"reconnect delays {options.reconnect_min_delay}..{options.reconnect_max_delay} s "
            "must satisfy 0 < min <= max"
        )
    if options.session_expiry < 0:
        problems.append("session_expiry is negative")
    tls_files = {
        "ca_file": options.ca_file,
        "cert_file": options.cert_file,
        "key_file": options.key_file,
    }
    for name, path in tls_files.items():
        if path is None:
            continue
        if not options.tls:
            problems.append(f"{name} needs TLS: use an mqtts:// URL")
        elif not Path(path).is_file():
            problems.append(f"{name} {path!r} does not exist or is not a file")
    if options.key_file is not None and options.cert_file is None:
        problems.append("key_file needs cert_file")
    if options.tls_insecure and not options.tls:
        problems.append("tls_insecure needs TLS: use an mqtts:// URL")
    if problems:
        raise MqttOptionsError(f"MQTT settings for {options.redacted_url}: " + "; ".join(problems))
