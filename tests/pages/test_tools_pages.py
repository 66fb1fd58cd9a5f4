"""Engineer tools through their forms: register a device, import a CSV (dry run, refusal,
apply), register a sighted device, test a decoder. Every POST carries the form's CSRF
token, read from the page as a browser would; what the registry refuses is shown beside
the field it concerns and nothing is written."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.roles import Role
from storage.registry import RouteDraft, Sighting
from tests.pages.device_pages_support import NOW_NS, World, assert_well_wired, world

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "cayenne-lpp.json"
DS18_PAYLOAD = "02000100037fec0bb8"  # Decentlab DS18: -1.25 °C, 3.0 V
HEADER = "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,field_map"


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    for built in world(tmp_path_factory.mktemp("tools-pages")):
        built.services.registry.create_route(
            RouteDraft(route_id="matlock-bank", length_km=6.4, priority=1), actor="test"
        )
        yield built


@pytest.fixture
def engineer(tools: World) -> TestClient:
    return tools.browsers[Role.engineer]


def token_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the form carries no CSRF token"
    return found.group(1)


def post_form(browser: TestClient, page_url: str, target: str, /, **fields: str) -> Any:
    """Open the form's page, then send the form with the page's CSRF token."""
    page = browser.get(page_url)
    assert page.status_code == 200, page.text
    return browser.post(
        target, data={"csrf_token": token_of(page.text), **fields}, follow_redirects=False
    )


def beside(page: str, field: str) -> str:
    """The error shown beside `field`, checking the control points at it and is invalid."""
    control = re.search(rf'<(?:input|select|textarea)[^>]*id="f-{field}"[^>]*>', page)
    assert control, f"no control for {field}"
    assert 'aria-invalid="true"' in control.group(0)
    assert f"f-{field}-error" in control.group(0)  # aria-describedby names the message
    message = re.search(rf'<p class="field-error" id="f-{field}-error">(.*?)</p>', page, re.S)
    assert message, f"no message beside {field}"
    return html.unescape(re.sub(r"<[^>]+>", "", message.group(1))).strip()


# -- register a device ----------------------------------------------------------------------------


def test_a_good_form_registers_the_device_and_opens_its_page(
    tools: World, engineer: TestClient
) -> None:
    sent = post_form(
        engineer, "/devices/new", "/devices/new",
        device_id="rst-form-good", dev_eui="70-B3-D5-7B-A0-00-0B-01", name="Bank Road (upper)",
        decoder="decentlab-dl-ds18", domain="road", route_id="matlock-bank",
        latitude="53.1412", longitude="-1.5521", public="on", owner="Highways",
        field_map="temperature=road_surface_temperature",
    )  # fmt: skip

    assert sent.status_code == 303
    assert sent.headers["location"] == "/devices/rst-form-good"
    device = tools.services.registry.device("rst-form-good")
    assert device is not None
    assert (device.dev_eui, device.route_id, device.public, device.latitude) == (
        "70b3d57ba0000b01", "matlock-bank", True, 53.1412,
    )  # fmt: skip
    assert dict(device.field_map) == {"temperature": "road_surface_temperature"}
    entry = tools.services.registry.audit_entries(entity_id="rst-form-good")[0]
    assert entry.actor.endswith("(engineer person)") and entry.origin == "edit"
    assert engineer.get(sent.headers["location"]).status_code == 200


def test_a_bad_deveui_is_explained_beside_the_field_and_nothing_is_created(
    tools: World, engineer: TestClient
) -> None:
    sent = post_form(
        engineer, "/devices/new", "/devices/new",
        device_id="rst-form-bad", dev_eui="70B3D57BA0000XYZ", decoder="decentlab-dl-ds18",
        domain="road", latitude="53,14", longitude="-1.55",
    )  # fmt: skip

    assert sent.status_code == 422
    assert "dev_eui" in beside(sent.text, "dev_eui") and "hex" in beside(sent.text, "dev_eui")
    assert "use &#39;.&#39; as the decimal separator" in sent.text
    assert "decimal separator" in beside(sent.text, "latitude")
    assert 'value="rst-form-bad"' in sent.text  # what was typed is kept
    assert '<a href="#f-dev_eui">' in sent.text  # the summary links to the field
    assert tools.services.registry.device("rst-form-bad") is None


def test_a_taken_deveui_names_the_device_that_has_it(tools: World, engineer: TestClient) -> None:
    first = post_form(
        engineer, "/devices/new", "/devices/new",
        device_id="rst-form-first", dev_eui="70b3d57ba0000c01", decoder="decentlab-dl-ds18",
        domain="road",
    )  # fmt: skip
    second = post_form(
        engineer, "/devices/new", "/devices/new",
        device_id="rst-form-second", dev_eui="70b3d57ba0000c01", decoder="decentlab-dl-ds18",
        domain="road",
    )  # fmt: skip

    assert first.status_code == 303
    assert second.status_code == 422
    assert "rst-form-first" in beside(second.text, "dev_eui")
    assert tools.services.registry.device("rst-form-second") is None


def test_a_post_without_the_form_token_changes_nothing(tools: World, engineer: TestClient) -> None:
    sent = engineer.post(
        "/devices/new",
        data={"device_id": "rst-forged", "dev_eui": "70b3d57ba0000d01",
              "decoder": "decentlab-dl-ds18", "domain": "road"},
    )  # fmt: skip
    from_elsewhere = engineer.post(
        "/devices/new",
        data={"csrf_token": token_of(engineer.get("/devices/new").text),
              "device_id": "rst-forged", "dev_eui": "70b3d57ba0000d01",
              "decoder": "decentlab-dl-ds18", "domain": "road"},
        headers={"Origin": "https://evil.example"},
    )  # fmt: skip

    assert sent.status_code == 403 and from_elsewhere.status_code == 403
    assert tools.services.registry.device("rst-forged") is None


def test_only_engineers_and_admins_use_the_tools(tools: World) -> None:
    for role in (Role.highways, Role.reader):
        assert tools.browsers[role].get("/devices/new").status_code == 403
        assert tools.browsers[role].get("/devices/import").status_code == 403
        assert tools.browsers[role].get("/tools/decoder").status_code == 403
    assert tools.browsers[Role.admin].get("/devices/new").status_code == 200
    redirected = tools.anonymous.get("/devices/import", follow_redirects=False)
    assert redirected.status_code == 303


# -- CSV import -----------------------------------------------------------------------------------

BAD_CSV = (
    "\n".join(
        [
            HEADER,
            "rst-csv-one,70b3d57ba0000e01,One,decentlab-dl-ds18,road,matlock-bank,,,false,Highways,",
            "rst-csv-two,70b3d57ba0000e0,Two,decentlab-dl-ds18,road,,,,false,Highways,",
            "rst-csv-three,70b3d57ba0000e03,Three,decentlab-dl-ds99,road,,,,false,Highways,",
            "aq-csv-four,70b3d57ba0000e04,Four,cayenne-lpp,air,,52.9,,true,School,",
        ]
    )
    + "\n"
)
FIXED_CSV = (
    BAD_CSV.replace("70b3d57ba0000e0,", "70b3d57ba0000e02,")
    .replace("decentlab-dl-ds99", "decentlab-dl-ds18")
    .replace(",52.9,,", ",52.9,-1.2,")
)


def test_a_dry_run_shows_every_row_and_an_import_with_bad_rows_is_refused(
    tools: World, engineer: TestClient
) -> None:
    checked = post_form(engineer, "/devices/import", "/devices/import",
                        action="check", csv_text=BAD_CSV)  # fmt: skip
    refused = post_form(engineer, "/devices/import", "/devices/import",
                        action="apply", csv_text=BAD_CSV)  # fmt: skip

    assert checked.status_code == 200
    rows = preview(checked.text)
    assert [(line, device, ok) for line, device, ok, _ in rows] == [
        ("2", "rst-csv-one", "OK"),
        ("3", "rst-csv-two", "Problem"),
        ("4", "rst-csv-three", "Problem"),
        ("5", "aq-csv-four", "Problem"),
    ]
    assert "registers it" in rows[0][3]
    assert "dev_eui" in rows[1][3] and "16" in rows[1][3]
    assert "decentlab-dl-ds99" in rows[2][3] and "did you mean" in rows[2][3]
    assert "latitude is given without longitude" in rows[3][3]
    assert "3 rows to fix before anything can be imported" in checked.text
    assert "Import these" not in checked.text
    assert refused.status_code == 422
    assert "Nothing was imported" in refused.text
    for device_id in ("rst-csv-one", "rst-csv-two", "rst-csv-three", "aq-csv-four"):
        assert tools.services.registry.device(device_id) is None


def test_the_fixed_file_checks_clean_and_applies(tools: World, engineer: TestClient) -> None:
    checked = post_form(engineer, "/devices/import", "/devices/import",
                        action="check", csv_text=FIXED_CSV)  # fmt: skip
    assert [ok for _, _, ok, _ in preview(checked.text)] == ["OK"] * 4
    assert "Import these 4 devices" in checked.text
    carried = re.search(r'<textarea name="csv_text" hidden[^>]*>\n?(.*?)</textarea>',
                        checked.text, re.S)  # fmt: skip
    assert carried and html.unescape(carried.group(1)) == FIXED_CSV

    applied = engineer.post(
        "/devices/import",
        data={"csrf_token": token_of(checked.text), "action": "apply",
              "csv_text": html.unescape(carried.group(1))},
    )  # fmt: skip

    assert applied.status_code == 200
    assert "Imported: 4 devices registered or changed" in applied.text
    four = tools.services.registry.device("aq-csv-four")
    assert four is not None and four.public and four.longitude == -1.2
    assert tools.services.registry.audit_entries(entity_id="rst-csv-two")[0].origin == "csv-import"


def test_an_uploaded_file_is_checked_like_a_pasted_one(tools: World, engineer: TestClient) -> None:
    page = engineer.get("/devices/import")
    checked = engineer.post(
        "/devices/import",
        data={"csrf_token": token_of(page.text), "action": "check", "csv_text": ""},
        files={"csv_file": ("devices.csv", ("\ufeff" + BAD_CSV).encode(), "text/csv")},
    )
    not_utf8 = engineer.post(
        "/devices/import",
        data={"csrf_token": token_of(page.text), "action": "check"},
        files={"csv_file": ("devices.csv", BAD_CSV.encode("utf-16"), "text/csv")},
    )

    assert checked.status_code == 200
    assert [line for line, _, _, _ in preview(checked.text)] == ["2", "3", "4", "5"]
    assert not_utf8.status_code == 422 and "is not UTF-8 text" in not_utf8.text


def preview(page: str) -> list[tuple[str, str, str, str]]:
    """(line, device id, OK or Problem, what) for every row of the preview table."""
    body = page[page.index('<table class="preview">') :]
    body = body[: body.index("</table>")]
    rows = []
    for row in re.findall(r"<tr class=\"row-[a-z]+\">(.*?)</tr>", body, re.S):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).replace("✓", "").replace("✗", "").strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        rows.append((cells[0], cells[1], cells[2], cells[3]))
    return rows


# -- register a sighting --------------------------------------------------------------------------


def test_a_sighting_opens_prefilled_and_registers_with_its_application(
    tools: World, engineer: TestClient
) -> None:
    tools.services.registry.record_sightings(
        [Sighting("ttn", "eui-70b3d57ba0000a99", "derbyshire-roads", "70B3D57BA0000A99",
                  NOW_NS, 1, bytes.fromhex(DS18_PAYLOAD))]
    )  # fmt: skip
    url = "/sightings/eui-70b3d57ba0000a99/register"

    form = engineer.get(url)

    assert form.status_code == 200
    assert 'name="dev_eui" value="70b3d57ba0000a99"' in form.text
    assert re.search(r'<option value="decentlab-dl-ds18" selected>', form.text)
    assert "derbyshire-roads" in form.text and DS18_PAYLOAD in form.text
    assert "Decoders that read its latest payload: decentlab-dl-ds18" in form.text

    sent = engineer.post(
        url,
        data={"csrf_token": token_of(form.text), "dev_eui": "70b3d57ba0000a99",
              "decoder": "decentlab-dl-ds18", "domain": "road", "route_id": "matlock-bank"},
        follow_redirects=False,
    )  # fmt: skip

    assert sent.status_code == 303 and sent.headers["location"] == "/devices/eui-70b3d57ba0000a99"
    device = tools.services.registry.device("eui-70b3d57ba0000a99")
    assert device is not None and device.application_id == "derbyshire-roads"
    entry = tools.services.registry.audit_entries(entity_id="eui-70b3d57ba0000a99")[0]
    assert entry.origin == "sighting"
    assert engineer.get(url).status_code == 404  # registered: no longer a sighting


def test_a_sighting_without_a_deveui_asks_for_one_beside_the_field(
    tools: World, engineer: TestClient
) -> None:
    tools.services.registry.record_sightings(
        [Sighting("chirpstack", "no-eui-here", None, None, NOW_NS, 1,
                  bytes.fromhex(DS18_PAYLOAD))]
    )  # fmt: skip

    sent = post_form(engineer, "/sightings/no-eui-here/register",
                     "/sightings/no-eui-here/register",
                     decoder="decentlab-dl-ds18", domain="road")  # fmt: skip

    assert sent.status_code == 422
    assert "dev_eui is missing" in beside(sent.text, "dev_eui")
    assert tools.services.registry.device("no-eui-here") is None


# -- decoder test ---------------------------------------------------------------------------------


def test_the_decoder_test_shows_a_vectors_readings_with_units(engineer: TestClient) -> None:
    vector = next(
        example
        for example in json.loads(VECTORS.read_text())["examples"]
        if example.get("description") == "air temperature and humidity, school sensor"
    )

    page = engineer.get(
        "/tools/decoder",
        params={"decoder": "cayenne-lpp", "hex": vector["bytes_hex"],
                "f_port": str(vector["f_port"]), "field_map": ""},
    )  # fmt: skip

    assert page.status_code == 200
    readings = page.text[page.text.index('<table class="readings">') :]
    readings = re.sub(r"\s+", " ", readings[: readings.index("</table>")])
    for vendor, value in vector["expected"]["data"].items():
        assert f"<code>{vendor}</code>" in readings
        assert f'<td class="value">{value}</td>' in readings
    assert "<code>air_temperature</code>" in readings and "<td>°C</td>" in readings
    assert "<code>relative_humidity</code>" in readings and "<td>%</td>" in readings


def test_the_decoder_test_says_precisely_what_is_wrong(engineer: TestClient) -> None:
    bad_hex = engineer.get("/tools/decoder", params={"decoder": "cayenne-lpp", "hex": "01 6g"})
    wrong_port = engineer.get(
        "/tools/decoder",
        params={"decoder": "decentlab-dl-ds18", "hex": DS18_PAYLOAD, "f_port": "300"},
    )
    bad_map = engineer.get(
        "/tools/decoder",
        params={"decoder": "cayenne-lpp", "hex": "0167011002680a", "field_map": "temperature_1"},
    )

    assert bad_hex.status_code == 422
    assert "contains 'g'" in beside(bad_hex.text, "hex")
    assert wrong_port.status_code == 422 and "255" in beside(wrong_port.text, "f_port")
    assert bad_map.status_code == 422
    assert "is not vendor_field=quantity" in beside(bad_map.text, "field_map")


def test_every_tool_page_is_wired_for_assistive_technology(
    tools: World, engineer: TestClient
) -> None:
    tools.services.registry.record_sightings(
        [Sighting("ttn", "wired-sighting", "roads", None, NOW_NS, 1, bytes.fromhex(DS18_PAYLOAD))]
    )
    pages = [
        engineer.get("/devices/new").text,
        post_form(engineer, "/devices/new", "/devices/new", device_id="X", dev_eui="zz",
                  latitude="north", field_map="nonsense").text,
        engineer.get("/devices/import").text,
        post_form(engineer, "/devices/import", "/devices/import", action="check",
                  csv_text=BAD_CSV).text,
        post_form(engineer, "/devices/import", "/devices/import", action="check",
                  csv_text=FIXED_CSV.replace("rst-csv", "rst-wired").replace("e0", "f0")).text,
        engineer.get("/sightings/wired-sighting/register").text,
        post_form(engineer, "/sightings/wired-sighting/register",
                  "/sightings/wired-sighting/register", decoder="nope").text,
        engineer.get("/tools/decoder").text,
        engineer.get("/tools/decoder",
                     params={"decoder": "cayenne-lpp", "hex": "0167011002680a"}).text,
        engineer.get("/tools/decoder", params={"decoder": "", "hex": "zz", "f_port": "x"}).text,
    ]  # fmt: skip

    for page in pages:
        assert_well_wired(page)
