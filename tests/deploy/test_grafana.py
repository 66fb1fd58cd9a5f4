"""Grafana provisioning: the data source reads its secrets from the environment, and every
dashboard query uses only measurements, fields and tags that docs/data-model.md documents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.dashboards import (
    DASHBOARDS,
    DATASOURCE_UID,
    dashboard_files,
    load,
    panels,
    queries,
    variables,
)
from tests.deploy.data_model import Measurement, measurements
from tests.deploy.influxql import parse
from tests.deploy.paths import DEPLOY, DOCS, load_yaml

PROVISIONING = DEPLOY / "grafana" / "provisioning"
MODEL = measurements(DOCS / "data-model.md")
EXPECTED = {"gritting-board.json", "sensor-explorer.json", "link-quality-battery.json"}


def test_the_data_source_is_influxql_with_credentials_from_the_environment() -> None:
    document = load_yaml(PROVISIONING / "datasources" / "wherry.yaml")
    (source,) = document["datasources"]
    assert source["type"] == "influxdb" and source["uid"] == DATASOURCE_UID
    assert source["jsonData"]["version"] == "InfluxQL"
    secrets = [source["url"], source["user"], source["jsonData"]["dbName"]]
    secrets += list(source["secureJsonData"].values())
    for value in secrets:
        assert re.fullmatch(r"\$\{[A-Z_]+\}", value), f"{value!r} is not an ${{ENV_VAR}}"
    assert "password" not in source and "basicAuthPassword" not in source


def test_dashboards_are_provisioned_from_the_folder_compose_mounts() -> None:
    document = load_yaml(PROVISIONING / "dashboards" / "wherry.yaml")
    (provider,) = document["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    compose = load_yaml(DEPLOY / "compose.yaml")
    assert (
        "./grafana/dashboards:/var/lib/grafana/dashboards:ro"
        in (compose["services"]["grafana"]["volumes"])
    )
    assert {path.name for path in dashboard_files()} == EXPECTED


def test_the_data_model_parser_reads_the_documented_tables() -> None:
    # The checks below are only as good as this parse: pin what the doc's tables say.
    assert {"reading", "flagged", "uplink"} <= set(MODEL)
    assert {"device_id", "route", "domain"} <= MODEL["reading"].tags
    assert {"road_surface_temperature", "dew_point", "battery_voltage"} <= MODEL["reading"].fields
    assert {"rssi", "snr", "gateways", "spreading_factor", "f_cnt"} <= MODEL["uplink"].fields
    assert "gateway" in MODEL["uplink"].tags and "rssi" not in MODEL["uplink"].tags


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_every_query_uses_documented_measurements_fields_and_tags(path: Path) -> None:
    dashboard = load(path)
    field_variables = {
        str(v["name"]): parse(str(v["query"])).measurement
        for v in variables(dashboard)
        if v.get("type") == "query" and parse(str(v["query"])).field_keys
    }
    found = queries(path)
    assert found, f"{path.name} has no queries"
    for query in found:
        use = parse(query.text)
        where = f"{query.dashboard} {query.where}"
        assert use.measurement in MODEL, f"{where}: no measurement {use.measurement!r}"
        model: Measurement = MODEL[use.measurement]
        for name in use.fields:
            if name.startswith("$"):
                assert field_variables.get(name[1:]) == use.measurement, (
                    f"{where}: {name} is not a SHOW FIELD KEYS FROM {use.measurement!r} variable"
                )
            else:
                assert name in model.fields, f"{where}: {use.measurement} has no field {name!r}"
        for name in use.tags:
            assert name in model.tags, f"{where}: {use.measurement} has no tag {name!r}"
        for name in use.columns:
            assert name in model.fields | model.tags, f"{where}: no column {name!r}"


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_every_panel_and_variable_uses_the_provisioned_data_source(path: Path) -> None:
    dashboard = load(path)
    assert dashboard["uid"].startswith("wherry-") and "wherry" in dashboard["tags"]
    for item in [*panels(dashboard), *variables(dashboard)]:
        assert item["datasource"]["uid"] == DATASOURCE_UID, item.get("title", item.get("name"))
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            assert target.get("rawQuery") is True, f"{panel['title']}: not a raw InfluxQL query"


def test_the_gritting_board_marks_0_and_plus_1_degrees_with_dew_point_beside() -> None:
    dashboard = load(DASHBOARDS / "gritting-board.json")
    temperature_panels = [
        panel
        for panel in panels(dashboard)
        if any('"road_surface_temperature"' in t["query"] for t in panel.get("targets", []))
        and panel["type"] == "timeseries"
    ]
    assert temperature_panels
    for panel in temperature_panels:
        defaults = panel["fieldConfig"]["defaults"]
        steps = [step["value"] for step in defaults["thresholds"]["steps"]]
        assert 0 in steps and 1 in steps, panel["title"]
        assert defaults["custom"]["thresholdsStyle"]["mode"] != "off"
        assert defaults["unit"] == "celsius"
    texts = [query.text for query in queries(DASHBOARDS / "gritting-board.json")]
    assert any('"dew_point"' in text for text in texts)
    assert any('GROUP BY time($__interval), "route", "device_id"' in text for text in texts)


def test_link_quality_reads_the_uplink_measurement_and_battery_the_readings() -> None:
    texts = [q.text for q in queries(DASHBOARDS / "link-quality-battery.json")]
    for name in ("rssi", "snr", "gateways", "spreading_factor"):
        assert any(f'("{name}") FROM "uplink"' in text for text in texts), name
    assert any('("battery_voltage") FROM "reading"' in text for text in texts)


def test_the_sensor_explorer_is_templated_on_device_and_quantity() -> None:
    dashboard = load(DASHBOARDS / "sensor-explorer.json")
    names = {v["name"] for v in variables(dashboard)}
    assert {"device_id", "quantity"} <= names
    assert any(panel.get("repeat") == "quantity" for panel in panels(dashboard))
