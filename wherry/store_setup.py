"""`wherry store setup` (also run by `wherry migrate`) and `wherry store prune`.

Retention and aggregates for whichever readings store the settings name, and a plain
account of what was done and what could not be done there.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from storage import InfluxSpec, SQLiteSpec, StoreSpec, parse_store_url, redact_url
from storage.errors import StoreError
from storage.influx_admin import InfluxAdmin, ServerVersion
from storage.retention import FOREVER, NS_PER_DAY, apply_retention, days_text
from storage.sqlite_prune import prune_sqlite
from wherry.settings import Settings

Echo = Callable[[str], None]


def store_spec(settings: Settings, admin: tuple[str, str] | None = None) -> StoreSpec:
    """The readings store the settings name; with `admin` (user, password), reached as that
    InfluxDB user instead: retention policies need an admin, wherry's own user need not be."""
    spec = parse_store_url(settings.effective_store_url)
    if admin is not None and isinstance(spec, InfluxSpec):
        user, password = admin
        spec = dataclasses.replace(spec, username=user, password=password, token=None)
    return spec


def parse_time(text: str, name: str) -> int:
    """An ISO 8601 time with a zone (or a date, taken as UTC midnight) in nanoseconds."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} {text!r}: expected ISO 8601, e.g. 2026-01-15T00:00:00Z") from None
    if moment.tzinfo is None:
        if len(text) > 10:
            raise ValueError(f"{name} {text!r}: give a time zone, e.g. …Z or …+01:00")
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def set_up_store(
    settings: Settings,
    *,
    echo: Echo,
    warn: Echo,
    backfill: bool = False,
    since: str | None = None,
    until: str | None = None,
    strict: bool = True,
    admin: tuple[str, str] | None = None,
) -> int:
    """Apply retention and aggregates to the readings store; the exit status.

    Not `strict` (`wherry migrate`): a store that cannot be set up is reported, loudly, but
    the exit status stays 0, because the registry's upgrade is what bridge and API wait for
    and an InfluxDB still starting must not keep the gritting service down.
    """
    try:
        since_ns = parse_time(since, "--since") if since else None
        until_ns = parse_time(until, "--until") if until else None
    except ValueError as exc:
        warn(f"wherry: {exc}")
        return 2
    url = settings.effective_store_url
    spec = store_spec(settings, admin)
    if isinstance(spec, SQLiteSpec):
        echo(
            f"readings store {redact_url(url)} (SQLite): no retention policies or aggregates "
            "here; raw readings are kept until `wherry store prune` removes those older than "
            f"{days_text(settings.raw_retention_days * NS_PER_DAY)}, and the API computes "
            "aggregates from raw readings"
        )
        if backfill:
            warn("--backfill-aggregates: nothing to do on SQLite (it keeps no aggregates)")
        return 0
    assert isinstance(spec, InfluxSpec)
    try:
        with InfluxAdmin(spec) as server:
            version = server.version()
            who = f" as InfluxDB user {admin[0]!r}" if admin else ""
            echo(f"readings store {redact_url(url)}{who}: InfluxDB {version.text}")
            if not version.is_1x:
                for line in later_versions(version, settings, spec):
                    warn(line)
                return 0
            apply_retention(
                server,
                raw_days=settings.raw_retention_days,
                echo=echo,
                warn=warn,
                backfill=backfill,
                since_ns=since_ns,
                until_ns=until_ns,
                now_ns=time.time_ns(),
            )
    except (StoreError, LookupError) as exc:
        warn(f"wherry: readings store not set up: {exc}")
        if not strict:
            warn(
                "wherry: retention and aggregates NOT applied; run `wherry store setup` "
                "(with --admin-user when wherry's InfluxDB user is not an admin)"
            )
            return 0
        return 1
    return 0


def later_versions(version: ServerVersion, settings: Settings, spec: InfluxSpec) -> list[str]:
    """What `wherry migrate` cannot do on InfluxDB 2.x/3.x, and what to do instead."""
    days = settings.raw_retention_days
    retention = "0" if days == 0 else f"{days}d"
    lines = [
        f"InfluxDB {version.text} serves no retention policies or continuous queries through "
        "the v1 API: wherry changed nothing in the store. Do it there instead "
        "(docs/operations.md, 'InfluxDB 2.x and 3.x'):"
    ]
    if version.major == 2:
        lines += [
            f"  raw retention: influx bucket update --id <bucket id> --retention {retention} "
            f"(the bucket `influx v1 dbrp list --db {spec.database}` names)",
            f"  aggregates: a bucket {spec.database}_{FOREVER} (retention 0 = for ever) and "
            "the two Flux tasks in docs/operations.md (influx task create --file …)",
        ]
    else:
        lines += [
            f"  raw retention: set when the database is created (influxdb3 create database "
            f"--retention-period {retention} {spec.database}); InfluxDB 3 Core cannot change "
            "it later",
            "  aggregates: a Processing Engine trigger (InfluxData's downsampler plugin) "
            f"writing into a database {spec.database}_{FOREVER}",
        ]
    return lines


def prune_store(settings: Settings, older_than_days: int | None, *, echo: Echo, warn: Echo) -> int:
    """Delete SQLite readings older than the given days (default: the retention setting)."""
    days = settings.raw_retention_days if older_than_days is None else older_than_days
    url = settings.effective_store_url
    spec = parse_store_url(url)
    if not isinstance(spec, SQLiteSpec):
        warn(
            f"wherry: {redact_url(url)} is InfluxDB: it deletes old readings itself (retention "
            "policy; `wherry migrate` sets it from WHERRY_RAW_RETENTION_DAYS)"
        )
        return 2
    if days <= 0:
        echo("raw readings are kept for ever (WHERRY_RAW_RETENTION_DAYS=0): nothing pruned")
        return 0
    before_ns = time.time_ns() - days * NS_PER_DAY
    cutoff = datetime.fromtimestamp(before_ns / 1e9, UTC).isoformat(timespec="seconds")
    echo(f"deleting readings before {cutoff} ({days} days) from {Path(spec.path)}")
    try:
        pruned = prune_sqlite(spec.path, before_ns, timeout=max(spec.timeout, 30.0))
    except StoreError as exc:
        warn(f"wherry: {exc}")
        return 1
    echo(f"deleted {pruned.samples} values from {pruned.series} series")
    return 0
