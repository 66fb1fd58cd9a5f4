"""The `wherry` command as a user types it (a real subprocess each time)."""

from __future__ import annotations

import json
from pathlib import Path

from storage.registry import Registry
from tests.wherry_process import wherry

ROUTES = "route_id,name,length_km,priority,area\nhill,Castle Hill,4.2,1,north\n"
HEADER = (
    "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,field_map\n"
)


def env_for(tmp_path: Path) -> dict[str, str]:
    return {"WHERRY_DATA_DIR": str(tmp_path / "data")}


def test_decode_prints_normalised_readings_with_units() -> None:
    result = wherry("decode", "--decoder", "cayenne-lpp", "--port", "1", "0167011002680a", env={})
    assert result.returncode == 0, result.stderr
    readings = {r["quantity"]: r for r in json.loads(result.stdout)["readings"]}
    assert readings["air_temperature"]["value"] == 27.2
    assert readings["air_temperature"]["unit"] == "°C"
    assert readings["relative_humidity"]["value"] == 5.0
    assert readings["relative_humidity"]["unit"] == "%"


def test_decode_refuses_bad_input_with_status_2() -> None:
    truncated = wherry("decode", "--decoder", "cayenne-lpp", "--port", "1", "016701", env={})
    assert truncated.returncode == 2
    assert "truncated" in json.loads(truncated.stderr)["error"]
    unknown = wherry("decode", "--decoder", "acme-9000", "--port", "1", "00", env={})
    assert unknown.returncode == 2 and "wherry decoders" in unknown.stderr
    not_hex = wherry("decode", "--decoder", "cayenne-lpp", "--port", "1", "zz", env={})
    assert not_hex.returncode == 2 and "not hex" in not_hex.stderr


def test_decoders_lists_every_decoder() -> None:
    result = wherry("decoders", "--json", env={})
    ids = {d["id"] for d in json.loads(result.stdout)}
    assert {"cayenne-lpp", "decentlab-dl-ds18", "ttn"} <= ids


def test_device_import_dry_run_reports_every_bad_row_and_changes_nothing(tmp_path: Path) -> None:
    routes = tmp_path / "routes.csv"
    routes.write_text(ROUTES)
    assert wherry("routes", "import", str(routes), env=env_for(tmp_path)).returncode == 0
    devices = tmp_path / "devices.csv"
    devices.write_text(
        HEADER
        + "rst-01,70b3d57ed0000001,Hill 1,decentlab-dl-ds18,road,hill,52.6,1.2,false,council,\n"
        + "RST 02,70b3d57ed0000002,Bad id,decentlab-dl-ds18,road,hill,,,false,council,\n"
        + "rst-03,70b3d57ed00000,Short EUI,decentlab-dl-ds18,road,hill,,,false,council,\n"
        + "rst-04,70b3d57ed0000004,Lux as CO2,cayenne-lpp,air,,,,true,school,"
        + "luminosity_3=co2\n"
    )
    dry = wherry("devices", "import", "--dry-run", str(devices), env=env_for(tmp_path))
    assert dry.returncode == 1
    assert "line 3 (RST 02)" in dry.stdout
    assert "line 4 (rst-03)" in dry.stdout
    assert "line 5 (rst-04): field_map" in dry.stdout
    assert "line 2" not in dry.stdout
    with Registry(f"sqlite:///{tmp_path / 'data' / 'registry.db'}") as registry:
        registry.migrate()
        assert registry.devices() == []

    devices.write_text(
        HEADER + "rst-01,70b3d57ed0000001,Hill 1,decentlab-dl-ds18,road,hill,52.6,1.2,false,x,\n"
    )
    assert (
        "all 1 device row(s) are valid"
        in wherry("devices", "import", "--dry-run", str(devices), env=env_for(tmp_path)).stdout
    )
    applied = wherry("devices", "import", str(devices), env=env_for(tmp_path))
    assert applied.returncode == 0 and "registered or updated 1 device(s)" in applied.stdout


def test_a_bad_setting_stops_the_command_with_its_name(tmp_path: Path) -> None:
    result = wherry("run", env={"WHERRY_MQTT_URL": "http://broker"})
    assert result.returncode == 2
    assert "WHERRY_MQTT_URL: expected mqtt://" in result.stderr


def test_the_demo_shows_readings_flowing_and_stops_cleanly(tmp_path: Path) -> None:
    result = wherry(
        "demo",
        "--data-dir",
        str(tmp_path / "demo"),
        "--duration",
        "8",
        "--no-web",
        env={},
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "registered or updated 10 device(s)" in result.stdout
    assert "road surface °C" in result.stdout
    stored = int(result.stdout.split("stopped. ")[1].split(" uplinks stored")[0])
    assert stored >= 40  # about ten a second at 600×
    assert "dead letter" not in result.stderr
    with Registry(f"sqlite:///{tmp_path / 'demo' / 'registry.db'}") as registry:
        assert registry.dead_letter_counts() == {}
