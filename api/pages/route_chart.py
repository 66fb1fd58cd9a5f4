"""A route's last day of road-surface temperatures (and dew points) as a chart and a table.

The readings come from the store's `reading` measurement by the route's tag, exactly as
the engine and the JSON API read them. The table gives each hour's mean for people who
cannot see the chart, or want the numbers.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from markupsafe import Markup

from api.pages.board_view import celsius
from api.pages.charts import Guide, Series, line_chart
from storage import ReadingStore

WINDOW = timedelta(hours=24)
ROAD_SURFACE = "road_surface_temperature"
DEW_POINT = "dew_point"
GUIDES = (Guide(1.0, "+1 °C"), Guide(0.0, "0 °C"))


@dataclass(frozen=True, slots=True)
class RouteChart:
    svg: Markup
    columns: list[str]
    rows: list[tuple[str, list[str]]]
    """(hour, one cell per column): each series' mean reading in that hour (UTC)."""


def route_chart(store: ReadingStore, route_id: str, route_name: str, now: datetime) -> RouteChart:
    start = now - WINDOW
    points = store.query(
        "reading",
        tags={"route": route_id},
        start_ns=_ns(start),
        end_ns=_ns(now) + 1,
        fields=(ROAD_SURFACE, DEW_POINT),
    )
    lines: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for point in points:
        device = point.tags.get("device_id", "?")
        at = datetime.fromtimestamp(point.time_ns / 1e9, UTC)
        for name, words in ((ROAD_SURFACE, "road surface"), (DEW_POINT, "dew point")):
            value = point.fields.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                lines[f"{device} {words}"].append((at, float(value)))
    labels = sorted(lines, key=lambda label: (label.endswith("dew point"), label))
    series = [Series(label, lines[label]) for label in labels]
    svg = line_chart(
        series,
        title=f"{route_name}: road surface temperature, last 24 hours",
        description=(
            "Each sensor's road surface temperature, and the dew point where it is known, "
            "with guide lines at +1 °C and 0 °C."
        ),
        unit="°C",
        guides=GUIDES,
        start=start,
        end=now,
    )
    return RouteChart(svg, labels, _hourly(series))


def _hourly(series: list[Series]) -> list[tuple[str, list[str]]]:
    hours: dict[datetime, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for index, line in enumerate(series):
        for at, value in line.points:
            hours[at.replace(minute=0, second=0, microsecond=0)][index].append(value)
    rows = []
    for hour in sorted(hours, reverse=True):
        cells = hours[hour]
        shown = [
            celsius(statistics.fmean(cells[i])) if cells.get(i) else "—" for i in range(len(series))
        ]
        rows.append((f"{hour:%d %b %H}:00", shown))
    return rows


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000) * 1000
