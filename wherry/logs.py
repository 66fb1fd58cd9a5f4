"""Where wherry's log lines go and what they look like (`WHERRY_LOG_FORMAT=text|json`).

`json` writes one object per line — `time` (ISO 8601, UTC), `level`, `logger`, `message`,
the fields a call passed with `extra=`, and `exception` — so journald, Loki or
Elasticsearch can index them without a parser. Either way a last filter hides passwords
and tokens in URLs a message may carry: code is meant to log `redact_url(...)`, and this
catches the line someone forgot.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
NOISY_LOGGERS = ("httpx", "httpcore", "amqtt", "transitions", "alembic")

# user:password@ in any scheme://…, and secret-looking query options.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*):[^\s@/]+@")
_SECRET_OPTION = re.compile(
    r"(?P<head>[?&](?:token|password|p|api_key|key|secret)=)[^&\s#'\"]+", re.IGNORECASE
)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


def hide_secrets(text: str) -> str:
    """`text` with URL passwords and token-like query options replaced by `***`."""
    if "://" not in text and "=" not in text:
        return text
    text = _URL_PASSWORD.sub(r"\g<head>:***@", text)
    return _SECRET_OPTION.sub(r"\g<head>***", text)


class SecretFilter(logging.Filter):
    """Renders each record's message once, with secrets hidden (arguments included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the formatter report it as usual
            return True
        hidden = hide_secrets(message)
        if hidden != message or record.args:
            record.msg, record.args = hidden, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = hide_secrets(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = hide_secrets(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=_jsonable)


def _jsonable(value: object) -> str:
    return hide_secrets(str(value))


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr at `level` in `log_format` (text or json), secrets hidden."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(SecretFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
