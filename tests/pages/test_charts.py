"""The SVG line chart, parsed as XML: what a screen reader and a phone get."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from api.pages.chart_scales import time_ticks, value_ticks
from api.pages.charts import Guide, Series, line_chart

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 1, 14, 6, 0, tzinfo=UTC)


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def every_ten_minutes(
    count: int, start: float = 3.0, step: float = -0.05
) -> list[tuple[datetime, float]]:
    return [(T0 + timedelta(minutes=10 * i), start + step * i) for i in range(count)]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_a_chart_names_itself_for_screen_readers_and_scales_to_its_container() -> None:
    root = parse(
        line_chart(
            [Series("rst-1", every_ten_minutes(12))],
            title="Road surface, last 24 h",
            description="Bank Road's sensors.",
            unit="°C",
        )
    )

    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert title.text == "Road surface, last 24 h"
    assert desc.text is not None and desc.text.startswith("Bank Road's sensors.")
    assert re.fullmatch(r"0 0 \d+ \d+", root.get("viewBox") or "")
    assert root.get("width") is None and root.get("height") is None


def test_the_description_gives_latest_lowest_and_highest_of_each_series() -> None:
    points = [(T0, 2.0), (T0 + timedelta(minutes=10), -1.25), (T0 + timedelta(minutes=20), 0.5)]
    root = parse(line_chart([Series("rst-1", points)], title="t", description="", unit="°C"))

    desc = root.find(f"{SVG}desc")
    assert desc is not None
    assert desc.text == (
        "rst-1: latest 0.5 °C at 06:20 UTC on 14 Jan, lowest \N{MINUS SIGN}1.2 °C, highest 2.0 °C."
    )


def test_two_charts_on_one_page_never_share_ids() -> None:
    one = parse(line_chart([], title="a", description="", unit="°C"))
    two = parse(line_chart([], title="a", description="", unit="°C"))

    assert one.get("aria-labelledby") != two.get("aria-labelledby")


def test_the_time_axis_is_labelled_utc_with_round_hours_inside_the_window() -> None:
    end = T0 + timedelta(hours=24)
    root = parse(
        line_chart(
            [Series("rst-1", every_ten_minutes(144))],
            title="t",
            description="",
            unit="°C",
            start=T0,
            end=end,
        )
    )

    labels = texts(root)
    assert "Time (UTC)" in labels
    assert "°C" in labels
    hours = [label for label in labels if re.fullmatch(r"\d\d:00", label)]
    assert hours == ["06:00", "12:00", "18:00", "06:00"]
    assert "15 Jan" in labels  # midnight names the date


def test_series_differ_by_dash_pattern_as_well_as_colour() -> None:
    root = parse(
        line_chart(
            [Series(f"s{i}", every_ten_minutes(6, start=float(i))) for i in range(3)],
            title="t",
            description="",
            unit="°C",
        )
    )

    paths = [p for p in root.iter(f"{SVG}path")]
    styles = {(p.get("stroke"), p.get("stroke-dasharray")) for p in paths}
    assert len(paths) == 3
    assert len({colour for colour, _ in styles}) == 3
    assert len({dash for _, dash in styles}) == 3
    legend = [t for t in texts(root) if t in {"s0", "s1", "s2"}]
    assert legend == ["s0", "s1", "s2"]


def test_guides_are_labelled_dashed_lines_at_their_value() -> None:
    root = parse(
        line_chart(
            [Series("rst-1", every_ten_minutes(6, start=4.0, step=-0.5))],
            title="t",
            description="",
            unit="°C",
            guides=[Guide(1.0, "+1 °C"), Guide(0.0, "0 °C")],
        )
    )

    guides = [g for g in root.iter(f"{SVG}g") if g.get("class") == "chart-guide"]
    assert [g.findtext(f"{SVG}text") for g in guides] == ["+1 °C", "0 °C"]
    lines = [g.find(f"{SVG}line") for g in guides]
    assert all(line is not None and line.get("stroke-dasharray") for line in lines)
    one, zero = (float(line.get("y1") or "nan") for line in lines if line is not None)
    assert zero > one  # SVG's y grows downwards: 0 °C is drawn below +1 °C


def test_a_gap_longer_than_three_median_spacings_breaks_the_line() -> None:
    points = every_ten_minutes(6) + [
        (T0 + timedelta(hours=3, minutes=10 * i), 1.0) for i in range(6)
    ]
    root = parse(line_chart([Series("rst-1", points)], title="t", description="", unit="°C"))

    paths = [p.get("d") or "" for p in root.iter(f"{SVG}path")]
    assert len(paths) == 2
    assert [d.count("L") for d in paths] == [5, 5]


def test_a_slightly_late_reading_does_not_break_the_line() -> None:
    points = [*every_ten_minutes(6), (T0 + timedelta(minutes=50 + 25), 1.0)]
    root = parse(line_chart([Series("rst-1", points)], title="t", description="", unit="°C"))

    assert len(list(root.iter(f"{SVG}path"))) == 1


def test_a_lone_reading_between_gaps_is_drawn_as_a_dot() -> None:
    points = [*every_ten_minutes(4), (T0 + timedelta(hours=5), 1.0), (T0 + timedelta(hours=9), 0.0)]
    points += [(T0 + timedelta(hours=9, minutes=10), 0.2)]
    root = parse(line_chart([Series("rst-1", points)], title="t", description="", unit="°C"))

    assert len(list(root.iter(f"{SVG}circle"))) == 1
    assert len(list(root.iter(f"{SVG}path"))) == 2


def test_no_readings_says_so_in_words() -> None:
    root = parse(line_chart([Series("rst-1", [])], title="Road surface", description="", unit="°C"))

    assert "No readings in this period" in texts(root)
    assert list(root.iter(f"{SVG}path")) == []
    desc = root.find(f"{SVG}desc")
    assert desc is not None and "no readings" in (desc.text or "")


def test_points_outside_the_window_and_non_finite_values_are_left_out() -> None:
    points = [
        (T0 - timedelta(hours=1), 50.0),
        *every_ten_minutes(4),
        (T0 + timedelta(minutes=40), math.nan),
    ]
    root = parse(
        line_chart([Series("rst-1", points)], title="t", description="", unit="°C", start=T0)
    )

    desc = root.findtext(f"{SVG}desc") or ""
    assert "highest 3.0 °C" in desc
    assert "50" not in " ".join(texts(root))


def test_every_text_is_escaped() -> None:
    hostile = '<script>alert("x")</script> & "quotes"'
    markup = line_chart(
        [Series(hostile, every_ten_minutes(3))],
        title=hostile,
        description=hostile,
        unit="<b>",
        guides=[Guide(1.0, hostile)],
    )

    root = parse(markup)  # well-formed XML: nothing broke out of its element
    assert "<script>" not in markup
    assert root.findtext(f"{SVG}title") == hostile
    assert list(root.iter("script")) == [] and list(root.iter(f"{SVG}script")) == []


def test_value_ticks_are_round_and_cover_the_data() -> None:
    assert value_ticks(-2.3, 4.1) == [-4, -2, 0, 2, 4, 6]
    assert value_ticks(0.12, 0.31) == [0.1, 0.15, 0.2, 0.25, 0.3, 0.35]
    flat = value_ticks(5.0, 5.0)
    assert flat[0] < 5.0 < flat[-1]


def test_time_ticks_fit_a_phone_for_windows_from_minutes_to_a_month() -> None:
    for span in (timedelta(minutes=20), timedelta(hours=3), timedelta(days=1), timedelta(days=31)):
        ticks = time_ticks(T0 + timedelta(minutes=7), T0 + timedelta(minutes=7) + span)
        assert 2 <= len(ticks) <= 6, (span, ticks)
        assert all(t.at.second == 0 and t.at.tzinfo is UTC for t in ticks)
    week = time_ticks(T0, T0 + timedelta(days=7))
    assert all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2}", t.label) for t in week)
