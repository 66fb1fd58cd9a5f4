"""Line charts as SVG drawn on the server: no script, no CDN, readable by a screen reader.

A chart is for reading one thing at a glance on a phone at night, so it keeps to what
helps: a UTC time axis with round ticks, a value axis with its unit, labelled guide
lines (0 °C, +1 °C), and a line per series told apart by dash pattern as well as colour.
A missing stretch of data is drawn as a gap, never as a straight line across it. The
`<desc>` carries the numbers a sighted reader gets from the picture (latest, min, max).
"""

from __future__ import annotations

import itertools
import math
import statistics
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

from api.pages.chart_scales import TimeTick, time_ticks, value_ticks


@dataclass(frozen=True, slots=True)
class Series:
    """One line: a label for the legend and (time, value) points in time order."""

    label: str
    points: Sequence[tuple[datetime, float]]


@dataclass(frozen=True, slots=True)
class Guide:
    """A horizontal reference line, e.g. 0 °C and +1 °C on a road-temperature chart."""

    value: float
    label: str


WIDTH = 480
"""viewBox width: small enough that 13-unit text stays legible scaled down to a phone."""
PLOT_HEIGHT = 200
LEFT, RIGHT, TOP = 52, 52, 24
AXIS_BELOW = 44
"""Room under the plot for tick labels and the 'Time (UTC)' caption."""
LEGEND_ROW = 20
GAP_FACTOR = 3
"""A step longer than this many median spacings is missing data: the line breaks there."""

DASHES = ("", "8 4", "2 3", "10 3 2 3", "4 4", "1 3")
"""Dash patterns, so series differ in more than colour (WCAG 1.4.1)."""
COLOURS = ("#0b5fa5", "#b34700", "#2c7a3f", "#8f3a84", "#6b5800", "#4b5563")
"""Defaults for a chart shown outside wherry's CSS; the stylesheet overrides them per theme."""


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    description: str,
    unit: str,
    guides: Sequence[Guide] = (),
    start: datetime | None = None,
    end: datetime | None = None,
) -> Markup:
    """An accessible SVG (`role="img"`, `<title>`, `<desc>`) scaling to its container's width.

    `description` comes first in `<desc>`; a summary of each series follows it. Points
    outside `start`..`end` (when given) are left out, and non-finite values are gaps.
    """
    cleaned = [_Line(s.label, _clean(s.points, start, end)) for s in series]
    ident = f"chart-{uuid.uuid4().hex[:10]}"
    summary = " ".join(_summary(line, unit) for line in cleaned)
    desc = " ".join(part for part in (description.strip(), summary) if part)
    if not any(line.points for line in cleaned):
        return _empty(ident, title, desc or "No readings in this period.")
    return _Drawing(cleaned, ident, title, desc, unit, guides, start, end).svg()


@dataclass(frozen=True, slots=True)
class _Line:
    label: str
    points: list[tuple[datetime, float]]


def _utc(moment: datetime) -> datetime:
    """Naive times are taken as UTC, which is what the stores hand back."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _clean(
    points: Sequence[tuple[datetime, float]], start: datetime | None, end: datetime | None
) -> list[tuple[datetime, float]]:
    low = _utc(start) if start else None
    high = _utc(end) if end else None
    kept = [(_utc(when), float(value)) for when, value in points]
    return sorted(
        (when, value)
        for when, value in kept
        if (low is None or when >= low) and (high is None or when <= high)
    )


def _summary(line: _Line, unit: str) -> str:
    values = [value for _, value in line.points if math.isfinite(value)]
    if not values:
        return f"{line.label}: no readings in this period."
    latest_at, latest = next((w, v) for w, v in reversed(line.points) if math.isfinite(v))
    return (
        f"{line.label}: latest {_number(latest)} {unit} at {latest_at:%H:%M} UTC"
        f" on {latest_at:%d %b}, lowest {_number(min(values))} {unit},"
        f" highest {_number(max(values))} {unit}."
    )


def _number(value: float) -> str:
    return f"{value:.1f}".replace("-", "\N{MINUS SIGN}")


def _runs(points: list[tuple[datetime, float]]) -> Iterator[list[tuple[datetime, float]]]:
    """The unbroken stretches of `points`: split at non-finite values and at long gaps."""
    steps = [(b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(points)]
    positive = [step for step in steps if step > 0]
    limit = GAP_FACTOR * statistics.median(positive) if positive else math.inf
    run: list[tuple[datetime, float]] = []
    previous: datetime | None = None
    for when, value in points:
        if not math.isfinite(value):
            if run:
                yield run
            run, previous = [], None
            continue
        if previous is not None and (when - previous).total_seconds() > limit and run:
            yield run
            run = []
        run.append((when, value))
        previous = when
    if run:
        yield run


class _Drawing:
    """The geometry of one non-empty chart, written out as SVG text."""

    def __init__(
        self,
        lines: list[_Line],
        ident: str,
        title: str,
        desc: str,
        unit: str,
        guides: Sequence[Guide],
        start: datetime | None,
        end: datetime | None,
    ) -> None:
        self.lines, self.ident, self.title, self.desc, self.unit = lines, ident, title, desc, unit
        self.guides = [g for g in guides if math.isfinite(g.value)]
        times = [when for line in lines for when, _ in line.points]
        self.start = _utc(start) if start else min(times)
        self.end = _utc(end) if end else max(times)
        if self.end <= self.start:
            half_hour = timedelta(minutes=30)
            self.start, self.end = self.start - half_hour, self.end + half_hour
        values = [v for line in lines for _, v in line.points if math.isfinite(v)]
        values += [g.value for g in self.guides]
        self.ticks = value_ticks(min(values), max(values))
        self.low, self.high = self.ticks[0], self.ticks[-1]
        self.plot_width = WIDTH - LEFT - RIGHT
        self.legend = _legend_rows([line.label for line in lines], WIDTH - LEFT)

    def x(self, when: datetime) -> float:
        span = (self.end - self.start).total_seconds()
        return LEFT + (when - self.start).total_seconds() / span * self.plot_width

    def y(self, value: float) -> float:
        return TOP + (self.high - value) / (self.high - self.low) * PLOT_HEIGHT

    def svg(self) -> Markup:
        height = TOP + PLOT_HEIGHT + AXIS_BELOW + LEGEND_ROW * len(self.legend) + 4
        parts = [_open(self.ident, self.title, self.desc, height)]
        parts += self._value_axis()
        parts += self._time_axis(time_ticks(self.start, self.end))
        parts += self._guides()
        for index, line in enumerate(self.lines):
            parts += self._series(index, line)
        parts += self._legend()
        parts.append("</svg>")
        return Markup("\n".join(parts))

    def _value_axis(self) -> list[str]:
        decimals = _decimals(self.ticks)
        out = ['<g class="chart-axis" aria-hidden="true">']
        out.append(
            f'<text class="chart-unit" x="{LEFT - 8}" y="{TOP - 10}" text-anchor="end">'
            f"{escape(self.unit)}</text>"
        )
        for tick in self.ticks:
            y = _f(self.y(tick))
            label = f"{tick:.{decimals}f}".replace("-", "\N{MINUS SIGN}")
            out.append(
                f'<line class="chart-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"'
                ' stroke="#c9d1d9" stroke-width="1"/>'
            )
            out.append(
                f'<text x="{LEFT - 6}" y="{y}" dy="0.35em" text-anchor="end">{escape(label)}</text>'
            )
        out.append("</g>")
        return out

    def _time_axis(self, ticks: list[TimeTick]) -> list[str]:
        bottom = TOP + PLOT_HEIGHT
        out = ['<g class="chart-axis" aria-hidden="true">']
        out.append(
            f'<line class="chart-baseline" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{bottom}"'
            f' y2="{bottom}" stroke="#4a5563" stroke-width="1"/>'
        )
        for tick in ticks:
            x = _f(self.x(tick.at))
            out.append(
                f'<line class="chart-tick" x1="{x}" x2="{x}" y1="{bottom}" y2="{bottom + 5}"'
                ' stroke="#4a5563" stroke-width="1"/>'
            )
            out.append(
                f'<text x="{x}" y="{bottom + 18}" text-anchor="middle">{escape(tick.label)}</text>'
            )
        out.append(
            f'<text class="chart-caption" x="{_f(LEFT + self.plot_width / 2)}" y="{bottom + 36}"'
            ' text-anchor="middle">Time (UTC)</text>'
        )
        out.append("</g>")
        return out

    def _guides(self) -> list[str]:
        out: list[str] = []
        for guide in self.guides:
            y = _f(self.y(guide.value))
            out.append(
                f'<g class="chart-guide" aria-hidden="true">'
                f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" stroke="#4a5563"'
                ' stroke-width="1.25" stroke-dasharray="6 3"/>'
                f'<text x="{WIDTH - RIGHT + 4}" y="{y}" dy="0.35em">{escape(guide.label)}</text>'
                "</g>"
            )
        return out

    def _series(self, index: int, line: _Line) -> list[str]:
        style = _style(index)
        out = [f'<g class="chart-series chart-series-{index % len(DASHES)}" aria-hidden="true">']
        for run in _runs(line.points):
            coords = [(self.x(when), self.y(value)) for when, value in run]
            if len(coords) == 1:
                x, y = coords[0]
                out.append(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="3" fill="{style.colour}"/>')
                continue
            d = " ".join(
                f"{'M' if i == 0 else 'L'}{_f(x)},{_f(y)}" for i, (x, y) in enumerate(coords)
            )
            out.append(
                f'<path d="{d}" fill="none" stroke="{style.colour}" stroke-width="2.5"'
                f' stroke-linejoin="round"{style.dash_attribute}/>'
            )
        out.append("</g>")
        return out

    def _legend(self) -> list[str]:
        out = ['<g class="chart-legend" aria-hidden="true">']
        base = TOP + PLOT_HEIGHT + AXIS_BELOW + 6
        for row_index, row in enumerate(self.legend):
            y = base + row_index * LEGEND_ROW
            for index, x, label in row:
                style = _style(index)
                out.append(
                    f'<g class="chart-series chart-series-{index % len(DASHES)}">'
                    f'<line x1="{x}" x2="{x + 28}" y1="{y}" y2="{y}" stroke="{style.colour}"'
                    f' stroke-width="2.5"{style.dash_attribute}/>'
                    f'<text x="{x + 34}" y="{y}" dy="0.35em">{escape(label)}</text></g>'
                )
        out.append("</g>")
        return out


@dataclass(frozen=True, slots=True)
class _Style:
    colour: str
    dash: str

    @property
    def dash_attribute(self) -> str:
        return f' stroke-dasharray="{self.dash}"' if self.dash else ""


def _style(index: int) -> _Style:
    return _Style(COLOURS[index % len(COLOURS)], DASHES[index % len(DASHES)])


LegendRow = list[tuple[int, int, str]]


def _legend_rows(labels: list[str], width: int) -> list[LegendRow]:
    """Legend entries (index, x, label) packed into rows that fit `width`."""
    rows: list[LegendRow] = [[]]
    x = LEFT
    for index, label in enumerate(labels):
        shown = label if len(label) <= 40 else label[:39] + "\N{HORIZONTAL ELLIPSIS}"
        item_width = 34 + 7 * len(shown) + 16
        if rows[-1] and x + item_width > LEFT + width:
            rows.append([])
            x = LEFT
        rows[-1].append((index, x, shown))
        x += item_width
    return rows


def _open(ident: str, title: str, desc: str, height: int) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}"'
        f' role="img" aria-labelledby="{ident}-title {ident}-desc"'
        ' preserveAspectRatio="xMidYMid meet" font-size="13" font-family="system-ui, sans-serif">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(desc)}</desc>'
    )


def _empty(ident: str, title: str, desc: str) -> Markup:
    height = 120
    return Markup(
        _open(ident, title, desc, height)
        + f'<rect class="chart-empty" x="1" y="1" width="{WIDTH - 2}" height="{height - 2}"'
        ' fill="none" stroke="#c9d1d9" stroke-dasharray="4 4"/>'
        f'<text class="chart-empty-text" x="{WIDTH // 2}" y="{height // 2}" dy="0.35em"'
        ' text-anchor="middle">No readings in this period</text></svg>'
    )


def _decimals(ticks: list[float]) -> int:
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    return max(0, -math.floor(math.log10(step))) if step > 0 else 0


def _f(number: float) -> str:
    """Coordinates to 0.1 of a unit: plenty at this size, and short markup."""
    return f"{number:.1f}"
