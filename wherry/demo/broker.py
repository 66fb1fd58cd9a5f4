"""An MQTT 3.1.1 broker inside the process, so `wherry demo` runs the real MQTT path
with nothing installed by hand.

It is amqtt's broker on its own asyncio loop in a background thread. wherry owns
the listening socket (bound to the loopback address; port 0 picks a free port)
and hands each accepted connection to amqtt through its *external* listener, so
the port actually bound is known without reaching into amqtt's internals.
Any client may connect, with or without credentials; persistent sessions (and
their queued QoS 1 messages) live in memory only: no amqtt persistence plugin is
loaded, so nothing is written to disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from amqtt.adapters import StreamReaderAdapter, StreamWriterAdapter
from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin

log = logging.getLogger(__name__)

_LISTENER = "default"
_SESSION_EXPIRY_S = 3600  # a persistent session nobody resumes is dropped after an hour
_SETTLE_S = 0.1  # for amqtt to notice dropped connections
_SHUTDOWN_GRACE_S = 3.0
_CHATTY_LOGGERS = ("amqtt", "transitions")


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not start (port taken, address not local) or stop in time."""


def quiet_amqtt_logging() -> None:
    """amqtt logs every connection at INFO; the demo only wants its warnings."""
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class OpenDoor(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no type information
    """Lets every client in, with or without a username.

    amqtt's own AnonymousAuthPlugin marks every session it admits as anonymous,
    and amqtt neither keeps an anonymous persistent session nor queues QoS 1
    messages for it while it is away: a bridge that reconnected would silently
    miss what was published meanwhile. Admitting clients here keeps
    `clean_session=False` meaning what it says.
    """

    @dataclass
    class Config:
        """No settings."""

    async def authenticate(self, *, session: Any) -> bool:
        return True


class EmbeddedBroker:
    """An in-process MQTT broker on `host:port` (port 0: a free port, see `.port` after `start`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise EmbeddedBrokerError(
                f"host must be an IP address to bind, such as 127.0.0.1, not {host!r}"
            ) from None
        if not 0 <= port <= 65535:
            raise EmbeddedBrokerError(f"port must be 0 (any free port) or 1..65535, not {port}")
        self.host = host
        self._requested_port = port
        self._bound_port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    @property
    def port(self) -> int:
        """The TCP port clients connect to (the requested one until `start` has bound it)."""
        return self._bound_port if self._bound_port is not None else self._requested_port

    @property
    def url(self) -> str:
        """`mqtt://host:port`, the form `WHERRY_MQTT_URL` takes."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mqtt://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._bound_port is not None

    def start(self, timeout: float = 10.0) -> None:
        """Bind and start serving; returns once clients can connect."""
        if self._thread is not None:
            raise EmbeddedBrokerError("this embedded broker was already started; create a new one")
        quiet_amqtt_logging()
        self._thread = threading.Thread(target=self._serve, name="wherry-mqtt-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise EmbeddedBrokerError(f"the embedded MQTT broker did not start in {timeout:g} s")
        if self._failure is not None:
            self._thread.join(timeout)
            raise EmbeddedBrokerError(
                f"cannot start the embedded MQTT broker on {self.host}:{self._requested_port}: "
                f"{self._failure} (use port 0 to pick a free port)"
            ) from self._failure
        log.debug("embedded MQTT broker listening on %s", self.url)

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect clients, close the socket and end the broker's thread. Safe to call twice."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            # the loop may close between the check and the call
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise EmbeddedBrokerError(f"the embedded MQTT broker did not stop within {timeout:g} s")

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to start(), never lost in the thread
            self._failure = exc
            if self._bound_port is not None:
                log.warning("the embedded MQTT broker stopped with an error: %s", exc)
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        clients: set[asyncio.StreamWriter] = set()
        broker: Broker | None = None

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            clients.add(writer)
            try:
                if broker is not None:
                    await broker.external_connected(
                        StreamReaderAdapter(reader), StreamWriterAdapter(writer), _LISTENER
                    )
            except Exception:  # one client's broken connection must not reach the loop
                log.debug("MQTT client connection ended with an error", exc_info=True)
            finally:
                clients.discard(writer)
                writer.close()

        server = await asyncio.start_server(
            connected, self.host, self._requested_port, reuse_address=True, start_serving=False
        )
        try:
            port = int(server.sockets[0].getsockname()[1])
            broker = Broker(self._config(port), loop=asyncio.get_running_loop())
            await broker.start()
            await server.start_serving()
            self._bound_port = port
            self._ready.set()
            await self._stopping.wait()
        finally:
            server.close()
            await _shut_down(broker, clients)

    def _config(self, port: int) -> dict[str, Any]:
        return {
            "listeners": {
                # amqtt skips a listener without `bind`; an external one never binds it itself
                _LISTENER: {"type": "external", "bind": f"{self.host}:{port}"}
            },
            "plugins": {f"{__name__}.{OpenDoor.__name__}": {}},
            "session_expiry_interval": _SESSION_EXPIRY_S,
        }


async def _shut_down(broker: Broker | None, clients: set[asyncio.StreamWriter]) -> None:
    """Stop amqtt in bounded time.

    Client connections are dropped first. amqtt's own shutdown cancels each
    connection's reader task, and on Python 3.11 `asyncio.wait_for` can swallow
    that cancellation when a read completes at the same moment, leaving the
    shutdown waiting until the client's keep-alive runs out. With the sockets
    gone, the readers end by themselves.
    """
    for writer in list(clients):
        writer.transport.abort()
    await asyncio.sleep(_SETTLE_S)
    if broker is not None and broker.transitions.state == "started":
        try:
            await asyncio.wait_for(broker.shutdown(), _SHUTDOWN_GRACE_S)
        except Exception:  # amqtt's shutdown failing must not keep the thread alive
            log.debug("amqtt did not shut down cleanly", exc_info=True)
    current = asyncio.current_task()
    leftovers = [task for task in asyncio.all_tasks() if task is not current]
    for task in leftovers:
        task.cancel()
    if leftovers:
        await asyncio.wait(leftovers, timeout=_SHUTDOWN_GRACE_S)
