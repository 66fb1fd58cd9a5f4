"""A running time window of readings on the data clock: bounded memory, mean on demand.

Rules judge smoothed values (a CO2 rolling mean, a conductivity baseline), never one
reading. The window keeps only readings inside its span and never more than
`max_readings`, so memory per device stays bounded however fast a device talks.
"""

import math
from collections import deque


class RollingWindow:
    """Readings in the span (`latest - span_ns`, `latest`], oldest first.

    Readings must arrive in time order: one not newer than the latest (a redelivered
    or late uplink) is ignored, so it can neither count twice nor reorder the window.
    """

    __slots__ = ("_readings", "span_ns")

    def __init__(self, span_ns: int, max_readings: int = 10_000) -> None:
        if span_ns <= 0:
            raise ValueError(f"a rolling window needs a positive span, got {span_ns} ns")
        self.span_ns = span_ns
        self._readings: deque[tuple[int, float]] = deque(maxlen=max_readings)

    def add(self, time_ns: int, value: float) -> bool:
        """Add a reading and drop those that fell out of the span; False if it was ignored."""
        latest = self.latest_ns
        if latest is not None and time_ns <= latest:
            return False
        self._readings.append((time_ns, value))
        self._evict_before(time_ns - self.span_ns)
        return True

    def _evict_before(self, cutoff_ns: int) -> None:
        while self._readings and self._readings[0][0] <= cutoff_ns:
            self._readings.popleft()

    @property
    def latest_ns(self) -> int | None:
        return self._readings[-1][0] if self._readings else None

    @property
    def oldest_ns(self) -> int | None:
        return self._readings[0][0] if self._readings else None

    def mean(self) -> float | None:
        """Arithmetic mean of the readings in the window, or None when it is empty."""
        if not self._readings:
            return None
        return math.fsum(value for _, value in self._readings) / len(self._readings)

    def __len__(self) -> int:
        return len(self._readings)
