"""What the device and open-data pages show about a device's readings and radio link.

Read from the same store and measurements as the JSON API (`reading`, `uplink`), through
the same `ReadingStore` calls. The health thresholds are the defaults of the alert
engine's device-health rules (`[health]` in the rules file, alerts/rules/health.py),
so "low battery" and "weak link" mean on a page what they mean in an engineer's alert;
here they are judged on the newest uplink, since a list cannot take a median per device.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from markupsafe import Markup

from alerts.rules.health import HealthSettings
from api.pages.charts import Guide, Series, line_chart
from api.readings_pages import READING
from decoders import QUANTITIES
from storage import Point, ReadingStore
from storage.registry import DeviceRecord

UPLINK = "uplink"
SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS
HOUR_NS = 60 * MINUTE_NS


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a page calls a battery low or a link weak: the device-health rules' own
    settings (`[health]` in the rules file), so the pages and the alerts agree."""

    battery_v: float | None
    battery_percent: float | None
    rssi_dbm: float
    snr_db: float

    @classmethod
    def of(cls, health: HealthSettings) -> Thresholds:
        return cls(
            health.battery_low_voltage,
            health.battery_low_level,
            health.link_rssi_below_dbm,
            health.link_snr_below_db,
        )

    def battery_low(self, volts: float | None, percent: float | None) -> bool:
        if volts is not None:
            return self.battery_v is not None and volts < self.battery_v
        return (
            percent is not None
            and self.battery_percent is not None
            and (percent < self.battery_percent)
        )

    def link_weak(self, rssi: float | None, snr: float | None) -> bool:
        return (rssi is not None and rssi < self.rssi_dbm) or (
            snr is not None and snr < self.snr_db
        )

    @property
    def battery_words(self) -> str:
        limits = [f"{self.battery_v:g} V" if self.battery_v is not None else None]
        limits.append(f"{self.battery_percent:g} %" if self.battery_percent is not None else None)
        said = [limit for limit in limits if limit is not None]
        return " or ".join(said) if said else "nothing (no battery limit is set)"

    @property
    def link_words(self) -> str:
        return f"RSSI below {self.rssi_dbm:g} dBm or SNR below {self.snr_db:g} dB"


BATTERY_QUANTITIES = ("battery_voltage", "battery_level")
LINK_UNITS = {"rssi": "dBm", "snr": "dB"}

RANGES: Mapping[str, tuple[str, int, int]] = {
    "24h": ("the last 24 hours", 24 * HOUR_NS, 15 * MINUTE_NS),
    "7d": ("the last 7 days", 7 * 24 * HOUR_NS, HOUR_NS),
}
"""Chart range → (words, length, averaging window): at most 168 points a line."""

SHORT_LABELS = {
    "surface_wet": "Road surface wet",
    "barometric_pressure": "Air pressure",
    "pm1_0": "PM1.0",
    "pm2_5": "PM2.5",
    "pm4_0": "PM4.0",
    "pm10": "PM10",
    "conductivity": "Conductivity",
    "dissolved_oxygen_saturation": "Dissolved oxygen saturation",
    "redox_potential": "Redox potential",
    "water_depth": "Water depth",
    "water_level": "Water level",
    "distance": "Distance",
    "ph": "pH",
    "dissolved_oxygen": "Dissolved oxygen",
    "pressure": "Liquid pressure",
    "battery_voltage": "Battery voltage",
    "battery_level": "Battery level",
}
"""Chart and table labels where the catalogue's description is too long to be one."""

ROAD_GUIDES = (Guide(0.0, "0 °C"), Guide(1.0, "+1 °C"))


def to_ns(moment: datetime) -> int:
    return int(moment.timestamp()) * SECOND_NS + moment.microsecond * 1000


def from_ns(time_ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=time_ns // 1000)


@dataclass(frozen=True, slots=True)
class When:
    """A moment as a page shows it: machine-readable, in UTC, and how long ago."""

    iso: str
    text: str
    ago: str


def when(time_ns: int | None, now: datetime) -> When | None:
    if time_ns is None:
        return None
    moment = from_ns(time_ns)
    minutes = max(0, (to_ns(now) - time_ns) // MINUTE_NS)
    ago = "just now" if minutes < 1 else f"{duration(minutes)} ago"
    iso = moment.isoformat().replace("+00:00", "Z")
    return When(iso, moment.strftime("%Y-%m-%d %H:%M UTC"), ago)


def numbers(point: Point | None) -> dict[str, float]:
    """The numeric fields of a point (booleans and text left out)."""
    if point is None:
        return {}
    return {
        name: float(value)
        for name, value in point.fields.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


# -- health -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Health:
    """One device's state as a list shows it; every flag has its words."""

    device: DeviceRecord
    last_heard_ns: int | None
    silent_minutes: int | None
    """Minutes since the newest uplink; None when never heard."""
    battery: str | None
    """e.g. "3.61 V"; None when the device reports no battery."""
    battery_low: bool
    rssi: float | None
    snr: float | None
    link_weak: bool

    def problems(self, silent_after_minutes: int) -> list[str]:
        """What is wrong, in words (empty when nothing is)."""
        said: list[str] = []
        if self.device.status == "retired":
            return said
        if self.last_heard_ns is None:
            said.append("never heard")
        elif self.silent_minutes is not None and self.silent_minutes > silent_after_minutes:
            said.append(f"silent for {duration(self.silent_minutes)}")
        if self.battery_low:
            said.append(f"low battery ({self.battery})")
        if self.link_weak:
            said.append(f"weak link ({link_words(self.rssi, self.snr)})")
        return said


def health_of(
    devices: Sequence[DeviceRecord], store: ReadingStore, now: datetime, limits: Thresholds
) -> list[Health]:
    """Every device's health from two store queries (newest uplink, newest reading); for
    one device, queries of that device's series only."""
    tags = {"device_id": devices[0].device_id} if len(devices) == 1 else None
    uplinks = store.latest(UPLINK, tags=tags)
    readings = store.latest(READING, tags=tags)
    now_ns = to_ns(now)
    return [
        _health(
            device, uplinks.get(device.device_id), readings.get(device.device_id), now_ns, limits
        )
        for device in devices
    ]


def _health(
    device: DeviceRecord,
    uplink: Point | None,
    reading: Point | None,
    now_ns: int,
    limits: Thresholds,
) -> Health:
    heard = [point.time_ns for point in (uplink, reading) if point is not None]
    last = max(heard) if heard else None
    values = numbers(reading)
    link = numbers(uplink)
    volts, percent = values.get("battery_voltage"), values.get("battery_level")
    battery = None
    if volts is not None:
        battery = shown_value(volts, "V")
    elif percent is not None:
        battery = shown_value(percent, "%")
    rssi, snr = link.get("rssi"), link.get("snr")
    return Health(
        device=device,
        last_heard_ns=last,
        silent_minutes=None if last is None else max(0, (now_ns - last) // MINUTE_NS),
        battery=battery,
        battery_low=limits.battery_low(volts, percent),
        rssi=rssi,
        snr=snr,
        link_weak=limits.link_weak(rssi, snr),
    )


def duration(minutes: int) -> str:
    """ "45 min", "3 h 10 min", "2 d 4 h": how long, for a person."""
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def link_words(rssi: float | None, snr: float | None) -> str:
    parts = []
    if rssi is not None:
        parts.append(f"RSSI {shown_value(rssi, 'dBm')}")
    if snr is not None:
        parts.append(f"SNR {shown_value(snr, 'dB')}")
    return ", ".join(parts) or "no link data"


# -- latest values ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Value:
    quantity: str
    value: float
    unit: str
    description: str
    label: str


def latest_values(point: Point | None) -> list[Value]:
    """The canonical quantities of a point with their units, in catalogue order."""
    found = numbers(point)
    return [
        Value(name, found[name], quantity.unit, quantity.description, quantity_label(name))
        for name, quantity in QUANTITIES.items()
        if name in found
    ]


def quantity_label(quantity: str) -> str:
    """A short name for a quantity, from the catalogue's description ("Air temperature")."""
    known = QUANTITIES.get(quantity)
    if known is None:
        return quantity
    if quantity in SHORT_LABELS:
        return SHORT_LABELS[quantity]
    label = re.split(r"\.\s|\.$|[:;,]|\s\(", known.description, maxsplit=1)[0].strip()
    return label.removesuffix(" near the sensor").removesuffix(" of the air") or quantity


def main_quantities(values: Sequence[Value]) -> list[str]:
    """The quantities worth a chart: what the device measures, not its battery."""
    return [value.quantity for value in values if value.quantity not in BATTERY_QUANTITIES]


def shown_value(value: float, unit: str) -> str:
    """A value with its unit, as people write it ("-1.25 °C", "81 %", "7.5 µg/m³")."""
    number = f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
    number = number.replace("-", "−")
    if unit == "1":
        return number
    return f"{number} {unit}"


# -- charts -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart and the same numbers as a table, so nobody needs to see the lines."""

    quantity: str
    title: str
    unit: str
    svg: Markup
    rows: list[tuple[str, str]]


def reading_chart(
    store: ReadingStore,
    device_id: str,
    quantity: str,
    *,
    now: datetime,
    span: str,
    label: str,
) -> Chart:
    """Means of `quantity` per window over `span` (a key of RANGES), drawn and tabled."""
    words, length, window = RANGES[span]
    unit = QUANTITIES[quantity].unit
    guides = ROAD_GUIDES if quantity == "road_surface_temperature" else ()
    return _chart(
        store, READING, device_id, quantity, unit, now, length, window, words, label, guides
    )


@dataclass(frozen=True, slots=True)
class Newest:
    """A device's newest reading, its values with units, and a chart per main quantity."""

    point: Point | None
    values: list[Value]
    charts: list[Chart]


def newest(store: ReadingStore, device_id: str, *, now: datetime, span: str) -> Newest:
    """What a device page and an open-data sensor page both show first."""
    point = store.latest(READING, tags={"device_id": device_id}).get(device_id)
    values = latest_values(point)
    charts = [
        reading_chart(store, device_id, q, now=now, span=span, label=quantity_label(q))
        for q in main_quantities(values)
    ]
    return Newest(point, values, charts)


def link_chart(
    store: ReadingStore, device_id: str, field: str, *, now: datetime, span: str, label: str
) -> Chart:
    words, length, window = RANGES[span]
    return _chart(
        store, UPLINK, device_id, field, LINK_UNITS[field], now, length, window, words, label, ()
    )


def _chart(
    store: ReadingStore,
    measurement: str,
    device_id: str,
    field: str,
    unit: str,
    now: datetime,
    length: int,
    window: int,
    words: str,
    label: str,
    guides: Sequence[Guide],
) -> Chart:
    end_ns = to_ns(now)
    start_ns = end_ns - length
    means = store.aggregate(
        measurement,
        field,
        function="mean",
        window_ns=window,
        start_ns=start_ns,
        end_ns=end_ns,
        tags={"device_id": device_id},
    )
    points = [(from_ns(t), float(v)) for t, v in means if v is not None]
    title = f"{label} over {words}"
    per = "15 minutes" if window == 15 * MINUTE_NS else "hour"
    description = (
        f"One mean per {per}, {len(points)} values."
        if points
        else f"No {label} readings in {words}."
    )
    svg = line_chart(
        [Series(label, points)],
        title=title,
        description=description,
        unit=unit,
        guides=guides,
        start=from_ns(start_ns),
        end=now,
    )
    rows = [(at.strftime("%Y-%m-%d %H:%M"), shown_value(value, unit)) for at, value in points]
    return Chart(field, title, unit, svg, rows)


# -- link quality -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Uplink:
    time_ns: int
    gateway: str | None
    gateways: int | None
    rssi: float | None
    snr: float | None
    spreading_factor: int | None
    f_cnt: int | None


@dataclass(frozen=True, slots=True)
class LinkSummary:
    """The radio link over a day: how often heard, by how many gateways, how loud."""

    uplinks: list[Uplink]
    """Newest first."""
    median_rssi: float | None
    median_snr: float | None
    gateways_seen: list[str]
    spreading_factors: list[int]
    weak: bool
    """The medians are below the health rules' limits."""


def link_summary(
    store: ReadingStore, device_id: str, now: datetime, limits: Thresholds
) -> LinkSummary:
    """Uplinks of the last 24 hours (at most 5,000) and their medians."""
    end_ns = to_ns(now)
    points = store.query(
        UPLINK,
        tags={"device_id": device_id},
        start_ns=end_ns - 24 * HOUR_NS,
        end_ns=end_ns,
        limit=5000,
    )
    uplinks = [_uplink(point) for point in reversed(points)]
    rssi = [u.rssi for u in uplinks if u.rssi is not None]
    snr = [u.snr for u in uplinks if u.snr is not None]
    median_rssi = statistics.median(rssi) if rssi else None
    median_snr = statistics.median(snr) if snr else None
    return LinkSummary(
        uplinks=uplinks,
        median_rssi=median_rssi,
        median_snr=median_snr,
        gateways_seen=sorted({u.gateway for u in uplinks if u.gateway}),
        spreading_factors=sorted(
            {u.spreading_factor for u in uplinks if u.spreading_factor is not None}
        ),
        weak=limits.link_weak(median_rssi, median_snr),
    )


def _uplink(point: Point) -> Uplink:
    fields = numbers(point)

    def whole(name: str) -> int | None:
        value = fields.get(name)
        return None if value is None else int(value)

    return Uplink(
        time_ns=point.time_ns,
        gateway=point.tags.get("gateway"),
        gateways=whole("gateways"),
        rssi=fields.get("rssi"),
        snr=fields.get("snr"),
        spreading_factor=whole("spreading_factor"),
        f_cnt=whole("f_cnt"),
    )
