"""The `wherry` command. Each sub-command is a thin shell over a function elsewhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from wherry.settings import Settings, SettingsError, load_settings

app = typer.Typer(
    help="wherry: LoRaWAN sensor data from The Things Network and ChirpStack into InfluxDB or "
    "SQLite, decoded, normalised and turned into gritting decisions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
devices_app = typer.Typer(help="Register devices.", no_args_is_help=True)
keys_app = typer.Typer(help="Issue, list and revoke API keys.", no_args_is_help=True)
routes_app = typer.Typer(help="Register gritting routes.", no_args_is_help=True)
app.add_typer(devices_app, name="devices")
app.add_typer(routes_app, name="routes")
app.add_typer(keys_app, name="keys")
store_app = typer.Typer(
    help="The readings store: retention, aggregates, pruning.", no_args_is_help=True
)
app.add_typer(store_app, name="store")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML file of settings; WHERRY_* variables win over it."),
]


def settings_or_exit(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except SettingsError as exc:
        typer.echo(f"wherry: {exc}", err=True)
        raise typer.Exit(2) from None


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr (`wherry.logs`): text lines, or one JSON object per line."""
    from wherry.logs import configure_logging as configure

    configure(level, log_format)


@app.command()
def run(config: ConfigOption = None) -> None:
    """Run the bridge (subscribe, decode, store) and the HTTP API. SIGTERM or Ctrl-C stops it."""
    from wherry.service import run_service

    settings = settings_or_exit(config)
    configure_logging(settings.log_level, settings.log_format)
    raise typer.Exit(run_service(settings))


@app.command()
def api(config: ConfigOption = None) -> None:
    """Serve the HTTP API alone (no MQTT subscription), e.g. as a second API replica."""
    from wherry.service import run_service

    settings = settings_or_exit(config)
    configure_logging(settings.log_level, settings.log_format)
    raise typer.Exit(run_service(settings, subscribe=False))


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its SQLite files.")] = Path(
        "wherry-demo-data"
    ),
    speed: Annotated[
        float, typer.Option(help="Simulated seconds per real second (600: the night in 50 s).")
    ] = 600.0,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many real seconds; default: Ctrl-C.")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Port of the pages and API (default 8080, or a free one if "
            "taken; 0: any free port).",
        ),
    ] = None,
    web: Annotated[
        bool, typer.Option("--web/--no-web", help="Serve the pages and API (--no-web: not).")
    ] = True,
) -> None:
    """A self-contained demo: embedded MQTT broker, simulated TTN sensors through a winter
    night, SQLite store, gritting decisions and the web pages."""
    from wherry.demo.run import run_demo

    configure_logging("WARNING")
    raise typer.Exit(
        run_demo(data_dir=data_dir, speed=speed, duration=duration, port=port, web=web)
    )


@app.command()
def decode(
    hex_payload: Annotated[str, typer.Argument(metavar="HEX", help="Payload bytes as hex.")],
    decoder: Annotated[
        str, typer.Option("--decoder", "-d", help="Decoder id (see `wherry decoders`).")
    ],
    port: Annotated[int | None, typer.Option("--port", "-p", help="LoRaWAN f_port.")] = None,
    field_map: Annotated[
        str | None, typer.Option(help="Extra vendor_field=quantity;… mappings.")
    ] = None,
) -> None:
    """Decode one payload and print the normalised readings as JSON (exit 2 on bad input)."""
    from wherry.decoding import decode_hex

    try:
        result = decode_hex(decoder, port, hex_payload, field_map)
    except ValueError as exc:
        typer.echo(json.dumps({"error": str(exc)}, ensure_ascii=False), err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(result, indent=2, ensure_ascii=False))


@app.command()
def replay(
    uplinks: Annotated[
        Path, typer.Argument(help='TTN uplinks, one JSON per line (bare or {"result": …}).')
    ],
    devices: Annotated[Path, typer.Option("--devices", help="devices.csv (as `devices import`).")],
    routes: Annotated[Path, typer.Option("--routes", help="routes.csv (as `routes import`).")],
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Gritting policy TOML (a \\[gritting] table).")
    ] = None,
    compare: Annotated[
        tuple[Path, Path] | None,
        typer.Option("--compare", help="Two policy TOMLs: print a what-if table of both."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="--compare as JSON, not a table.")
    ] = False,
) -> None:
    """Replay uplinks through decoders and gritting rules on their own clock; print JSON."""
    from wherry.replay import run_replay

    raise typer.Exit(
        run_replay(
            uplinks,
            devices=devices,
            routes=routes,
            policy=policy,
            compare=compare,
            as_json=as_json,
            out=typer.echo,
            err=lambda line: typer.echo(line, err=True),
        )
    )


@app.command("decoders")
def list_decoders(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every decoder with the quantities it produces."""
    from wherry.decoding import decoder_catalogue

    catalogue = decoder_catalogue()
    if as_json:
        typer.echo(json.dumps(catalogue, indent=2, ensure_ascii=False))
        return
    for entry in catalogue:
        ports = ",".join(str(p) for p in entry["f_ports"]) if entry["f_ports"] else "any"
        typer.echo(f"{entry['id']:<32} ports {ports:<8} {', '.join(entry['quantities'])}")


AdminUserOption = Annotated[
    str | None,
    typer.Option(
        "--admin-user",
        help="Reach InfluxDB as this admin user (the password is asked for, or read from "
        "stdin) instead of the store URL's user, which need not be an admin.",
    ),
]


def _admin(user: str | None) -> tuple[str, str] | None:
    if user is None:
        return None
    password: str = typer.prompt(f"InfluxDB password of {user}", hide_input=True, err=True)
    return user, password


BackfillOption = Annotated[
    bool,
    typer.Option(
        "--backfill-aggregates",
        help="Also compute the 15-minute and daily aggregates of readings already stored "
        "(InfluxDB 1.x), with progress; needed before a shorter retention deletes old points.",
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option(help="Backfill from this ISO 8601 time (default: the oldest reading)."),
]
UntilOption = Annotated[
    str | None, typer.Option(help="Backfill up to this ISO 8601 time (default: the newest).")
]


@app.command()
def migrate(
    config: ConfigOption = None,
    backfill_aggregates: BackfillOption = False,
    since: SinceOption = None,
    until: UntilOption = None,
) -> None:
    """Upgrade the registry's schema, then set up the readings store (as `wherry store setup`).

    A readings store that cannot be set up is reported but does not fail the command.
    """
    from storage.registry import Registry
    from wherry.store_setup import set_up_store

    settings = settings_or_exit(config)
    configure_logging(settings.log_level, settings.log_format)
    registry = Registry(settings.effective_registry_url)
    registry.migrate()
    typer.echo(f"registry at revision {registry.current_revision()}")
    registry.close()
    raise typer.Exit(
        set_up_store(
            settings,
            echo=typer.echo,
            warn=lambda line: typer.echo(line, err=True),
            backfill=backfill_aggregates,
            since=since,
            until=until,
            strict=False,
        )
    )


@store_app.command("setup")
def store_setup(
    config: ConfigOption = None,
    backfill_aggregates: BackfillOption = False,
    since: SinceOption = None,
    until: UntilOption = None,
    admin_user: AdminUserOption = None,
) -> None:
    """Apply retention and the aggregates' continuous queries to the readings store.

    Raw readings are kept WHERRY_RAW_RETENTION_DAYS, aggregates for ever. Says what it did
    and what it cannot do there; safe to run again.
    """
    from wherry.store_setup import set_up_store

    settings = settings_or_exit(config)
    configure_logging(settings.log_level, settings.log_format)
    raise typer.Exit(
        set_up_store(
            settings,
            echo=typer.echo,
            warn=lambda line: typer.echo(line, err=True),
            backfill=backfill_aggregates,
            since=since,
            until=until,
            admin=_admin(admin_user),
        )
    )


@store_app.command("prune")
def store_prune(
    config: ConfigOption = None,
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than", min=1, help="Days; default WHERRY_RAW_RETENTION_DAYS (SQLite only)."
        ),
    ] = None,
) -> None:
    """Delete readings older than N days from an SQLite readings store."""
    from wherry.store_setup import prune_store

    settings = settings_or_exit(config)
    configure_logging(settings.log_level, settings.log_format)
    raise typer.Exit(
        prune_store(
            settings, older_than, echo=typer.echo, warn=lambda line: typer.echo(line, err=True)
        )
    )


PartsOption = Annotated[
    str | None,
    typer.Option("--only", help="registry or readings; default: both."),
]


def _parts(only: str | None) -> tuple[str, ...]:
    from wherry.backup import PARTS

    if only is None:
        return PARTS
    if only not in PARTS:
        typer.echo(f"wherry: --only {only!r}: expected registry or readings", err=True)
        raise typer.Exit(2)
    return (only,)


@app.command()
def backup(
    directory: Annotated[Path, typer.Argument(help="A new (or empty) folder for the backup.")],
    only: PartsOption = None,
    admin_user: AdminUserOption = None,
    config: ConfigOption = None,
) -> None:
    """Back up the registry and the readings into DIRECTORY, saying what it does."""
    from wherry.backup import BackupError
    from wherry.backup import backup as run_backup

    settings = settings_or_exit(config)
    configure_logging("WARNING", settings.log_format)
    try:
        run_backup(
            settings, directory, parts=_parts(only), echo=typer.echo, admin=_admin(admin_user)
        )
    except BackupError as exc:
        typer.echo(f"wherry: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def restore(
    directory: Annotated[Path, typer.Argument(help="A folder `wherry backup` wrote.")],
    only: PartsOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Really replace the registry / add the readings.")
    ] = False,
    admin_user: AdminUserOption = None,
    config: ConfigOption = None,
) -> None:
    """Restore a backup where the settings point (stop wherry first); then `wherry migrate`."""
    from wherry.backup import BackupError, read_manifest
    from wherry.backup import restore as run_restore

    settings = settings_or_exit(config)
    configure_logging("WARNING", settings.log_format)
    parts = _parts(only)
    if not yes:
        try:
            manifest = read_manifest(directory)
        except BackupError as exc:
            typer.echo(f"wherry: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(
            f"backup of {manifest.get('created')} holds: "
            + ", ".join(part for part in parts if part in manifest)
            + ". Restoring replaces the registry and writes the readings back into the "
            "store (points with the same time are overwritten). Stop wherry, then run again "
            "with --yes.",
            err=True,
        )
        raise typer.Exit(2)
    try:
        run_restore(settings, directory, parts=parts, echo=typer.echo, admin=_admin(admin_user))
    except BackupError as exc:
        typer.echo(f"wherry: {exc}", err=True)
        raise typer.Exit(1) from None


@devices_app.command("import")
def import_devices(
    csv_file: Annotated[Path, typer.Argument(help="CSV with the columns in docs/registry.md.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and report; change nothing.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Register or update devices from a CSV file, all or nothing."""
    from wherry.imports import import_devices_file

    settings = settings_or_exit(config)
    configure_logging(settings.log_level, settings.log_format)
    raise typer.Exit(import_devices_file(settings, csv_file, dry_run=dry_run, echo=typer.echo))


@routes_app.command("import")
def import_routes(
    csv_file: Annotated[Path, typer.Argument(help="CSV: route_id,name,length_km,priority,area.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and report; change nothing.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Register or update gritting routes from a CSV file, all or nothing."""
    from wherry.imports import import_routes_file

    settings = settings_or_exit(config)
    configure_logging(settings.log_level, settings.log_format)
    raise typer.Exit(import_routes_file(settings, csv_file, dry_run=dry_run, echo=typer.echo))


@app.command("dead-letters")
def dead_letters(
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    config: ConfigOption = None,
) -> None:
    """Messages the bridge could not use, with the reason: counts, then the newest."""
    from storage.registry import Registry

    settings = settings_or_exit(config)
    registry = Registry(settings.effective_registry_url)
    registry.migrate()
    counts = registry.dead_letter_counts()
    typer.echo("dead letters by reason: " + (json.dumps(counts) if counts else "none"))
    for letter in registry.dead_letters(reason=reason, limit=limit):
        preview = letter.body[:120].decode("utf-8", "replace")
        typer.echo(
            f"#{letter.id} {letter.arrived_at.isoformat()} {letter.reason} {letter.topic}\n"
            f"    {letter.detail}\n    {letter.body_size} bytes: {preview!r}"
        )
    registry.close()


@app.command()
def sightings(config: ConfigOption = None) -> None:
    """Devices heard on the network but not registered here."""
    from storage.registry import Registry

    settings = settings_or_exit(config)
    registry = Registry(settings.effective_registry_url)
    registry.migrate()
    rows = registry.sightings()
    if not rows:
        typer.echo("no unregistered devices seen")
    for row in rows:
        typer.echo(
            f"{row.device_id:<36} DevEUI {row.dev_eui or '?':<16} seen {row.count}× "
            f"last {row.last_seen.isoformat()} port {row.f_port} payload {row.payload.hex()}"
        )
    registry.close()


@keys_app.command("create")
def create_key(
    role: Annotated[str, typer.Option(help="admin, engineer, highways or reader.")],
    label: Annotated[str, typer.Option(help="Who or what holds the key.")],
    expires: Annotated[
        str | None, typer.Option(help="Expiry, ISO 8601 with a time zone (…T23:59:59Z).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Issue an API key and print it once: wherry keeps only its hash."""
    from wherry.keys import issue

    settings = settings_or_exit(config)
    try:
        token, key_id = issue(settings, role=role, label=label, expires=expires)
    except ValueError as exc:
        typer.echo(f"wherry: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"key {key_id} ({role}, {label}). Store it now; it is not shown again:")
    typer.echo(token)


@keys_app.command("list")
def list_keys(config: ConfigOption = None) -> None:
    """Every key: id, role, label, expiry, revocation, last use. No secrets."""
    from wherry.keys import describe_keys

    for line in describe_keys(settings_or_exit(config)):
        typer.echo(line)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (second part of the key).")],
    config: ConfigOption = None,
) -> None:
    """Stop a key working at once."""
    from wherry.keys import revoke

    if not revoke(settings_or_exit(config), key_id):
        typer.echo(f"wherry: no API key {key_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"key {key_id} revoked")


def main() -> None:
    app()
