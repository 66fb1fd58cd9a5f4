"""Device health for engineers: silent devices, low batteries, weak radio links.

Silence is judged on any uplink, valid or flagged: a flagged reading still proves the
device is alive. A device counts for silence once it has been heard, or once the
composition root declares it with `track`/`expect` (so a device that never spoke
after installation is reported too). Battery and link use hysteresis, and the link
is judged on the median of the last few uplinks, because single readings are noisy
and an engineer's inbox should not flap.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from alerts.clock import iso_utc, minutes_between, minutes_ns
from alerts.model import Condition, Observation, Severity
from alerts.rules.verdicts import VerdictBook

SILENT = "silent"
BATTERY = "battery"
LINK = "link"


class HealthSettings(BaseModel):
    """Thresholds of the device-health rules (`[health]` in the rules file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    silent_after_min: float = Field(
        default=60.0, gt=0, description="No uplink for longer than this: the device is silent."
    )
    silent_severity: Severity = Severity.WARNING
    battery_low_voltage: float | None = Field(
        default=3.0, gt=0, description="battery_voltage below this (V) is low; unset: ignored."
    )
    battery_voltage_hysteresis: float = Field(
        default=0.1, ge=0, description="A low battery clears at low_voltage + this (V)."
    )
    battery_low_level: float | None = Field(
        default=20.0, gt=0, le=100, description="battery_level below this (%) is low."
    )
    battery_level_hysteresis: float = Field(
        default=5.0, ge=0, description="A low battery clears at low_level + this (%)."
    )
    battery_severity: Severity = Severity.WARNING
    link_uplinks: int = Field(
        default=5, ge=1, le=1000, description="The link is judged on the median of this many."
    )
    link_rssi_below_dbm: float = Field(default=-120.0, description="Median RSSI below: weak.")
    link_snr_below_db: float = Field(default=-15.0, description="Median SNR below: weak.")
    link_rssi_hysteresis_db: float = Field(default=3.0, ge=0)
    link_snr_hysteresis_db: float = Field(default=2.0, ge=0)
    link_severity: Severity = Severity.INFO


class TrackedDevice(NamedTuple):
    """A device the rule should expect uplinks from, with the labels its alerts carry."""

    device_id: str
    domain: str
    route_id: str | None = None
    site: str | None = None


@dataclass(slots=True)
class _Device:
    labels: TrackedDevice
    last_heard_ns: int | None = None
    watching_since_ns: int | None = None
    battery_voltage: float | None = None
    battery_level: float | None = None
    rssi: deque[float] = field(default_factory=deque)
    snr: deque[float] = field(default_factory=deque)


class DeviceHealth:
    """Rule family `silent`, `battery` and `link` (keys `silent:{device_id}` etc.)."""

    def __init__(self, settings: HealthSettings | None = None) -> None:
        self.settings = settings or HealthSettings()
        self._silent_after_ns = minutes_ns(self.settings.silent_after_min)
        self._devices: dict[str, _Device] = {}
        self._verdicts = VerdictBook()
        self._now_ns: int | None = None  # the latest `advance`: when silence was last judged

    # -- which devices exist -------------------------------------------------------

    def track(
        self,
        devices: Iterable[tuple[str, str, str | None, str | None]],
        *,
        since_ns: int | None = None,
    ) -> None:
        """Expect uplinks from each (device_id, domain, route_id, site), e.g. the registry's."""
        for device_id, domain, route_id, site in devices:
            self.expect(device_id, domain=domain, route_id=route_id, site=site, since_ns=since_ns)

    def expect(
        self,
        device_id: str,
        *,
        domain: str,
        route_id: str | None = None,
        site: str | None = None,
        since_ns: int | None = None,
    ) -> None:
        """Count silence for `device_id` even if it was never heard.

        Silence of a never-heard device runs from `since_ns`, or else from the first
        `advance` after this call. Calling it again updates the labels only.
        """
        labels = TrackedDevice(device_id, domain, route_id, site)
        device = self._devices.get(device_id)
        if device is None:
            self._devices[device_id] = _Device(
                labels,
                watching_since_ns=since_ns,
                rssi=self._link_window(),
                snr=self._link_window(),
            )
        else:
            device.labels = labels

    def forget(self, device_id: str, at_ns: int) -> Sequence[Condition]:
        """Stop watching a retired or deleted device; its open conditions clear."""
        device = self._devices.pop(device_id, None)
        if device is None:
            return []
        cleared = []
        for rule in (SILENT, BATTERY, LINK):
            summary = f"{device_id} no longer watched"
            condition = self._verdicts.report(
                self._condition(device, rule, False, at_ns, summary, {})
            )
            if condition is not None:
                cleared.append(condition)
        return cleared

    def resume(self, open_conditions: Iterable[tuple[str, Severity, int]]) -> None:
        """Take over this family's alerts still open before a restart (key, severity, since)."""
        prefixes = (f"{SILENT}:", f"{BATTERY}:", f"{LINK}:")
        self._verdicts.resume(c for c in open_conditions if c[0].startswith(prefixes))

    # -- the Rule protocol ---------------------------------------------------------

    def observe(self, observation: Observation) -> Sequence[Condition]:
        device = self._device_for(observation)
        if device.last_heard_ns is not None and observation.time_ns <= device.last_heard_ns:
            return []  # a redelivered or late uplink tells nothing new
        device.last_heard_ns = observation.time_ns
        judged = [
            self._heard(device, observation.time_ns),
            self._judge_battery(device, observation),
            self._judge_link(device, observation),
        ]
        return self._changes(judged)

    def advance(self, now_ns: int) -> Sequence[Condition]:
        self._now_ns = now_ns if self._now_ns is None else max(self._now_ns, now_ns)
        judged: list[Condition | None] = []
        for device in self._devices.values():
            if device.last_heard_ns is None and device.watching_since_ns is None:
                device.watching_since_ns = now_ns
                continue
            reference_ns = (
                device.watching_since_ns if device.last_heard_ns is None else device.last_heard_ns
            )
            assert reference_ns is not None
            if now_ns - reference_ns > self._silent_after_ns:
                judged.append(self._silent(device, reference_ns, now_ns))
        return self._changes(judged)

    # -- silence -------------------------------------------------------------------

    def _silent(self, device: _Device, reference_ns: int, now_ns: int) -> Condition:
        device_id = device.labels.device_id
        window = self.settings.silent_after_min
        if device.last_heard_ns is None:
            summary = f"{device_id} never heard since watching began at {iso_utc(reference_ns)}"
        else:
            summary = (
                f"{device_id} silent: no uplink for {minutes_between(reference_ns, now_ns):g} min "
                f"(since {iso_utc(reference_ns)}; limit {window:g} min)"
            )
        explanation: dict[str, object] = {
            "last_heard": None if device.last_heard_ns is None else iso_utc(reference_ns),
            "watching_since": iso_utc(reference_ns) if device.last_heard_ns is None else None,
            "silent_for_min": minutes_between(reference_ns, now_ns),
            "silent_after_min": window,
            "silent_since": iso_utc(reference_ns),
        }
        return self._condition(
            device, SILENT, True, reference_ns + self._silent_after_ns, summary, explanation
        )

    def _heard(self, device: _Device, time_ns: int) -> Condition | None:
        if self._verdicts.severity(f"{SILENT}:{device.labels.device_id}") is None:
            return None  # it was not silent: nothing to clear
        if self._now_ns is not None and self._now_ns - time_ns > self._silent_after_ns:
            # An old uplink arriving late (a backfill after an outage): the device is still
            # silent now. Clearing here would only raise it again at the next tick, and
            # again after every late uplink until the backfill reaches the present.
            return None
        summary = f"{device.labels.device_id} heard again at {iso_utc(time_ns)}"
        return self._condition(device, SILENT, False, time_ns, summary, {"heard": iso_utc(time_ns)})

    # -- battery -------------------------------------------------------------------

    def _judge_battery(self, device: _Device, observation: Observation) -> Condition | None:
        settings = self.settings
        voltage = observation.values.get("battery_voltage")
        level = observation.values.get("battery_level")
        if voltage is None and level is None:
            return None
        if voltage is not None:
            device.battery_voltage = voltage
        if level is not None:
            device.battery_level = level
        was_low = self._verdicts.severity(f"{BATTERY}:{device.labels.device_id}") is not None
        reasons: list[str] = []
        explanation: dict[str, object] = {}
        if settings.battery_low_voltage is not None and device.battery_voltage is not None:
            limit = settings.battery_low_voltage
            clears_at = limit + settings.battery_voltage_hysteresis
            if device.battery_voltage < (clears_at if was_low else limit):
                reasons.append(f"{device.battery_voltage:g} V (low below {limit:g} V)")
            explanation |= {
                "battery_voltage": device.battery_voltage,
                "low_voltage": limit,
                "clears_at_voltage": round(clears_at, 6),
            }
        if settings.battery_low_level is not None and device.battery_level is not None:
            limit = settings.battery_low_level
            clears_at = limit + settings.battery_level_hysteresis
            if device.battery_level < (clears_at if was_low else limit):
                reasons.append(f"{device.battery_level:g} % (low below {limit:g} %)")
            explanation |= {
                "battery_level": device.battery_level,
                "low_level": limit,
                "clears_at_level": round(clears_at, 6),
            }
        if not explanation or self._unchanged(BATTERY, device, bool(reasons)):
            return None
        device_id = device.labels.device_id
        if reasons:
            summary = f"{device_id} battery low: " + ", ".join(reasons)
        else:
            summary = f"{device_id} battery recovered"
        return self._condition(
            device, BATTERY, bool(reasons), observation.time_ns, summary, explanation
        )

    # -- radio link ----------------------------------------------------------------

    def _link_window(self) -> deque[float]:
        return deque(maxlen=self.settings.link_uplinks)

    def _judge_link(self, device: _Device, observation: Observation) -> Condition | None:
        settings = self.settings
        if observation.rssi is not None:
            device.rssi.append(observation.rssi)
        if observation.snr is not None:
            device.snr.append(observation.snr)
        was_weak = self._verdicts.severity(f"{LINK}:{device.labels.device_id}") is not None
        reasons: list[str] = []
        explanation: dict[str, object] = {"uplinks": settings.link_uplinks}
        judged = False
        for name, unit, window, limit, hysteresis in (
            (
                "rssi",
                "dBm",
                device.rssi,
                settings.link_rssi_below_dbm,
                settings.link_rssi_hysteresis_db,
            ),
            ("snr", "dB", device.snr, settings.link_snr_below_db, settings.link_snr_hysteresis_db),
        ):
            if len(window) < settings.link_uplinks:
                continue
            judged = True
            median = _median(window)
            if median < (limit + hysteresis if was_weak else limit):
                reasons.append(f"median {name.upper()} {median:g} {unit} (weak below {limit:g})")
            explanation |= {
                f"median_{name}": median,
                f"{name}_below": limit,
                f"{name}_clears_at": limit + hysteresis,
            }
        if not judged or self._unchanged(LINK, device, bool(reasons)):
            return None
        device_id = device.labels.device_id
        if reasons:
            summary = (
                f"{device_id} weak radio link over its last {settings.link_uplinks} uplinks: "
                + ", ".join(reasons)
            )
        else:
            summary = f"{device_id} radio link recovered"
        return self._condition(
            device, LINK, bool(reasons), observation.time_ns, summary, explanation
        )

    # -- shared --------------------------------------------------------------------

    def _device_for(self, observation: Observation) -> _Device:
        labels = TrackedDevice(
            observation.device_id, observation.domain, observation.route_id, observation.site
        )
        device = self._devices.get(observation.device_id)
        if device is None:
            device = _Device(labels, rssi=self._link_window(), snr=self._link_window())
            self._devices[observation.device_id] = device
        else:
            device.labels = labels
        return device

    def _unchanged(self, rule: str, device: _Device, active: bool) -> bool:
        """Whether the verdict book already holds this verdict: then building the condition
        (its words, its explanation) for every uplink would only be thrown away."""
        current = self._verdicts.severity(f"{rule}:{device.labels.device_id}")
        if not active:
            return current is None
        return current == self._severity(rule)

    def _severity(self, rule: str) -> Severity:
        return {
            SILENT: self.settings.silent_severity,
            BATTERY: self.settings.battery_severity,
            LINK: self.settings.link_severity,
        }[rule]

    def _condition(
        self,
        device: _Device,
        rule: str,
        active: bool,
        at_ns: int,
        summary: str,
        explanation: dict[str, object],
    ) -> Condition:
        labels = device.labels
        return Condition(
            key=f"{rule}:{labels.device_id}",
            rule=rule,
            active=active,
            severity=self._severity(rule),
            at_ns=at_ns,
            summary=summary,
            explanation=explanation,
            route_id=labels.route_id,
            device_id=labels.device_id,
            domain=labels.domain,
            site=labels.site,
        )

    def _changes(self, judged: Iterable[Condition | None]) -> list[Condition]:
        changes = []
        for condition in judged:
            if condition is not None:
                reported = self._verdicts.report(condition)
                if reported is not None:
                    changes.append(reported)
        return changes


def _median(values: deque[float]) -> float:
    """`statistics.median`, without its generality: this runs for every uplink."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
