"""Observations on a fixed data clock, so rule tests read in minutes from a known start."""

from alerts.clock import NS_PER_MINUTE
from alerts.model import Observation

T0 = 1_736_899_200 * 1_000_000_000  # 2025-01-15T00:00:00Z, on an hour boundary


def at(minutes: float) -> int:
    """The data-clock time `minutes` after T0, in ns."""
    return T0 + round(minutes * NS_PER_MINUTE)


def reading(
    device_id: str,
    minutes: float,
    *,
    domain: str = "air",
    site: str | None = None,
    route_id: str | None = None,
    flagged: dict[str, str] | None = None,
    rssi: float | None = None,
    snr: float | None = None,
    **values: float,
) -> Observation:
    return Observation(
        device_id=device_id,
        time_ns=at(minutes),
        domain=domain,
        route_id=route_id,
        site=site,
        values=values,
        flagged=flagged or {},
        rssi=rssi,
        snr=snr,
    )
