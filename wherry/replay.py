"""`wherry replay`: a file of TTN uplinks through decoders and the gritting engine, on its clock.

The files are the ones a council already has: devices.csv and routes.csv (the
columns `wherry devices import` and `wherry routes import` take), a policy TOML
(`[gritting]` table) and the uplinks as JSON lines, bare as MQTT delivers them or
wrapped in `{"result": …}` as the Storage Integration returns them. Each line is
parsed and decoded exactly as the bridge does (`gateway_bridge.envelopes`,
`decoders.decode`); a line that cannot be used is counted under its reason and
the first few are quoted, never dropped in silence. Uplinks The Things Stack marks
`simulated` (sent from its console) are counted and left out, as the bridge does by
default (decision 0004); a redelivered uplink (same device, same `received_at`) is
counted once. The engine work is
`alerts.replay`; this module only reads files and prints.

Exit status: 0 with a report (bad lines included in it), 2 when an input file
cannot be read or the CSVs or policy are invalid.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from alerts.gritting import RoutePlan
from alerts.model import Observation
from alerts.plans import route_sensors
from alerts.policy import GrittingPolicy, PolicyError, load_policy
from alerts.replay import ReplayResult, replay
from decoders import (
    QUANTITIES,
    DecodeError,
    UnknownDecoder,
    all_decoders,
    check_field_map,
    decode,
)
from gateway_bridge.envelopes import EnvelopeError, parse_message
from gateway_bridge.uplink import Uplink
from storage.registry import DeviceRow, RouteRow, parse_device_csv, parse_route_csv

Echo = Callable[[str], None]
MAX_EXAMPLES = 20


class ReplayInputError(Exception):
    """An input file wherry replay cannot use, with what to fix."""


@dataclass(frozen=True, slots=True)
class FileRegistry:
    """The devices and routes of the CSVs, looked up as the bridge's directory does."""

    devices: tuple[DeviceRow, ...]
    routes: tuple[RouteRow, ...]
    by_id: Mapping[str, DeviceRow]
    by_eui: Mapping[str, DeviceRow]

    @classmethod
    def of(cls, devices: Sequence[DeviceRow], routes: Sequence[RouteRow]) -> FileRegistry:
        return cls(
            devices=tuple(devices),
            routes=tuple(routes),
            by_id={device.device_id: device for device in devices},
            by_eui={device.dev_eui.lower(): device for device in devices},
        )

    def find(self, uplink: Uplink) -> DeviceRow | None:
        """By device id, then by DevEUI (ChirpStack names devices by DevEUI alone)."""
        found = self.by_id.get(uplink.device_id)
        if found is None and uplink.dev_eui:
            found = self.by_eui.get(uplink.dev_eui.lower())
        return found

    def plans(self, policy: GrittingPolicy) -> list[RoutePlan]:
        """One plan per route: the devices on it that measure road-surface temperature, under
        `policy` (CSVs carry no per-route overrides). A weather station on the route is no
        sensor of it, though its dew point is used: the engine takes that by route."""
        sensors = route_sensors(self.devices)
        return [
            RoutePlan(route.route_id, policy, sensors.get(route.route_id, frozenset()))
            for route in self.routes
        ]


@dataclass(slots=True)
class LineCounts:
    """What became of every line of the uplinks file."""

    lines: int = 0
    blank: int = 0
    uplinks: int = 0
    decoded: int = 0
    duplicates: int = 0
    simulated: int = 0
    bad: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, object]] = field(default_factory=list)
    unregistered: Counter[str] = field(default_factory=Counter)

    def reject(self, line: int, reason: str, detail: str) -> None:
        self.bad[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append({"line": line, "reason": reason, "detail": detail[:300]})

    def as_json(self) -> dict[str, object]:
        return {
            "lines": self.lines,
            "blank_lines": self.blank,
            "uplinks": self.uplinks,
            "decoded_uplinks": self.decoded,
            "duplicate_uplinks": self.duplicates,
            "simulated_uplinks_ignored": self.simulated,
            "bad_lines": sum(self.bad.values()),
            "bad_line_reasons": dict(sorted(self.bad.items())),
            "bad_line_examples": self.examples,
            "unregistered_devices": dict(sorted(self.unregistered.items())),
        }


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ReplayInputError(f"cannot read the {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ReplayInputError(f"{path} is not UTF-8 text (byte {exc.start})") from None


def _field_map_problem(decoder_id: str, field_map: Mapping[str, str]) -> str | None:
    try:
        check_field_map(decoder_id, field_map)
    except (DecodeError, UnknownDecoder) as problem:
        return str(problem)
    return None


def load_registry(devices_csv: Path, routes_csv: Path) -> FileRegistry:
    """Both CSVs, checked by the rules `wherry devices/routes import` apply."""
    routes = parse_route_csv(_read_text(routes_csv, "routes CSV"))
    if routes.errors:
        raise ReplayInputError(
            f"{routes_csv}: {len(routes.errors)} row(s) need fixing:\n"
            + "\n".join(f"  {error}" for error in routes.errors)
        )
    devices = parse_device_csv(
        _read_text(devices_csv, "devices CSV"),
        known_decoders={decoder.id for decoder in all_decoders()},
        known_quantities=set(QUANTITIES),
        known_routes={route.route_id for route in routes.rows},
        field_map_problem=_field_map_problem,
    )
    if devices.errors:
        raise ReplayInputError(
            f"{devices_csv}: {len(devices.errors)} row(s) need fixing:\n"
            + "\n".join(f"  {error}" for error in devices.errors)
        )
    return FileRegistry.of(devices.rows, routes.rows)


def observation_of(uplink: Uplink, device: DeviceRow) -> Observation:
    """Decode an uplink of a registered device (DecodeError/UnknownDecoder propagate)."""
    decoded = decode(
        device.decoder,
        uplink.payload,
        uplink.f_port,
        field_map=device.field_map,
        decoded_payload=uplink.decoded_payload,
    )
    best = uplink.best_reception
    return Observation(
        device_id=device.device_id,
        time_ns=uplink.received_at_ns,
        domain=device.domain,
        route_id=device.route_id,
        values={r.quantity: float(r.value) for r in decoded.readings if r.valid},
        flagged={
            r.quantity: r.invalid_reason or "invalid" for r in decoded.readings if not r.valid
        },
        rssi=best.rssi if best is not None else None,
        snr=best.snr if best is not None else None,
    )


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        with path.open("rb") as file:
            for number, line in enumerate(file, start=1):
                yield number, line.rstrip(b"\r\n")
    except OSError as exc:
        raise ReplayInputError(f"cannot read the uplinks file {path}: {exc.strerror}") from None


def read_observations(path: Path, registry: FileRegistry) -> tuple[list[Observation], LineCounts]:
    """Every usable uplink of the file as an Observation, and the fate of every line."""
    counts = LineCounts()
    observations: list[Observation] = []
    seen: set[tuple[str, int]] = set()
    for number, line in _lines(path):
        counts.lines += 1
        if not line.strip():
            counts.blank += 1
            continue
        try:
            uplink = parse_message("", line)
        except EnvelopeError as exc:
            counts.reject(number, exc.reason, str(exc))
            continue
        if uplink is None:
            counts.reject(number, "not_an_uplink", "a network-server event other than an uplink")
            continue
        counts.uplinks += 1
        if uplink.simulated:  # console test uplinks carry made-up values (decision 0004)
            counts.simulated += 1
            continue
        device = registry.find(uplink)
        if device is None:
            counts.unregistered[uplink.device_id] += 1
            counts.reject(
                number,
                "unregistered_device",
                f"{uplink.device_id} (DevEUI {uplink.dev_eui or '?'}) is not in the devices CSV",
            )
            continue
        key = (device.device_id, uplink.received_at_ns)
        if key in seen:
            counts.duplicates += 1  # a redelivery: the bridge would overwrite, not add
            continue
        try:
            observation = observation_of(uplink, device)
        except (DecodeError, UnknownDecoder) as exc:
            reason = "decode_error" if isinstance(exc, DecodeError) else "unknown_decoder"
            counts.reject(number, reason, f"{device.device_id} ({device.decoder}): {exc}")
            continue
        seen.add(key)
        counts.decoded += 1
        observations.append(observation)
    return observations, counts


def _policy(path: Path | None) -> GrittingPolicy:
    if path is None:
        return GrittingPolicy()
    try:
        return load_policy(path)
    except PolicyError as exc:
        raise ReplayInputError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class PolicyRun:
    label: str
    source: str
    policy: GrittingPolicy
    result: ReplayResult


COMPARED = (
    ("treat_episodes", "TREAT episodes"),
    ("treat_nights", "TREAT nights"),
    ("icy_hours_missed", "icy hours missed"),
    ("freezing_nights_missed", "freezing nights missed"),
    ("mild_nights_treated", "mild nights treated"),
    ("median_lead_minutes", "median lead (min)"),
)


def comparison(runs: Sequence[PolicyRun], counts: LineCounts) -> dict[str, object]:
    """The what-if figures of each policy, per route and in total."""
    route_ids = list(runs[0].result.routes)
    return {
        "policies": [
            {"label": run.label, "source": run.source, "policy": run.policy.model_dump()}
            for run in runs
        ],
        "routes": {
            route_id: {run.label: run.result.routes[route_id].figures() for run in runs}
            for route_id in route_ids
        },
        "total": {run.label: run.result.totals() for run in runs},
        "summary": counts.as_json(),
    }


def comparison_table(compared: Mapping[str, object], runs: Sequence[PolicyRun]) -> str:
    """The what-if as plain text: a row per route and a total, a column per policy and measure."""
    labels = [run.label for run in runs]
    routes = compared["routes"]
    total = compared["total"]
    assert isinstance(routes, Mapping) and isinstance(total, Mapping)
    rows = [(str(route_id), routes[route_id]) for route_id in routes] + [("total", total)]
    first = max(len("route"), *(len(name) for name, _ in rows))
    widths = [max(len(title), 6 * len(labels)) for _, title in COMPARED]
    head = ["route".ljust(first)] + [t.rjust(w) for (_, t), w in zip(COMPARED, widths, strict=True)]
    sub = [" " * first] + ["".join(f"{label:>6}" for label in labels).rjust(w) for w in widths]
    lines = [f"{run.label} = {run.source}" for run in runs] + ["", "  ".join(head), "  ".join(sub)]
    for name, by_label in rows:
        cells = [name.ljust(first)]
        for (key, _), width in zip(COMPARED, widths, strict=True):
            group = "".join(f"{_cell(by_label[label][key]):>6}" for label in labels)
            cells.append(group.rjust(width))
        lines.append("  ".join(cells))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.0f}"
    return str(value)


def run_replay(
    uplinks: Path,
    *,
    devices: Path,
    routes: Path,
    policy: Path | None = None,
    compare: tuple[Path, Path] | None = None,
    as_json: bool = False,
    out: Echo = print,
    err: Echo = print,
) -> int:
    """The whole command: read, replay, print. Returns the exit status."""
    started = time.monotonic()
    try:
        registry = load_registry(devices, routes)
        chosen: list[tuple[str, Path | None, GrittingPolicy]]
        if compare is not None:
            chosen = [
                (label, path, _policy(path)) for label, path in zip("AB", compare, strict=True)
            ]
        else:
            chosen = [("policy", policy, _policy(policy))]
        observations, counts = read_observations(uplinks, registry)
    except ReplayInputError as exc:
        err(f"wherry replay: {exc}")
        return 2
    bad = sum(counts.bad.values())
    err(
        f"wherry replay: {counts.lines} lines, {counts.decoded} uplinks decoded, {bad} bad "
        f"line(s){_reasons(counts)}; {len(registry.routes)} route(s), "
        f"{len(registry.devices)} device(s)"
    )
    runs = []
    for label, path, chosen_policy in chosen:
        result = replay(observations, registry.plans(chosen_policy))
        runs.append(PolicyRun(label, str(path) if path else "defaults", chosen_policy, result))
    err(f"wherry replay: replayed in {time.monotonic() - started:.1f} s")
    if compare is None:
        only = runs[0]
        summary = {
            "files": {
                "uplinks": str(uplinks),
                "devices": str(devices),
                "routes": str(routes),
                "policy": str(policy) if policy else None,
            },
            "policy": only.policy.model_dump(),
            **counts.as_json(),
        }
        out(json.dumps(only.result.report(summary), indent=2, ensure_ascii=False))
        return 0
    compared = comparison(runs, counts)
    if as_json:
        out(json.dumps(compared, indent=2, ensure_ascii=False))
    else:
        out(comparison_table(compared, runs))
    return 0


def _reasons(counts: LineCounts) -> str:
    if not counts.bad:
        return ""
    return " (" + ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.bad.items())) + ")"
