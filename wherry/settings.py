"""wherry's settings: `WHERRY_*` environment variables over an optional TOML file over defaults.

Every field here is documented in docs/configuration.md (a test keeps the two in step).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from storage import parse_store_url

ENV_PREFIX = "WHERRY_"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
DEFAULT_TOPICS = ("v3/+/devices/+/up",)


class SettingsError(ValueError):
    """A setting wherry cannot use; the message names the setting and what is expected."""


def _secret_of_at_least(
    length: int, value: SecretStr | None, *, hex_bytes: int
) -> SecretStr | None:
    """An empty secret is none at all; a short one is refused with how to make a good one."""
    if value is None or value.get_secret_value() == "":
        return None
    if len(value.get_secret_value()) < length:
        raise ValueError(
            f"use at least {length} characters (e.g. from `openssl rand -hex {hex_bytes}`)"
        )
    return value


class Settings(BaseSettings):
    """Everything `wherry run` needs to know; nothing else reads the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data_dir: Path = Field(
        default=Path("wherry-data"),
        description="Folder for the embedded SQLite readings store and registry, and the spool.",
    )
    mqtt_url: str | None = Field(
        default=None,
        description="Broker to subscribe to: mqtt://user:pass@host:port or mqtts://… (TLS). "
        "Unset: the bridge does not subscribe.",
    )
    mqtt_topics: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_TOPICS,
        description="Comma-separated topic filters. TTN: v3/{app}@{tenant}/devices/+/up; "
        "ChirpStack v4: application/+/device/+/event/up.",
    )
    mqtt_qos: int | None = Field(
        default=None,
        ge=0,
        le=2,
        description="Subscription QoS. Unset: 0 for TTN (its broker offers no more), 1 with a "
        "persistent session for an own broker.",
    )
    mqtt_client_id: str | None = Field(
        default=None,
        description="MQTT client id; stable by default so a persistent session resumes "
        "(with a $share/… topic the default also depends on data_dir: one per worker).",
    )
    mqtt_protocol: Literal["3.1.1", "5"] = Field(default="3.1.1", description="MQTT version.")
    mqtt_ca_file: Path | None = Field(
        default=None, description="CA bundle for mqtts://; unset: the system's CAs."
    )
    mqtt_cert_file: Path | None = Field(default=None, description="Client certificate (PEM).")
    mqtt_key_file: Path | None = Field(default=None, description="Client certificate key (PEM).")
    mqtt_tls_insecure: bool = Field(
        default=False, description="Skip TLS certificate verification (testing only)."
    )
    store_url: str | None = Field(
        default=None,
        description="Readings store: sqlite:///path.db or influxdb://user:pass@host:port/db "
        "(influxdbs:// for TLS, ?token=… for InfluxDB 2.x/3.x). Unset: SQLite in data_dir.",
    )
    registry_url: str | None = Field(
        default=None,
        description="Registry database as an SQLAlchemy URL (sqlite:///… or "
        "postgresql+psycopg://…). Unset: SQLite in data_dir.",
    )
    api_host: str = Field(
        default="127.0.0.1", description="Address the HTTP API listens on (0.0.0.0: all)."
    )
    api_port: int = Field(default=8080, ge=1, le=65535, description="Port of the HTTP API.")
    serve_api: bool = Field(
        default=True,
        description="`wherry run` also serves the HTTP API; false runs the bridge alone "
        "(for extra bridge workers).",
    )
    rate_limit_per_minute: float = Field(
        default=120.0,
        gt=0,
        description="Requests a minute each client address may make without an API key.",
    )
    rate_limit_burst: int = Field(
        default=60, ge=1, description="Requests without a key allowed at once before the limit."
    )
    batch_size: int = Field(
        default=5000, ge=1, le=100_000, description="Points per store write, at most."
    )
    flush_interval: float = Field(
        default=1.0, gt=0, le=60, description="Seconds a point may wait for its batch to fill."
    )
    buffer_points: int = Field(
        default=50_000,
        ge=1000,
        description="Points held in memory while the store is slow; beyond it the bridge "
        "stops reading (the broker holds messages).",
    )
    spool_quota_mb: float = Field(
        default=1024.0,
        gt=0,
        description="Disk space (MiB) for points spooled in data_dir/spool while the store is "
        "away: a warning at 80 %; when full the bridge stops acknowledging (an own broker keeps "
        "the messages).",
    )
    max_message_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="Larger MQTT messages are dead-lettered as oversize.",
    )
    accept_simulated: bool = Field(
        default=False,
        description="Store uplinks that TTN marks simulated (sent from the console).",
    )
    # -- backfill and webhooks (docs/ingest.md) --------------------------------------------
    ttn_storage_url: str | None = Field(
        default=None,
        description="The Things Stack to backfill missed uplinks from (Storage Integration), "
        "e.g. https://eu1.cloud.thethings.network. Unset: no backfill.",
    )
    ttn_api_key: SecretStr | None = Field(
        default=None,
        description="API key allowed to read the applications' traffic, for the backfill.",
    )
    ttn_applications: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated application ids to backfill. Unset: those named in "
        "mqtt_topics (v3/{app}@{tenant}/…).",
    )
    ttn_ca_file: Path | None = Field(
        default=None, description="CA bundle for ttn_storage_url; unset: the system's CAs."
    )
    backfill_max_age_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 90,
        description="How far back a backfill reaches at most (TTN keeps 24 h on the Sandbox, "
        "30 days on Cloud).",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Shared secret webhooks send in the X-Wherry-Webhook-Secret header (at "
        "least 16 characters). Unset: POST /ingest/… answers 404.",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Signs the web pages' sign-in cookies (at least 32 characters). Unset: a "
        "random secret kept in data_dir/session.key. API replicas behind one address must "
        "share it.",
    )
    webhook_max_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Larger webhook bodies are answered 413 and dead-lettered (cut).",
    )
    # -- alerts (docs/alerts.md) -------------------------------------------------------------
    alerts: bool = Field(
        default=True,
        description="Run the alert engine (gritting decisions, device, air and water rules) "
        "where uplinks arrive.",
    )
    policy_file: Path | None = Field(
        default=None,
        description="TOML file with the default gritting policy ([gritting] table); routes' "
        "own overrides apply over it. Unset: the defaults of docs/alerts.md.",
    )
    rules_file: Path | None = Field(
        default=None,
        description="TOML file with device-health, air and water rule settings "
        "(docs/alerts-rules.md). Unset: the defaults.",
    )
    smtp_url: SecretStr | None = Field(
        default=None,
        description="SMTP server for e-mail alerts: smtp://user:pass@host:587?from=… "
        "(STARTTLS required unless starttls=false). Unset: no e-mail.",
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="Seconds an alert webhook may take to answer."
    )
    webhook_connect_timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="Seconds to connect to an alert webhook."
    )
    webhook_ca_file: Path | None = Field(
        default=None,
        description="CA bundle trusted for alert webhooks (a council's own CA); unset: the "
        "system's CAs. Certificates are always verified.",
    )
    notify_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Tries per alert notification (webhook or e-mail) before it becomes a "
        "dead letter.",
    )
    notify_backoff_s: float = Field(
        default=1.0, gt=0, le=600, description="Wait before the first retry; doubles each try."
    )
    notify_backoff_max_s: float = Field(
        default=60.0, gt=0, le=3600, description="Longest wait between notification retries."
    )
    notify_retry_after_max_s: float = Field(
        default=120.0,
        ge=0,
        le=3600,
        description="Longest Retry-After from a receiver that wherry honours.",
    )
    alert_warmup_hours: float = Field(
        default=3.0,
        ge=0,
        le=48,
        description="Hours of stored readings replayed into the alert engine at start, so "
        "trends survive a restart.",
    )
    alert_evaluation: Literal["inline", "store"] = Field(
        default="inline",
        description="Where the alert engine takes readings from: inline, the uplinks this "
        "process ingests (one ingesting process, lowest latency); store, every new reading in "
        "the readings store, polled (several bridge workers or webhook replicas).",
    )
    alert_lease_s: float = Field(
        default=30.0,
        ge=1,
        le=600,
        description="Seconds the alert lease lasts: of processes sharing a registry only its "
        "holder evaluates alerts and notifies; it renews every third of this, and a standby "
        "takes over at most this plus a third after the holder dies.",
    )
    alert_follow_interval_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="With alert_evaluation=store: seconds between looks at the readings store.",
    )
    alert_follow_lookback_s: float = Field(
        default=600.0,
        ge=0,
        le=86400,
        description="With alert_evaluation=store: how far before the newest reading each look "
        "goes back, for readings written late (their own time is older).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Logging level."
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text: one readable line per event; json: one JSON object per line (time, "
        "level, logger, message and the event's fields) for journald, Loki or Elasticsearch.",
    )
    # -- retention (docs/operations.md) -------------------------------------------------------
    raw_retention_days: int = Field(
        default=730,
        ge=0,
        le=36_500,
        description="Days InfluxDB 1.x keeps raw readings (0: for ever); 15-minute and daily "
        "aggregates are kept for ever. Applied by `wherry migrate`; on SQLite, the default "
        "age for `wherry store prune`.",
    )

    @field_validator("mqtt_topics", mode="before")
    @classmethod
    def _split_topics(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if isinstance(value, list | tuple):
            topics = tuple(str(t).strip() for t in value if str(t).strip())
            if not topics:
                raise ValueError("give at least one topic filter")
            return topics
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("expected mqtt://[user:pass@]host[:port] or mqtts://…")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        return value

    @field_validator("store_url")
    @classmethod
    def _check_store_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = urlsplit(value).scheme
        if scheme not in ("sqlite", "influxdb", "influxdbs"):
            raise ValueError(
                "expected sqlite:///path.db, influxdb://user:pass@host:port/db or influxdbs://…"
            )
        parse_store_url(value)  # its ValueError says what is wrong, without the secrets
        return value

    @field_validator("registry_url")
    @classmethod
    def _check_registry_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = urlsplit(value).scheme.split("+")[0]
        if scheme not in ("sqlite", "postgresql"):
            raise ValueError("expected sqlite:///path.db or postgresql+psycopg://user@host/db")
        return value

    @field_validator("ttn_applications", mode="before")
    @classmethod
    def _split_applications(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return tuple(str(app).strip() for app in value if str(app).strip())
        return value

    @field_validator("ttn_storage_url")
    @classmethod
    def _check_ttn_storage_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("expected https://host, e.g. https://eu1.cloud.thethings.network")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            raise ValueError("use https:// (plain http only to this machine): the key is sent")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        return _secret_of_at_least(16, value, hex_bytes=24)

    @field_validator("session_secret")
    @classmethod
    def _check_session_secret(cls, value: SecretStr | None) -> SecretStr | None:
        return _secret_of_at_least(32, value, hex_bytes=32)

    @model_validator(mode="after")
    def _backfill_complete(self) -> Settings:
        if self.ttn_storage_url is None:
            return self
        if self.ttn_api_key is None or not self.ttn_api_key.get_secret_value():
            raise ValueError("ttn_storage_url needs ttn_api_key (WHERRY_TTN_API_KEY)")
        if not self.backfill_applications:
            raise ValueError(
                "ttn_storage_url needs application ids: set ttn_applications "
                "(WHERRY_TTN_APPLICATIONS), or name them in mqtt_topics (v3/{app}@{tenant}/…)"
            )
        return self

    @model_validator(mode="after")
    def _client_cert_pair(self) -> Settings:
        if (self.mqtt_cert_file is None) != (self.mqtt_key_file is None):
            raise ValueError("mqtt_cert_file and mqtt_key_file go together: set both or neither")
        return self

    @property
    def backfill_applications(self) -> tuple[str, ...]:
        """The applications to backfill: as given, else those the MQTT topics name."""
        if self.ttn_applications:
            return self.ttn_applications
        named = (topic_application(topic) for topic in self.mqtt_topics)
        return tuple(dict.fromkeys(app for app in named if app is not None))

    @property
    def effective_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir / 'readings.db'}"

    @property
    def effective_registry_url(self) -> str:
        return self.registry_url or f"sqlite:///{self.data_dir / 'registry.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The config file arrives as init values; environment variables win over it.
        return (env_settings, init_settings)


def load_settings(config_file: Path | None = None) -> Settings:
    """Read settings, turning any validation failure into one readable `SettingsError`."""
    from_file: dict[str, Any] = {}
    if config_file is not None:
        try:
            from_file = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(f"--config {config_file}: cannot read it: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"--config {config_file}: not valid TOML: {exc}") from None
    try:
        return Settings(**from_file)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, from_file=config_file)) from None


def describe_errors(exc: ValidationError, *, from_file: Path | None = None) -> str:
    """One line per bad setting, named as the user wrote it (env var, or key in the file)."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "settings"
        shown = f"{ENV_PREFIX}{name.upper()}" if error["loc"] else name
        if from_file is not None and error["loc"]:
            shown += f" (or {name} in {from_file})"
        given = error.get("input")
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        elif isinstance(given, str | int | float) and not _looks_secret(name):
            message += f" (got {given!r})"
        lines.append(f"{shown}: {message}")
    return "invalid settings:\n  " + "\n  ".join(lines)


def _looks_secret(name: str) -> bool:
    return (
        name.endswith("_url")
        or "password" in name
        or "token" in name
        or "secret" in name
        or name.endswith("_key")
    )


def topic_application(topic: str) -> str | None:
    """`v3/{app}@{tenant}/devices/…` → the application id; None for wildcards and others."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != "v3" or parts[2] != "devices":
        return None
    application = parts[1].split("@", 1)[0]
    return application if application and application not in ("+", "#") else None
