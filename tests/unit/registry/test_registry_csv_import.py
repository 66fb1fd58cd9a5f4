"""The dry run: every bad row of a devices or routes CSV is named with its line and a reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.registry import (
    DEVICE_COLUMNS,
    ROUTE_COLUMNS,
    DeviceImport,
    RowError,
    format_field_map,
    parse_device_csv,
    parse_route_csv,
)
from storage.registry.validation import InvalidValue, parse_field_map, parse_identifier

DECODERS = {"ttn", "cayenne-lpp", "decentlab-dl-ds18"}
QUANTITIES = {
    "road_surface_temperature",
    "air_temperature",
    "relative_humidity",
    "battery_voltage",
    "pm2_5",
}
ROUTES = {"town-centre", "a14-north"}
HEADER = ",".join(DEVICE_COLUMNS)
GOOD = (
    "road-01,70B3D57ED005A12F,Bridge St,decentlab-dl-ds18,road,town-centre,"
    "52.2053,0.1218,no,County Council,temperature=road_surface_temperature;battery=battery_voltage"
)


def devices(*rows: str, header: str = HEADER, **known: object) -> DeviceImport:
    return parse_device_csv(
        "\n".join([header, *rows]) + "\n",
        known_decoders=known.get("decoders", DECODERS),  # type: ignore[arg-type]
        known_quantities=QUANTITIES,
        known_routes=ROUTES,
        registered_dev_euis=known.get("registered"),  # type: ignore[arg-type]
    )


def device_row(**cells: str) -> str:
    """A good row with some cells replaced."""
    values = dict(zip(DEVICE_COLUMNS, GOOD.split(","), strict=True))
    values.update(cells)
    return ",".join(values[column] for column in DEVICE_COLUMNS)


def only_error(result: DeviceImport) -> RowError:
    assert result.rows == []
    assert len(result.errors) == 1, result.errors
    return result.errors[0]


def test_a_good_row_is_normalised() -> None:
    result = devices(GOOD)

    assert result.ok and result.errors == []
    (row,) = result.rows
    assert row.device_id == "road-01"
    assert row.dev_eui == "70b3d57ed005a12f"
    assert row.name == "Bridge St"
    assert row.decoder == "decentlab-dl-ds18"
    assert row.domain == "road"
    assert row.route_id == "town-centre"
    assert (row.latitude, row.longitude) == (52.2053, 0.1218)
    assert row.public is False
    assert row.owner == "County Council"
    assert row.field_map == {
        "temperature": "road_surface_temperature",
        "battery": "battery_voltage",
    }
    assert row.line == 2


def test_optional_cells_may_be_blank() -> None:
    result = devices("school-aq-1,0011223344556677,,ttn,air,,,,,,")

    (row,) = result.rows
    assert (row.name, row.route_id, row.latitude, row.longitude, row.owner) == (None,) * 5
    assert row.public is False
    assert row.field_map == {}


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("true", True), ("Yes", True), ("1", True), ("FALSE", False), ("no", False), ("0", False)],
)
def test_public_accepts_the_usual_spellings(cell: str, expected: bool) -> None:
    (row,) = devices(device_row(public=cell)).rows
    assert row.public is expected


def test_a_utf8_bom_and_crlf_line_ends_are_accepted() -> None:
    text = "\ufeff" + HEADER + "\r\n" + GOOD + "\r\n"

    result = parse_device_csv(
        text, known_decoders=DECODERS, known_quantities=QUANTITIES, known_routes=ROUTES
    )

    assert result.errors == []
    assert [row.device_id for row in result.rows] == ["road-01"]


def test_columns_may_come_in_any_order_and_any_case() -> None:
    header = ",".join(reversed([column.upper() for column in DEVICE_COLUMNS]))
    row = ",".join(reversed(GOOD.split(",")))

    (parsed,) = devices(row, header=header).rows

    assert parsed.device_id == "road-01"


def test_line_numbers_count_the_lines_of_quoted_multi_line_cells() -> None:
    result = devices(
        device_row(device_id="road-01", dev_eui="0000000000000001", name='"Bridge St\nnorth side"'),
        "",
        device_row(device_id="Road-02", dev_eui="0000000000000002"),
    )

    assert [row.device_id for row in result.rows] == ["road-01"]
    (error,) = result.errors
    assert error.line == 5  # header 1, row on 2–3, blank 4
    assert error.device_id == "Road-02"


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"device_id": ""}, "device_id is missing"),
        ({"device_id": "Road-01"}, "device_id 'Road-01' must be lower case: use 'road-01'"),
        ({"device_id": "r"}, "device_id 'r' is 1 characters long: use 2 to 36"),
        ({"device_id": "r" * 37}, "is 37 characters long: use 2 to 36"),
        ({"device_id": "road_01"}, "device_id 'road_01' contains '_': use only lower-case"),
        ({"device_id": "-road"}, "device_id '-road' must not start or end with '-'"),
        ({"device_id": "road-"}, "must not start or end with '-'"),
        ({"device_id": "road--1"}, "device_id 'road--1' must not contain '--'"),
        ({"dev_eui": ""}, "dev_eui is missing"),
        ({"dev_eui": "70B3D57ED005A1"}, "dev_eui '70B3D57ED005A1' has 14 hex digits"),
        ({"dev_eui": "70B3D57ED005A12G"}, "dev_eui '70B3D57ED005A12G' contains 'g'"),
        ({"decoder": "decentlab-dl-ds1"}, "did you mean 'decentlab-dl-ds18'?"),
        ({"decoder": "nope"}, "decoder 'nope' is not known: use one of cayenne-lpp,"),
        ({"decoder": ""}, "decoder is missing"),
        ({"domain": "sky"}, "domain 'sky' is not one of road, air, water, other"),
        ({"domain": ""}, "domain is missing"),
        ({"route_id": "a14-south"}, "route_id 'a14-south' is not a registered route"),
        ({"route_id": "Town-Centre"}, "(did you mean 'town-centre'?)"),
        ({"latitude": "91"}, "latitude 91 is out of range: it must be between -90 and 90"),
        ({"longitude": "-180.5"}, "longitude -180.5 is out of range"),
        ({"latitude": '"52,2"'}, "latitude '52,2' is not a number (use '.' as the decimal"),
        ({"latitude": "nan"}, "latitude nan is out of range"),
        ({"longitude": ""}, "latitude is given without longitude: give both or neither"),
        ({"public": "maybe"}, "public 'maybe' is not a yes/no value"),
        ({"field_map": "temperature"}, "field_map entry 'temperature' is not vendor_field="),
        ({"field_map": "t=road_temp"}, "maps 't' to 'road_temp', which is not a known quantity"),
        ({"field_map": "t=air_temprature"}, "(did you mean 'air_temperature'?)"),
        ({"field_map": "t=pm2_5;t=pm2_5"}, "field_map names vendor field 't' twice"),
        ({"field_map": "a=pm2_5;b=pm2_5"}, "maps both 'a' and 'b' to 'pm2_5'"),
        ({"name": "Bridge\x00St"}, "name contains a control character"),
    ],
)
def test_each_rule_names_the_line_and_says_what_to_fix(cells: dict[str, str], reason: str) -> None:
    result = devices(
        device_row(device_id="road-00", dev_eui="0000000000000000"), device_row(**cells)
    )

    assert [row.device_id for row in result.rows] == ["road-00"]
    (error,) = result.errors
    assert error.line == 3
    assert reason in error.reason


def test_a_row_with_several_problems_is_one_error_listing_them_all() -> None:
    error = only_error(devices(device_row(domain="sky", public="maybe", latitude="99")))

    assert error.line == 2
    assert error.device_id == "road-01"
    assert "domain 'sky'" in error.reason
    assert "public 'maybe'" in error.reason
    assert "latitude 99" in error.reason


def test_a_device_listed_twice_is_reported_on_the_second_line() -> None:
    result = devices(GOOD, device_row(dev_eui="0000000000000009"))

    assert [row.line for row in result.rows] == [2]
    (error,) = result.errors
    assert error.line == 3
    assert "device_id 'road-01' is already on line 2" in error.reason


def test_a_dev_eui_used_twice_in_the_file_is_reported() -> None:
    result = devices(GOOD, device_row(device_id="road-02", dev_eui="70-b3-d5-7e-d0-05-a1-2f"))

    (error,) = result.errors
    assert error.line == 3
    assert "dev_eui 70b3d57ed005a12f is already used by 'road-01' on line 2" in error.reason


def test_a_dev_eui_registered_to_another_device_is_reported_when_the_caller_knows_it() -> None:
    registered = {"70B3D57ED005A12F": "old-sensor"}

    error = only_error(devices(GOOD, registered=registered))
    same_device = devices(GOOD, registered={"70b3d57ed005a12f": "road-01"})

    assert "already registered to device 'old-sensor'" in error.reason
    assert same_device.ok


def test_the_header_must_name_exactly_the_documented_columns() -> None:
    header = HEADER.replace(",owner", "") + ",site,colour"

    result = devices(GOOD, header=header)

    (error,) = result.errors
    assert result.rows == []
    assert error.line == 1
    assert "missing column owner" in error.reason
    assert "unknown columns 'site', 'colour'" in error.reason
    assert HEADER in error.reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the first line must be the header"),
        ("\n\n", "the first line must be the header"),
        (HEADER.replace(",", ";") + "\n", "the header uses ';' between columns"),
        (HEADER + ",device_id\n", "repeated column device_id"),
    ],
)
def test_a_file_without_a_usable_header_says_so(text: str, reason: str) -> None:
    result = parse_device_csv(
        text, known_decoders=DECODERS, known_quantities=QUANTITIES, known_routes=ROUTES
    )

    assert result.rows == []
    assert [error.line for error in result.errors] == [1]
    assert reason in result.errors[0].reason


def test_a_header_without_rows_is_an_empty_import() -> None:
    result = devices()
    assert result.ok and result.rows == []


def test_a_row_with_the_wrong_number_of_cells_is_reported() -> None:
    result = devices(GOOD.replace("Bridge St", "Bridge St, north"), device_row() + ",,,")

    (error,) = result.errors
    assert error.line == 2
    assert "row has 12 cells but the header has 11 columns" in error.reason
    assert [row.line for row in result.rows] == [3]  # trailing empty cells are harmless


def test_an_unclosed_quote_is_reported_where_the_row_starts() -> None:
    result = devices(GOOD, device_row(device_id="road-02", name='"Bridge St'), GOOD)

    assert [row.line for row in result.rows] == [2]
    (error,) = result.errors
    assert error.line == 3
    assert "a quoted cell starting on this line is never closed" in error.reason


def test_text_after_a_closing_quote_is_reported_and_later_rows_still_checked() -> None:
    result = devices(device_row(name='"Bridge" St'), device_row(device_id="Road-02"))

    assert [(error.line, error.device_id) for error in result.errors] == [
        (2, None),
        (3, "Road-02"),
    ]
    assert "after a closing '\"' only ',' may follow" in result.errors[0].reason


def test_five_hundred_devices_with_seven_bad_rows_name_exactly_those_seven() -> None:
    rows = [
        device_row(device_id=f"road-{n:03d}", dev_eui=f"{n:016x}", name=f"Sensor {n}")
        for n in range(500)
    ]
    breakages = {
        11: {"dev_eui": "xyz"},
        42: {"decoder": "unknown-thing"},
        99: {"domain": "roads"},
        150: {"latitude": "123"},
        230: {"field_map": "t=temperature"},
        377: {"device_id": "Road-377"},
        498: {"route_id": "nowhere"},
    }
    for index, cells in breakages.items():
        rows[index] = device_row(
            **{"device_id": f"road-{index:03d}", "dev_eui": f"{index:016x}", **cells}
        )

    result = devices(*rows)

    assert [error.line for error in result.errors] == [index + 2 for index in breakages]
    assert len(result.rows) == 493


# -- routes ------------------------------------------------------------------------------------

ROUTE_HEADER = ",".join(ROUTE_COLUMNS)


def test_a_good_route_file_is_parsed() -> None:
    result = parse_route_csv(
        f"{ROUTE_HEADER}\ntown-centre,Town centre loop,12.5,1,Urban\na14-north,,3,2,\n"
    )

    assert result.errors == []
    first, second = result.rows
    assert (first.route_id, first.name, first.length_km, first.priority, first.area) == (
        "town-centre",
        "Town centre loop",
        12.5,
        1,
        "Urban",
    )
    assert (second.name, second.area, second.line) == (None, None, 3)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("Town,x,1,1,", "route_id 'Town' must be lower case: use 'town'"),
        ("t,x,1,1,", "route_id 't' is 1 characters long"),
        ("town,x,0,1,", "length_km 0 must be a distance in km greater than 0"),
        ("town,x,-2,1,", "length_km -2 must be a distance in km greater than 0"),
        ("town,x,inf,1,", "length_km inf must be a distance"),
        ("town,x,12,5,1,north", "row has 6 cells but the header has 5 columns"),
        ("town,x,twelve,1,", "length_km 'twelve' is not a number"),
        ("town,x,,1,", "length_km is missing"),
        ("town,x,1,0,", "priority 0 must be 1 to 1000 (1 = highest)"),
        ("town,x,1,1.5,", "priority '1.5' is not a whole number"),
        ("town,x,1,,", "priority is missing"),
    ],
)
def test_each_route_rule_names_the_line(row: str, reason: str) -> None:
    result = parse_route_csv(f"{ROUTE_HEADER}\nother,ok,1,1,\n{row}\n")

    assert [r.route_id for r in result.rows] == ["other"]
    (error,) = result.errors
    assert error.line == 3
    assert reason in error.reason


def test_a_route_listed_twice_is_reported() -> None:
    result = parse_route_csv(f"{ROUTE_HEADER}\ntown,a,1,1,\ntown,b,2,2,\n")

    (error,) = result.errors
    assert error.line == 3
    assert error.row_id == "town"
    assert "route_id 'town' is already on line 2" in error.reason


def test_a_route_file_with_unknown_columns_names_them() -> None:
    result = parse_route_csv(f"{ROUTE_HEADER},spread_rate\ntown,a,1,1,,20\n")

    (error,) = result.errors
    assert "unknown column 'spread_rate'" in error.reason


def test_row_errors_print_with_their_line() -> None:
    assert str(RowError(7, "road-01", "domain 'sky' is not one of …")) == (
        "line 7 (road-01): domain 'sky' is not one of …"
    )


# -- properties --------------------------------------------------------------------------------

ids = st.from_regex(r"[a-z0-9](-?[a-z0-9]){1,35}", fullmatch=True).filter(lambda v: len(v) <= 36)


@given(ids)
def test_every_id_of_the_ttn_shape_is_accepted(value: str) -> None:
    assert parse_identifier("device_id", value) == value


@given(st.text(max_size=40))
def test_an_accepted_id_always_has_the_ttn_shape(value: str) -> None:
    try:
        parse_identifier("device_id", value)
    except InvalidValue:
        return
    assert 2 <= len(value) <= 36
    assert set(value) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert "--" not in value and value[0] != "-" and value[-1] != "-"


@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,20}", fullmatch=True),
        st.sampled_from(sorted(QUANTITIES)),
    ).filter(lambda mapping: len(set(mapping.values())) == len(mapping))
)
def test_a_field_map_survives_writing_and_reading_back(mapping: dict[str, str]) -> None:
    assert parse_field_map(format_field_map(mapping), QUANTITIES) == mapping


@given(st.text(max_size=400))
def test_any_text_gives_rows_or_errors_never_an_exception(text: str) -> None:
    result = parse_device_csv(
        text, known_decoders=DECODERS, known_quantities=QUANTITIES, known_routes=ROUTES
    )
    assert all(error.line >= 1 and error.reason for error in result.errors)


@given(st.lists(st.text(alphabet=',"\n\r;= abcXYZ019-', max_size=30), max_size=6))
def test_any_rows_under_a_good_header_give_rows_or_errors(rows: list[str]) -> None:
    result = devices(*rows)
    assert all(error.line >= 2 for error in result.errors)
