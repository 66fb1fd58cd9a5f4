"""`WHERRY_STORE_URL`: what each form means, what a mistake says, and what logs may show."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import (
    InfluxSpec,
    InfluxStore,
    SQLiteSpec,
    SQLiteStore,
    open_store,
    parse_store_url,
    redact_url,
)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///readings.db", "readings.db"),
        ("sqlite:///data/readings.db", "data/readings.db"),
        ("sqlite:////var/lib/wherry/readings.db", "/var/lib/wherry/readings.db"),
        ("sqlite:///my%20data/r.db", "my data/r.db"),
        ("SQLITE:///r.db", "r.db"),
    ],
)
def test_sqlite_urls_follow_the_sqlalchemy_convention(url: str, path: str) -> None:
    assert parse_store_url(url) == SQLiteSpec(path=path)


def test_sqlite_options() -> None:
    spec = parse_store_url("sqlite:///r.db?synchronous=NORMAL&timeout=0.5")

    assert spec == SQLiteSpec(path="r.db", synchronous="normal", timeout=0.5)


def test_influx_url_with_basic_auth_and_options() -> None:
    spec = parse_store_url(
        "influxdb://wherry:p%40ss%3Aword@influx.example:8087/readings"
        "?gzip=false&create_database=no&timeout=3&max_batch_points=1000&rp=autogen"
    )

    assert spec == InfluxSpec(
        base_url="http://influx.example:8087",
        database="readings",
        username="wherry",
        password="p@ss:word",
        rp="autogen",
        gzip=False,
        create_database=False,
        timeout=3.0,
        max_batch_points=1000,
    )


def test_influxdbs_is_https_on_port_8086_by_default_with_token_and_ca_file() -> None:
    spec = parse_store_url(
        "influxdbs://influx.example/readings?token=abc+def/==&ca_file=/etc/ca.pem"
    )

    assert spec == InfluxSpec(
        base_url="https://influx.example:8086",
        database="readings",
        token="abc+def/==",  # a plus stays a plus: tokens are base64
        ca_file="/etc/ca.pem",
    )


def test_influx_url_behind_a_path_prefix_and_ipv6() -> None:
    spec = parse_store_url("influxdb://[::1]:9999/influx/v1/readings/")

    assert isinstance(spec, InfluxSpec)
    assert (spec.base_url, spec.database) == ("http://[::1]:9999/influx/v1", "readings")


def test_keyword_options_override_the_url() -> None:
    spec = parse_store_url("influxdb://h/db?gzip=true&timeout=3", gzip=False, timeout=7)

    assert isinstance(spec, InfluxSpec)
    assert (spec.gzip, spec.timeout) == (False, 7.0)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("readings.db", "is not a URL"),
        ("postgresql://h/db", "scheme 'postgresql' is not supported"),
        ("sqlite://", "names no database file"),
        ("sqlite:///data/", "names no database file"),
        ("sqlite://host/r.db", "has no host"),
        ("influxdb://h", "names no database"),
        ("influxdb:///db", "names no host"),
        ("influxdb://h:port/db", "invalid port"),
        ("influxdb://h/db?gzip=maybe", "gzip='maybe': expected true or false"),
        ("influxdb://h/db?timeout=0", "positive number of seconds"),
        ("influxdb://h/db?timeout=soon", "number of seconds"),
        ("influxdb://h/db?max_batch_points=0", "at least 1"),
        ("influxdb://h/db?batch=10", "unknown option batch; known:"),
        ("influxdb://h/db?gzip=true&gzip=false", "given twice"),
        ("influxdb://h/db?token=", "token is empty"),
        ("influxdb://u:p@h/db?token=t", "not both"),
        ("sqlite:///r.db?synchronous=off", "expected one of normal, full"),
        ("sqlite:///r.db?gzip=true", "unknown option gzip"),
    ],
)
def test_a_bad_url_says_what_is_expected(url: str, says: str) -> None:
    with pytest.raises(ValueError) as bad:
        parse_store_url(url)

    assert says in str(bad.value)


def test_a_bad_url_never_shows_its_secrets() -> None:
    with pytest.raises(ValueError) as bad:
        parse_store_url("influxdb://wherry:hunter2@h/db?token=s3cret&oops=1")

    assert "hunter2" not in str(bad.value) and "s3cret" not in str(bad.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("influxdb://wherry:hunter2@h:8086/db", "influxdb://wherry:***@h:8086/db"),
        ("influxdbs://h/db?gzip=false&token=s3cret", "influxdbs://h/db?gzip=false&token=***"),
        ("influxdb://me@example.org:hunter2@h/db", "influxdb://me@example.org:***@h/db"),
        ("influxdb://u:hun/ter?2@h/db", "influxdb://u:***@h/db"),
        ("influxdb://u@h/db", "influxdb://u@h/db"),
        ("sqlite:////var/lib/wherry/r.db", "sqlite:////var/lib/wherry/r.db"),
        ("not a url?Token=x", "not a url?Token=***"),
    ],
)
def test_redact_url_hides_passwords_and_tokens(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_open_store_makes_the_sqlite_file_and_its_folders(tmp_path: Path) -> None:
    target = tmp_path / "data" / "deep" / "readings.db"

    store = open_store(f"sqlite:///{target}")

    assert isinstance(store, SQLiteStore)
    assert target.exists()
    store.close()


def test_open_store_does_not_need_influxdb_to_be_up() -> None:
    store = open_store("influxdb://127.0.0.1:9/wherry?token=abc&timeout=0.5")

    assert isinstance(store, InfluxStore)
    assert store.ping() is False
    store.close()
