"""WHERRY_LOG_FORMAT: one JSON object per line with the record's own fields, secrets hidden."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from wherry.logs import configure_logging, hide_secrets


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("influxdb://wherry:s3cr3t@db:8086/w", "influxdb://wherry:***@db:8086/w"),
        ("mqtts://app%40ttn:NNSXS.ABC.DEF@eu1:8883", "mqtts://app%40ttn:***@eu1:8883"),
        ("postgresql+psycopg://u:p%40ss@h/db", "postgresql+psycopg://u:***@h/db"),
        ("influxdb://h:8086/w?token=abc+/=&gzip=false", "influxdb://h:8086/w?token=***&gzip=false"),
        ("smtp://h:587/?password=x&from=a", "smtp://h:587/?password=***&from=a"),
        # An '@' after host:port looks like user:password@: when in doubt, more is hidden.
        ("smtp://h:587?from=a@b", "smtp://h:***@b"),
        ("no url here: a=b", "no url here: a=b"),
        ("http://127.0.0.1:8086 and 12:30", "http://127.0.0.1:8086 and 12:30"),
    ],
)
def test_secrets_in_urls_are_hidden(text: str, shown: str) -> None:
    assert hide_secrets(text) == shown


def test_json_lines_carry_time_level_logger_message_and_extra_fields(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json")
    log = logging.getLogger("wherry.test")

    log.info(
        "store at %s",
        "influxdb://u:hunter2@db/w",
        extra={"device_id": "rst-01", "n": 3, "url": "mqtt://u:hunter2@broker"},
    )
    log.debug("not at INFO")
    try:
        raise ValueError("bad thing with mqtt://u:hunter2@broker")
    except ValueError:
        log.exception("it failed")

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["time"].endswith("Z") and first["time"][10] == "T"
    assert (first["level"], first["logger"]) == ("INFO", "wherry.test")
    assert first["message"] == "store at influxdb://u:***@db/w"
    assert (first["device_id"], first["n"]) == ("rst-01", 3)
    assert first["url"] == "mqtt://u:***@broker"
    assert second["level"] == "ERROR" and "ValueError" in second["exception"]
    assert "hunter2" not in "\n".join(lines)


def test_text_stays_the_default_and_hides_secrets_too(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO")
    logging.getLogger("wherry").warning("cannot reach %s", "mqtt://u:hunter2@broker:1883")

    err = capsys.readouterr().err
    assert err.rstrip().endswith("WARNING wherry: cannot reach mqtt://u:***@broker:1883")
    assert not err.startswith("{")
