"""How long InfluxDB keeps readings, and the aggregates it keeps for ever (InfluxDB 1.x).

Raw points stay in the retention policy wherry writes to — the store URL's `rp=`, else
the database's default policy (`autogen` on a new database) — for
`WHERRY_RAW_RETENTION_DAYS`. That policy keeps its name: renaming it (a new default `raw`)
would hide every point written before from every query that does not name a policy, and
would move where wherry, Grafana and anyone's scripts read and write.

Continuous queries fold the raw points into 15-minute and daily aggregates in the
retention policy `forever` (measurements `reading_15m`, `reading_1d`, `uplink_15m`,
`uplink_1d`). Each continuous query's SELECT is also what a backfill runs over a past
window, so the two cannot disagree. See docs/operations.md for the fields.

Everything here is idempotent: applying it twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from storage.errors import StoreRejected
from storage.influx import quote_identifier
from storage.influx_admin import InfluxAdmin, RetentionPolicy

FOREVER = "forever"
FOREVER_SHARD_DURATION = "52w"  # aggregates are few: one shard group a year, not a week
NS_PER_DAY = 86_400 * 1_000_000_000
NS_PER_15_MIN = 900 * 1_000_000_000

READING_AGGREGATES = "mean(*), min(*), max(*), count(*)"
UPLINK_AGGREGATES = ", ".join(
    [
        'count("f_cnt") AS "uplinks"',
        *(
            f'{function}("{field}") AS "{function}_{field}"'
            for field in ("rssi", "snr")
            for function in ("mean", "min", "max")
        ),
        'mean("gateways") AS "mean_gateways"',
        'max("spreading_factor") AS "max_spreading_factor"',
        'sum("airtime_ms") AS "airtime_ms"',
        'sum("bytes") AS "bytes"',
    ]
)

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Downsample:
    """One aggregate measurement in `forever`, fed by one continuous query."""

    source: str
    target: str
    window: str
    window_ns: int
    every: str  # how often the continuous query runs …
    span: str  # … and how far back it recomputes each time (late points are folded in)
    aggregates: str
    backfill_chunk_ns: int

    @property
    def name(self) -> str:
        return f"wherry_{self.target}"

    def select_into(self, admin: InfluxAdmin, raw_rp: str, where: str = "") -> str:
        return (
            f"SELECT {self.aggregates} INTO {admin.qualified(self.target, FOREVER)} "
            f"FROM {admin.qualified(self.source, raw_rp)}{where} "
            f"GROUP BY time({self.window}), *"
        )

    def create_statement(self, admin: InfluxAdmin, raw_rp: str) -> str:
        return (
            f"CREATE CONTINUOUS QUERY {quote_identifier(self.name)} "
            f"ON {quote_identifier(admin.database)} "
            f"RESAMPLE EVERY {self.every} FOR {self.span} "
            f"BEGIN {self.select_into(admin, raw_rp)} END"
        )


DOWNSAMPLES = (
    Downsample(
        "reading", "reading_15m", "15m", NS_PER_15_MIN, "15m", "6h", READING_AGGREGATES,
        7 * NS_PER_DAY,
    ),
    Downsample(
        "reading", "reading_1d", "1d", NS_PER_DAY, "1h", "2d", READING_AGGREGATES,
        91 * NS_PER_DAY,
    ),
    Downsample(
        "uplink", "uplink_15m", "15m", NS_PER_15_MIN, "15m", "6h", UPLINK_AGGREGATES,
        7 * NS_PER_DAY,
    ),
    Downsample(
        "uplink", "uplink_1d", "1d", NS_PER_DAY, "1h", "2d", UPLINK_AGGREGATES,
        91 * NS_PER_DAY,
    ),
)  # fmt: skip


def _same_statement(ours: str, theirs: str) -> bool:
    """The server keeps a continuous query re-printed (quotes dropped where not needed)."""

    def normal(text: str) -> str:
        return " ".join(text.replace('"', "").split()).lower()

    return normal(ours) == normal(theirs)


def iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def days_text(duration_ns: int) -> str:
    return "for ever" if duration_ns == 0 else f"{duration_ns / NS_PER_DAY:g} days"


def raw_policy(admin: InfluxAdmin, policies: dict[str, RetentionPolicy]) -> str:
    """The policy wherry writes raw points to: the URL's `rp=`, else the default."""
    if admin.spec.rp:
        return admin.spec.rp
    for policy in policies.values():
        if policy.default:
            return policy.name
    raise LookupError(f"database {admin.database!r} has no default retention policy")


def apply_retention(
    admin: InfluxAdmin,
    *,
    raw_days: int,
    echo: Echo,
    warn: Echo,
    backfill: bool = False,
    since_ns: int | None = None,
    until_ns: int | None = None,
    now_ns: int,
) -> None:
    """Make the database keep raw points `raw_days` (0: for ever) and aggregates for ever.

    Shortening the raw policy so that stored points fall out of it happens only with
    `backfill` (their aggregates are computed first); otherwise it is left as it is and
    `warn` says why and what to run.
    """
    # Not an admin: the database may well exist, and what follows will say if not.
    with suppress(StoreRejected):
        admin.run(f"CREATE DATABASE {quote_identifier(admin.database)}", database=False)
    policies = admin.retention_policies()
    raw = raw_policy(admin, policies)
    wanted_ns = raw_days * NS_PER_DAY
    duration = "INF" if raw_days == 0 else f"{raw_days}d"
    if raw not in policies:
        admin.run(
            f"CREATE RETENTION POLICY {quote_identifier(raw)} ON {quote_identifier(admin.database)}"
            f" DURATION {duration} REPLICATION 1"
        )
        echo(f"retention policy {raw!r} created: raw points kept {days_text(wanted_ns)}")
        policies = admin.retention_policies()

    if FOREVER not in policies:
        admin.run(
            f"CREATE RETENTION POLICY {quote_identifier(FOREVER)} ON "
            f"{quote_identifier(admin.database)} DURATION INF REPLICATION 1 "
            f"SHARD DURATION {FOREVER_SHARD_DURATION}"
        )
        echo(f"retention policy {FOREVER!r} created: 15-minute and daily aggregates, for ever")
    elif policies[FOREVER].duration_ns != 0:
        warn(
            f"warning: retention policy {FOREVER!r} keeps aggregates only "
            f"{days_text(policies[FOREVER].duration_ns)}; left as it is"
        )
    else:
        echo(f"retention policy {FOREVER!r}: ok (aggregates kept for ever)")

    _continuous_queries(admin, raw, echo)
    if backfill:
        backfill_aggregates(admin, raw, since_ns=since_ns, until_ns=until_ns, echo=echo)

    current = policies[raw].duration_ns
    if current == wanted_ns:
        echo(f"retention policy {raw!r}: ok (raw points kept {days_text(current)})")
        return
    shortening = wanted_ns != 0 and (current == 0 or wanted_ns < current)
    covered = backfill and since_ns is None  # every stored point's aggregates were computed
    if shortening and not covered:
        oldest = _oldest_raw_point(admin, raw)
        if (
            oldest is not None
            and oldest < now_ns - wanted_ns
            and not (backfill and since_ns is not None and oldest >= since_ns)
        ):
            warn(
                f"warning: retention policy {raw!r} NOT changed (kept {days_text(current)}): "
                f"points from {iso(oldest)} are older than {days_text(wanted_ns)} and "
                f"InfluxDB would delete them. Run `wherry store setup --backfill-aggregates` "
                "to keep their 15-minute and daily aggregates first; it then applies the "
                "retention."
            )
            return
    admin.run(
        f"ALTER RETENTION POLICY {quote_identifier(raw)} ON {quote_identifier(admin.database)} "
        f"DURATION {duration}"
    )
    echo(
        f"retention policy {raw!r}: raw points now kept {days_text(wanted_ns)} "
        f"(were {days_text(current)})"
    )


def _continuous_queries(admin: InfluxAdmin, raw: str, echo: Echo) -> None:
    existing = admin.continuous_queries()
    for downsample in DOWNSAMPLES:
        statement = downsample.create_statement(admin, raw)
        kept = existing.get(downsample.name)
        if kept is not None and _same_statement(statement, kept):
            echo(f"continuous query {downsample.name}: ok")
            continue
        if kept is not None:  # a continuous query cannot be altered: drop it, make it again
            admin.run(
                f"DROP CONTINUOUS QUERY {quote_identifier(downsample.name)} "
                f"ON {quote_identifier(admin.database)}"
            )
        admin.run(statement)
        echo(
            f"continuous query {downsample.name} {'replaced' if kept else 'created'}: "
            f"{downsample.source} → {FOREVER}.{downsample.target} every {downsample.window}"
        )


def _oldest_raw_point(admin: InfluxAdmin, raw: str) -> int | None:
    times = [
        admin.first_time_ns(measurement, rp=raw)
        for measurement in {downsample.source for downsample in DOWNSAMPLES} | {"flagged"}
    ]
    known = [time for time in times if time is not None]
    return min(known) if known else None


def backfill_aggregates(
    admin: InfluxAdmin,
    raw: str,
    *,
    since_ns: int | None,
    until_ns: int | None,
    echo: Echo,
) -> int:
    """Compute the aggregates of `[since, until)` (default: all raw points) from raw points.

    Runs each continuous query's own SELECT over past windows, a chunk at a time, and says
    how far it got. Rewriting an aggregate replaces it, so running this again is harmless.
    Returns how many aggregate points were written.
    """
    total = 0
    for downsample in DOWNSAMPLES:
        first = since_ns if since_ns is not None else admin.first_time_ns(downsample.source, rp=raw)
        last = until_ns if until_ns is not None else admin.last_time_ns(downsample.source, rp=raw)
        if first is None or last is None:
            echo(f"backfill {FOREVER}.{downsample.target}: no {downsample.source} points")
            continue
        start = first - first % downsample.window_ns
        end = (last // downsample.window_ns + 1) * downsample.window_ns
        if until_ns is not None:
            end = -(-until_ns // downsample.window_ns) * downsample.window_ns
        written = 0
        chunk_start = start
        while chunk_start < end:
            chunk_end = min(chunk_start + downsample.backfill_chunk_ns, end)
            where = f" WHERE time >= {chunk_start} AND time < {chunk_end}"
            series = admin.run(downsample.select_into(admin, raw, where))
            chunk = sum(int(row[1]) for one in series for row in one.get("values") or [])
            written += chunk
            done = 100 * (chunk_end - start) / (end - start)
            echo(
                f"backfill {FOREVER}.{downsample.target}: {iso(chunk_start)} → "
                f"{iso(chunk_end)}: {chunk} points ({done:.0f} %)"
            )
            chunk_start = chunk_end
        echo(f"backfill {FOREVER}.{downsample.target}: done, {written} points")
        total += written
    return total
