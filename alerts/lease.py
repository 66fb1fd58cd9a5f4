"""The alert lease: of several wherry processes sharing a registry, one evaluates alerts and
sends notifications; the others stand by and take over when its lease runs out.

A keeper thread claims the registry lease (`Registry.claim_lease`) and renews it
every `renew_every_s`, a third of its time to live by default, so two missed
renewals are survived. What this process believes is measured on its own monotonic
clock from the moment it *asked*: the database's expiry is always a little later,
so this process stops acting for the lease before anyone else can take it. The
registry still checks the lease on every alert write (`fence`), which covers a
process that was paused past its expiry without noticing.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from storage.registry import LeaseRecord, Registry

log = logging.getLogger(__name__)

ALERT_LEASE = "alerts"


def holder_name(installation: Path | None = None) -> str:
    """Who holds the lease: this host and `installation` (a data dir), or this process.

    A data dir is locked by one process at a time (the spool's lock), so naming the
    holder after it is unique while it runs, and lets a process restarted after a crash
    reclaim its own lease at once instead of waiting for it to run out. Without one,
    the holder is this process (host, pid and a random part), and a restart is new.
    """
    if installation is not None:
        return f"{socket.gethostname()}:{installation.resolve()}"
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class LeaseKeeper:
    """Holds `name` for this process whenever it can; `current()` says whether it does now.

    `changed` is set whenever the answer may have changed (taken, lost, refused), so
    whoever acts on the lease can wait on it instead of polling the registry.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        name: str = ALERT_LEASE,
        holder: str | None = None,
        ttl_s: float = 30.0,
        renew_every_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.name = name
        self.holder = holder or holder_name()
        self.ttl_s = ttl_s
        self.renew_every_s = renew_every_s if renew_every_s is not None else ttl_s / 3
        self._clock = clock
        self._lock = threading.Lock()
        self._record: LeaseRecord | None = None
        self._deadline = 0.0
        self._other: str | None = None
        self._stop = threading.Event()
        self.changed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-lease", daemon=True)

    def start(self) -> None:
        """Try once now (so a lone process evaluates from its first second), then keep trying."""
        self.claim()
        self._thread.start()

    def current(self) -> LeaseRecord | None:
        """The lease while this process holds it by its own clock; None otherwise."""
        with self._lock:
            if self._record is not None and self._clock() < self._deadline:
                return self._record
            return None

    def remaining_s(self) -> float:
        """Seconds until this process must consider the lease lost (0 when not held)."""
        with self._lock:
            return max(0.0, self._deadline - self._clock()) if self._record is not None else 0.0

    def claim(self) -> LeaseRecord | None:
        """One attempt to take or renew the lease; returns it when held."""
        asked_at = self._clock()
        try:
            record = self.registry.claim_lease(self.name, self.holder, self.ttl_s)
        except Exception as exc:  # the registry is away: keep what is held until it runs out
            log.warning("alert lease %s not renewed: %s", self.name, exc)
            self.changed.set()
            return self.current()
        with self._lock:
            had = self._record
            if record is None:
                self._record = None
                self._deadline = 0.0
            else:
                self._record = record
                self._deadline = asked_at + self.ttl_s
        if record is not None and had is None:
            log.info(
                "alert lease %s taken by %s (epoch %d): this process evaluates alerts",
                self.name, self.holder, record.epoch,
            )  # fmt: skip
        elif record is None and had is not None:
            log.error("alert lease %s lost: another process holds it now", self.name)
        elif record is None:
            self._note_standby()
        self.changed.set()
        return record

    def stop(self, *, release: bool = True) -> None:
        """Stop renewing; with `release`, let the lease go so a standby takes over at once."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        with self._lock:
            held, self._record, self._deadline = self._record, None, 0.0
        self.changed.set()
        if release and held is not None:
            try:
                self.registry.release_lease(self.name, self.holder)
                log.info("alert lease %s released", self.name)
            except Exception as exc:
                log.warning(
                    "alert lease %s not released (it runs out by itself): %s", self.name, exc
                )

    def _note_standby(self) -> None:
        try:
            held = self.registry.lease(self.name)
        except Exception:
            return
        other = held.holder if held is not None else None
        if other != self._other:
            self._other = other
            log.info(
                "standing by: alert lease %s is held by %s until %s",
                self.name, other, held.expires_at.isoformat() if held else "?",
            )  # fmt: skip

    def _run(self) -> None:
        while not self._stop.wait(self.renew_every_s):
            self.claim()
