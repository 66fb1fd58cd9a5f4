"""An engineer uploads a devices CSV with mistakes in it: the check shows each bad row's
line number and what is wrong, says the good rows are fine, and changes nothing."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import expect

from api.roles import Role
from tests.e2e.conftest import OpenPage, Site

HEADER = "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,field_map"
CSV = "\n".join(
    [
        HEADER,
        "rst-jackson-road,70B3D57BA0000A21,Jackson Road,decentlab-dl-ds18,road,matlock-bank,"
        "53.142,-1.552,false,Highways,",
        "rst-wellington-st,70B3D57BA00ZZ,Wellington Street,decentlab-dl-ds18,road,matlock-bank,"
        "53.143,-1.551,false,Highways,",
        "aq-highfields,A840410001817B09,Highfields School,no-such-decoder,air,,"
        "53.146,-1.548,true,Highfields School,",
        "rst-starkholmes,70B3D57BA0000A22,Starkholmes Road,decentlab-dl-ds18,road,no-such-route,"
        "53.128,-1.547,false,Highways,",
    ]
)
BAD = {3: "rst-wellington-st", 4: "aq-highfields", 5: "rst-starkholmes"}


def test_a_csv_dry_run_shows_the_bad_rows(open_page: OpenPage, site: Site, tmp_path: Path) -> None:
    upload = tmp_path / "new-sensors.csv"
    upload.write_text(CSV + "\n")
    page = open_page("/devices/import", Role.engineer)
    page.get_by_label("Upload a file").set_input_files(upload)
    page.get_by_role("button", name="Check the file (changes nothing)").click()

    expect(page.get_by_role("alert")).to_contain_text("3 rows to fix")
    expect(page.get_by_role("alert")).to_contain_text("1 row is fine")
    table = page.get_by_role("table")
    for line, device_id in BAD.items():
        row = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name=str(line)))
        expect(row).to_contain_text(device_id)
        expect(row).to_contain_text("Problem")
    reasons = {
        line: table.get_by_role("row")
        .filter(has=page.get_by_role("rowheader", name=str(line)))
        .locator("td")
        .last.inner_text()
        for line in BAD
    }
    assert "eui" in reasons[3].lower(), reasons
    assert "decoder" in reasons[4].lower(), reasons
    assert "route" in reasons[5].lower(), reasons
    good = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name="2"))
    expect(good).to_contain_text("OK")
    expect(page.get_by_role("button", name="Import these")).to_have_count(0)

    for device_id in ["rst-jackson-road", *BAD.values()]:  # a dry run changes nothing
        response = httpx.get(
            f"{site.url}/api/v1/devices/{device_id}",
            headers={"X-API-Key": site.tokens[Role.engineer]},
        )
        assert response.status_code == 404, device_id
