"""Line protocol and InfluxQL quoting: what is written is exactly what InfluxDB will read.

The behaviour of the real parser (what round-trips, what is refused) is covered by
tests/integration/test_store_contract.py against a real influxd; these tests pin the text.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage import InvalidPoint, Point, StoreRejected, check_point
from storage.influx import quote_identifier, quote_literal
from storage.line_protocol import (
    encode_point,
    encode_points,
    escape_key,
    escape_measurement,
    escape_string,
    format_field_value,
    point_problem,
)

T0 = 1_768_446_765_123_456_789


def test_measurement_escapes_commas_and_spaces_only() -> None:
    assert escape_measurement("road surface,temp=x") == "road\\ surface\\,temp=x"


def test_keys_and_tag_values_escape_commas_equals_and_spaces() -> None:
    assert escape_key("a b,c=d") == "a\\ b\\,c\\=d"
    assert escape_key("C:\\temp") == "C:\\temp"
    assert escape_key("plain") == "plain"


def test_string_fields_are_quoted_with_quotes_and_backslashes_escaped() -> None:
    assert escape_string('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'
    assert escape_string("ends with \\") == '"ends with \\\\"'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (21.0, "21.0"),
        (-0.5, "-0.5"),
        (1e16, "1e+16"),
        (5e-324, "5e-324"),
        (np.float64(2.0), "2.0"),
        (3, "3i"),
        (-(2**63), "-9223372036854775808i"),
        (True, "true"),
        (False, "false"),
        ("x", '"x"'),
    ],
)
def test_field_values_keep_their_type_in_the_text(
    value: float | int | str | bool, text: str
) -> None:
    assert format_field_value(value) == text


def test_a_point_is_one_line_with_sorted_tags_and_empty_tags_dropped() -> None:
    point = Point(
        "reading",
        {"site": "old town", "device_id": "rst-01", "route": ""},
        {"road_surface_temperature": -1.0, "f_cnt": 7, "note": 'a "b"'},
        T0,
    )

    assert encode_point(point) == (
        "reading,device_id=rst-01,site=old\\ town "
        'road_surface_temperature=-1.0,f_cnt=7i,note="a \\"b\\"" '
        "1768446765123456789"
    )


def test_a_body_is_lines_each_ending_in_a_newline() -> None:
    points = [Point("m", {}, {"v": float(i)}, T0 + i) for i in range(3)]

    assert (
        encode_points(points) == b"m v=0.0 1768446765123456789\n"
        b"m v=1.0 1768446765123456790\n"
        b"m v=2.0 1768446765123456791\n"
    )


@pytest.mark.parametrize(
    ("point", "reason"),
    [
        (Point("m", {"t": "a\nb"}, {"v": 1.0}, T0), "line break"),
        (Point("\tm", {}, {"v": 1.0}, T0), "starts with a tab"),
        (Point("m", {"t": "a\\"}, {"v": 1.0}, T0), "backslash"),
        (Point("m", {}, {"v": math.nan}, T0), "NaN or infinity"),
        (Point("m", {}, {"v": 2**63}, T0), "64-bit"),
        (Point("#m", {}, {"v": 1.0}, T0), "comment"),
        (Point("m", {}, {}, T0), "at least one field"),
        (Point("m", {}, {"v": np.int64(3)}, T0), "int64"),  # type: ignore[dict-item]
        (Point("m", {"time": "x"}, {"v": 1.0}, T0), "'time'"),
        (Point("m", {"k": "x" * 70_000}, {"v": 1.0}, T0), "bytes"),
    ],
)
def test_refusals_say_why(point: Point, reason: str) -> None:
    with pytest.raises(InvalidPoint, match=reason) as refused:
        check_point(point)

    assert isinstance(refused.value, StoreRejected)
    assert refused.value.point is point
    assert reason in refused.value.reason


def test_a_point_refused_for_a_bad_name_is_still_refused_after_good_ones() -> None:
    """The cache of names known good must never let a bad name through."""
    for _ in range(3):
        check_point(Point("m", {"t": "good"}, {"v": 1.0}, T0))
        assert point_problem(Point("m", {"t": "good\\"}, {"v": 1.0}, T0)) is not None
        assert point_problem(Point("m", {"time": "good"}, {"v": 1.0}, T0)) is not None
        assert point_problem(Point("m", {}, {"time": 1.0}, T0)) is not None
        assert point_problem(Point("#good", {}, {"v": 1.0}, T0)) is not None


NAME = st.text(alphabet=st.sampled_from(list("ab,= \"'\\\n\r\t#é☃")), max_size=6)


@given(measurement=NAME, key=NAME, value=NAME, field=NAME, number=st.floats())
def test_an_accepted_point_without_string_fields_is_always_exactly_one_line(
    measurement: str, key: str, value: str, field: str, number: float
) -> None:
    point = Point(measurement, {key: value}, {field: number}, T0)
    if point_problem(point) is not None:
        return

    line = encode_point(point)

    assert "\n" not in line and "\r" not in line
    assert line.endswith(f" {T0}")


def test_influxql_identifiers_and_literals_cannot_be_closed_early() -> None:
    assert quote_identifier('a"b') == '"a\\"b"'
    assert quote_identifier("a\\") == '"a\\\\"'
    assert quote_identifier("line\nbreak") == '"line\\nbreak"'
    assert quote_literal("it's") == "'it\\'s'"
    assert quote_literal("x' OR '1'='1") == "'x\\' OR \\'1\\'=\\'1'"
    assert quote_literal("C:\\") == "'C:\\\\'"
