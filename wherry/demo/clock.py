"""The demo's data clock: a night replayed fast that lands on the wall clock, then real time.

The simulated night is placed so that it ends about now: the clock starts `span`
before the wall clock and runs `speed`× faster until it catches up, then follows
the wall clock (a second behind, so no uplink is stamped after the moment it is
published). Every reading is therefore in the past when it is stored, the pages'
"latest reading" ages and 24-hour charts look right, and the alert engine's timers
(silence, hysteresis) run on the same clock as the data they judge.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

NS = 1_000_000_000
WALL_LAG_NS = NS  # behind the wall clock once caught up: never stamp an uplink in the future


class DemoClock:
    """Simulated time in ns since the epoch; frozen at `start_ns` until `start()`.

    `cap_at_wall` False gives a plain accelerated clock that runs past the wall clock
    (what `NightSimulator.run` uses by default, for tests of the simulator alone).
    """

    def __init__(
        self,
        start_ns: int,
        speed: float,
        *,
        cap_at_wall: bool = True,
        wall_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self.start_ns = start_ns
        self.speed = speed
        self._cap = cap_at_wall
        self._wall_ns = wall_ns
        self._monotonic = monotonic
        self._began: float | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Set the clock going (once; later calls change nothing)."""
        with self._lock:
            if self._began is None:
                self._began = self._monotonic()

    @property
    def started(self) -> bool:
        return self._began is not None

    def now_ns(self, *, real_delay_s: float = 0.0) -> int:
        """Simulated time now, or as it read `real_delay_s` real seconds ago."""
        if self._began is None:
            return self.start_ns
        elapsed = max(self._monotonic() - self._began - real_delay_s, 0.0)
        accelerated = self.start_ns + int(elapsed * self.speed * NS)
        if not self._cap:
            return accelerated
        wall = self._wall_ns() - WALL_LAG_NS - int(real_delay_s * NS)
        return max(min(accelerated, wall), self.start_ns)

    def caught_up(self) -> bool:
        """Whether the simulated night has reached the wall clock (real time from now on)."""
        if not self._cap or self._began is None:
            return False
        return self.now_ns() >= self._wall_ns() - WALL_LAG_NS - NS // 10

    def real_seconds_until(self, time_ns: int) -> float:
        """Real seconds until `now_ns()` reaches `time_ns` (0 if it has)."""
        gap_ns = time_ns - self.now_ns()
        if gap_ns <= 0:
            return 0.0
        rate = 1.0 if self.caught_up() else self.speed
        return gap_ns / NS / rate

    def engine_clock(self, real_delay_s: float) -> Callable[[], int]:
        """The alert engine's clock: this one, `real_delay_s` behind.

        The engine's tick declares a sensor silent when the clock has moved 45 minutes
        past its last reading; at 600× that is 4.5 real seconds, so a busy moment on a
        small machine could look like silence. Running the tick a little behind the
        data keeps a slow second from reading as a dead sensor.
        """

        def now() -> int:
            return self.now_ns(real_delay_s=real_delay_s)

        return now
