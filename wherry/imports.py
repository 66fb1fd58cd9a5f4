"""`wherry devices import` and `wherry routes import`: check every row, then apply all or none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from api.catalogue import check_device_csv
from storage.registry import Registry
from storage.registry.csv_import import RowError, parse_route_csv
from wherry.settings import Settings

Echo = Callable[[str], None]
ACTOR = "cli"


def _read(path: Path, echo: Echo) -> str | None:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        echo(f"cannot read {path}: {exc.strerror}")
    except UnicodeDecodeError as exc:
        echo(f"{path} is not UTF-8 text (byte {exc.start}): save it as CSV UTF-8")
    return None


def _report_errors(path: Path, errors: list[RowError], echo: Echo) -> None:
    echo(f"{path}: {len(errors)} row(s) need fixing; nothing was changed:")
    for error in errors:
        echo(f"  {error}")


def import_devices_file(settings: Settings, path: Path, *, dry_run: bool, echo: Echo) -> int:
    """Exit status: 0 applied (or dry run clean), 1 rows to fix, 2 unreadable file."""
    text = _read(path, echo)
    if text is None:
        return 2
    registry = Registry(settings.effective_registry_url)
    try:
        registry.migrate()
        parsed = check_device_csv(text, registry)
        if parsed.errors:
            _report_errors(path, parsed.errors, echo)
            return 1
        if dry_run:
            echo(
                f"{path}: all {len(parsed.rows)} device row(s) are valid (dry run: nothing changed)"
            )
            return 0
        count = registry.apply_device_import(parsed.rows, actor=ACTOR)
        echo(f"{path}: registered or updated {count} device(s)")
        return 0
    finally:
        registry.close()


def import_routes_file(settings: Settings, path: Path, *, dry_run: bool, echo: Echo) -> int:
    text = _read(path, echo)
    if text is None:
        return 2
    parsed = parse_route_csv(text)
    if parsed.errors:
        _report_errors(path, parsed.errors, echo)
        return 1
    if dry_run:
        echo(f"{path}: all {len(parsed.rows)} route row(s) are valid (dry run: nothing changed)")
        return 0
    registry = Registry(settings.effective_registry_url)
    try:
        registry.migrate()
        count = registry.apply_route_import(parsed.rows, actor=ACTOR)
        echo(f"{path}: registered or updated {count} route(s)")
        return 0
    finally:
        registry.close()
