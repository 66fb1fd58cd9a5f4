"""Settings: environment over file over defaults, and errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from wherry.settings import Settings, SettingsError, load_settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("WHERRY_"):
            monkeypatch.delenv(name)


def test_defaults_need_no_server() -> None:
    settings = load_settings()
    assert settings.mqtt_url is None
    assert settings.effective_store_url == "sqlite:///wherry-data/readings.db"
    assert settings.effective_registry_url == "sqlite:///wherry-data/registry.db"


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "wherry.toml"
    config.write_text('api_port = 9000\nmqtt_topics = "a/+/up"\nbatch_size = 100\n')
    monkeypatch.setenv("WHERRY_API_PORT", "9001")
    settings = load_settings(config)
    assert settings.api_port == 9001
    assert settings.mqtt_topics == ("a/+/up",)
    assert settings.batch_size == 100


def test_topics_are_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHERRY_MQTT_TOPICS", "v3/a@ttn/devices/+/up, v3/b@ttn/devices/+/up")
    assert load_settings().mqtt_topics == ("v3/a@ttn/devices/+/up", "v3/b@ttn/devices/+/up")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("WHERRY_API_PORT", "eighty", "WHERRY_API_PORT: Input should be a valid integer"),
        (
            "WHERRY_API_PORT",
            "70000",
            "WHERRY_API_PORT: Input should be less than or equal to 65535",
        ),
        ("WHERRY_MQTT_URL", "http://broker", "WHERRY_MQTT_URL: expected mqtt://"),
        ("WHERRY_STORE_URL", "mysql://db", "WHERRY_STORE_URL: expected sqlite:///path.db"),
        ("WHERRY_REGISTRY_URL", "oracle://x", "WHERRY_REGISTRY_URL: expected sqlite:///"),
        ("WHERRY_MQTT_QOS", "3", "WHERRY_MQTT_QOS: Input should be less than or equal to 2"),
        ("WHERRY_MQTT_TOPICS", " , ", "WHERRY_MQTT_TOPICS: give at least one topic filter"),
    ],
)
def test_bad_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert expected in str(raised.value)


def test_secrets_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHERRY_MQTT_URL", "http://user:hunter2@broker")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "hunter2" not in str(raised.value)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    config = tmp_path / "wherry.toml"
    config.write_text("mqtt_ulr = 'mqtt://x'\n")
    with pytest.raises(SettingsError, match=r"mqtt_ulr in .*wherry.toml\): unknown setting"):
        load_settings(config)


def test_unreadable_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read it"):
        load_settings(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("api_port = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(broken)


def test_client_certificate_needs_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHERRY_MQTT_CERT_FILE", "/etc/wherry/client.pem")
    with pytest.raises(SettingsError, match="mqtt_cert_file and mqtt_key_file go together"):
        load_settings()


def test_every_setting_is_documented() -> None:
    table = DOCS.read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        row = next(
            (line for line in table.splitlines() if f"`WHERRY_{name.upper()}`" in line), None
        )
        assert row is not None, f"WHERRY_{name.upper()} is missing from docs/configuration.md"
        assert field.description is not None and field.description in row, name


def test_the_example_config_file_loads() -> None:
    example = DOCS.parents[1] / "deploy" / "wherry.toml.example"
    assert load_settings(example).mqtt_topics == ("v3/my-app@ttn/devices/+/up",)
