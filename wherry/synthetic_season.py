"""A synthetic season as the files a council would hand to `wherry replay`.

`alerts.synthetic.season()` says what each sensor measured; this module says it
the way the network did: TTN v3 uplink JSON lines (bare, and wrapped in
`{"result": …}` as the Storage Integration returns them) with the real vendor
payloads, plus the devices.csv and routes.csv that register those devices. The
payload and message builders are the demo's (`wherry.demo.payloads`,
`wherry.demo.ttn`), so a replayed season takes exactly the path of live data.

    .venv/bin/python -m wherry.synthetic_season OUT_DIR [--nights 14] [--routes 3] [--seed 2025]
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts.synthetic import (
    AIR,
    HUMIDITY,
    RST,
    DeviceSeries,
    Season,
    SyntheticDevice,
    season,
)
from storage.registry import DEVICE_COLUMNS, ROUTE_COLUMNS
from wherry.demo.fleet import GATEWAYS, Device, Radio, RoadProbe, Site, WeatherStation
from wherry.demo.payloads import CayenneType, CayenneValue, encode_cayenne, encode_dl_ds18
from wherry.demo.ttn import Session, transmission, uplink_message

APPLICATION_ID = "wherry-synthetic"
TENANT = "ttn"
OWNER = "Synthetic County Council Highways"
_TOWN = (53.1386, -1.5560)  # near Matlock, Derbyshire, like the demo
_HALL, _LIBRARY, _RIBER = (gateway.gateway_id for gateway in GATEWAYS)


@dataclass(frozen=True, slots=True)
class SeasonFiles:
    """Where `write_season` put the season, and how many uplinks it wrote."""

    devices_csv: Path
    routes_csv: Path
    uplinks_jsonl: Path
    uplinks: int


def devices_csv(chosen: Season) -> str:
    """devices.csv for the season's devices, in the columns `wherry devices import` takes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DEVICE_COLUMNS)
    for row in _device_rows(chosen):
        writer.writerow(
            [
                row.device_id,
                row.dev_eui,
                row.name,
                row.decoder,
                row.domain,
                row.route_id or "",
                f"{row.latitude:.5f}",
                f"{row.longitude:.5f}",
                "true" if row.public else "false",
                row.owner,
                row.field_map,
            ]
        )
    return out.getvalue()


def routes_csv(chosen: Season) -> str:
    """routes.csv for the season's routes, in the columns `wherry routes import` takes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ROUTE_COLUMNS)
    for route in chosen.routes:
        writer.writerow([route.route_id, route.name, route.length_km, route.priority, route.area])
    return out.getvalue()


def _device_rows(chosen: Season) -> list[Device]:
    route_index = {route.route_id: index for index, route in enumerate(chosen.routes)}
    rows = []
    for device in chosen.devices:
        index = route_index[device.route_id]
        spot = device.device_number & 0xFF
        rows.append(
            Device(
                device_id=device.device_id,
                dev_eui=device.dev_eui,
                name=_name(device),
                decoder=device.decoder,
                domain="road",
                route_id=device.route_id,
                latitude=_TOWN[0] + 0.004 * index + 0.0011 * spot,
                longitude=_TOWN[1] - 0.003 * index + 0.0009 * spot,
                public=False,
                owner=OWNER,
                field_map=device.field_map,
            )
        )
    return rows


def _name(device: SyntheticDevice) -> str:
    if device.role == "weather_station":
        return f"{device.route_id} weather station"
    return f"{device.route_id} road probe {device.device_number & 0xFF}"


def _site(device: SyntheticDevice, row: Device) -> Site:
    """The demo's idea of a site, enough for its TTN message builder."""
    spot = device.device_number & 0xFF
    heard_by = ((_HALL, -98.0 - 2 * spot), (_LIBRARY, -106.0 - spot), (_RIBER, -113.0))
    behaviour: RoadProbe | WeatherStation
    if device.role == "road_probe":
        behaviour = RoadProbe(device.device_number, 0.0, 0.0, device.battery_v)
    else:
        behaviour = WeatherStation()
    return Site(device=row, behaviour=behaviour, radio=Radio(9, heard_by))


def _payload(device: SyntheticDevice, series: DeviceSeries, index: int) -> bytes:
    if device.role == "road_probe":
        return encode_dl_ds18(
            device.device_number, float(series.values[RST][index]), device.battery_v
        )
    return encode_cayenne(
        [
            CayenneValue(1, CayenneType.TEMPERATURE, float(series.values[AIR][index])),
            CayenneValue(2, CayenneType.RELATIVE_HUMIDITY, float(series.values[HUMIDITY][index])),
        ]
    )


def uplink_lines(chosen: Season, *, seed: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    """(received_at ns, TTN v3 uplink message) for every reading of the season, in time order."""
    rows = {row.device_id: row for row in _device_rows(chosen)}
    due: list[tuple[int, int, int]] = []
    for which, series in enumerate(chosen.series):
        due.extend((int(at), which, index) for index, at in enumerate(series.times_ns.tolist()))
    due.sort()
    sessions: dict[str, tuple[Session, int, Site]] = {}
    for which, series in enumerate(chosen.series):
        device = series.device
        identity = random.Random(f"{seed}/{device.device_id}/identity")
        session = Session(
            dev_addr=f"260B{identity.getrandbits(16):04X}",
            session_key_id=base64.b64encode(identity.randbytes(16)).decode(),
            join_eui="70B3D57ED0000000",
        )
        sessions[device.device_id] = (
            session,
            identity.randrange(1, 40_000) + which,
            _site(device, rows[device.device_id]),
        )
    for at, which, index in due:
        series = chosen.series[which]
        device = series.device
        session, first_f_cnt, site = sessions[device.device_id]
        rng = random.Random(f"{seed}/{device.device_id}/{index}")
        message = uplink_message(
            site=site,
            application_id=APPLICATION_ID,
            tenant=TENANT,
            session=session,
            f_cnt=first_f_cnt + index,
            payload=_payload(device, series, index),
            ns_received_ns=at,
            air=transmission(site, GATEWAYS, at, rng),
            rng=rng,
        )
        yield at, message


def write_season(chosen: Season, directory: Path, *, wrap_every: int = 2) -> SeasonFiles:
    """Write devices.csv, routes.csv and uplinks.jsonl for `chosen` into `directory`.

    Every `wrap_every`-th line is wrapped as `{"result": …}` (the Storage
    Integration's form); the others are bare uplinks as MQTT delivers them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    devices_path = directory / "devices.csv"
    routes_path = directory / "routes.csv"
    uplinks_path = directory / "uplinks.jsonl"
    devices_path.write_text(devices_csv(chosen), encoding="utf-8")
    routes_path.write_text(routes_csv(chosen), encoding="utf-8")
    count = 0
    with uplinks_path.open("w", encoding="utf-8") as out:
        for count, (_, message) in enumerate(uplink_lines(chosen, seed=chosen.seed), start=1):
            body = {"result": message} if wrap_every and count % wrap_every == 0 else message
            out.write(json.dumps(body, separators=(",", ":"), ensure_ascii=False))
            out.write("\n")
    return SeasonFiles(devices_path, routes_path, uplinks_path, count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic gritting season to replay.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--nights", type=int, default=14)
    parser.add_argument("--routes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--probe-faults", action="store_true", help="add DS18B20 error codes")
    args = parser.parse_args(argv)
    chosen = season(args.nights, args.routes, seed=args.seed, probe_faults=args.probe_faults)
    files = write_season(chosen, args.directory)
    kinds = ", ".join(f"{night.evening} {night.kind.value}" for night in chosen.nights)
    print(f"wrote {files.uplinks} uplinks to {files.uplinks_jsonl}; nights: {kinds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
