"""The demo town: Matlock, Derbyshire — its gritting routes, sensors and gateways.

The registry rows live in `data/routes.csv` and `data/devices.csv` (the shapes
`wherry routes import` and `wherry devices import` accept), so the demo registers
its fleet exactly as a council would. What a CSV cannot say — how each site
behaves on a winter night and how well the gateways hear it — is kept here, keyed
by the same ids, and checked against the CSVs when the fleet is loaded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from storage.registry import DEVICE_COLUMNS, ROUTE_COLUMNS
from wherry.demo.payloads import MILESIGHT_F_PORT

DATA_DIR = Path(__file__).resolve().parent / "data"
ROUTES_CSV = DATA_DIR / "routes.csv"
DEVICES_CSV = DATA_DIR / "devices.csv"
UNREGISTERED_CSV = DATA_DIR / "unregistered.csv"  # installed, sending, not registered yet


class FleetError(ValueError):
    """The demo's CSVs and its site descriptions disagree, or a CSV row is malformed."""


@dataclass(frozen=True, slots=True)
class Route:
    """A gritting route, as a row of routes.csv."""

    route_id: str
    name: str
    length_km: float
    priority: int
    area: str


@dataclass(frozen=True, slots=True)
class Device:
    """A registered device, as a row of devices.csv."""

    device_id: str
    dev_eui: str
    name: str
    decoder: str
    domain: str
    route_id: str | None
    latitude: float
    longitude: float
    public: bool
    owner: str
    field_map: str


@dataclass(frozen=True, slots=True)
class Gateway:
    """A LoRaWAN gateway on The Things Network that hears the demo's sensors."""

    gateway_id: str
    eui: str
    latitude: float
    longitude: float
    altitude_m: float


@dataclass(frozen=True, slots=True)
class RouteClimate:
    """How a route's road surface cools after dusk: Newton cooling toward `asymptote_c`.

    The asymptote is where the surface would settle by morning; the time constant
    says how fast it gets there (bridge decks, with air below, cool fastest).
    """

    asymptote_c: float
    time_constant_h: float
    dusk_c: float = 6.0


@dataclass(frozen=True, slots=True)
class RoadProbe:
    """A DS18B20 probe set into the road surface (Decentlab DL-DS18)."""

    device_num: int
    dusk_offset_c: float
    asymptote_offset_c: float
    battery_v: float


@dataclass(frozen=True, slots=True)
class WeatherStation:
    """Roadside air temperature and humidity (Cayenne LPP), so dew point can be derived."""


@dataclass(frozen=True, slots=True)
class ClassroomSensor:
    """A school classroom's air: temperature, humidity, CO2 and particulates (Milesight AM319)."""


@dataclass(frozen=True, slots=True)
class RiverProbe:
    """Level, temperature and conductivity in the river (Decentlab DL-CTD10)."""

    device_num: int
    mean_depth_mm: float
    battery_v: float


SiteBehaviour = RoadProbe | WeatherStation | ClassroomSensor | RiverProbe


@dataclass(frozen=True, slots=True)
class Radio:
    """How the network hears a device: its (ADR-settled) spreading factor and each
    gateway's mean RSSI in dBm."""

    spreading_factor: int
    heard_by: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class Site:
    """Everything the simulator needs about one device."""

    device: Device
    behaviour: SiteBehaviour
    radio: Radio
    interval_s: int = 600
    f_port: int = 1
    registered: bool = True


@dataclass(frozen=True, slots=True)
class Fleet:
    """The demo's routes, sites and gateways, consistent with each other."""

    routes: tuple[Route, ...]
    sites: tuple[Site, ...]
    gateways: tuple[Gateway, ...]
    climates: Mapping[str, RouteClimate]

    def site(self, device_id: str) -> Site:
        for site in self.sites:
            if site.device.device_id == device_id:
                return site
        raise KeyError(device_id)

    def gateway(self, gateway_id: str) -> Gateway:
        for gateway in self.gateways:
            if gateway.gateway_id == gateway_id:
                return gateway
        raise KeyError(gateway_id)


GATEWAYS = (
    Gateway("dcc-county-hall-matlock", "B827EBFFFE3A1C01", 53.14215, -1.55002, 142.0),
    Gateway("matlock-library-ttn", "7276FF000B031F2A", 53.13663, -1.55524, 96.0),
    Gateway("riber-view-ttn", "AA555A0000A1B2C3", 53.13081, -1.53598, 248.0),
)

# A clear, dry, frosty night: hill roads on Matlock Bank run coldest (below 0 °C by
# about 22:30, forecast to get there by 21:00), the bridge deck settles near +0.7 °C
# (marginal, never freezing), the town centre's heat island keeps it near +2 °C.
CLIMATES: Mapping[str, RouteClimate] = {
    "matlock-bank": RouteClimate(asymptote_c=-3.0, time_constant_h=4.5),
    "derwent-bridge": RouteClimate(asymptote_c=0.7, time_constant_h=3.5),
    "town-centre": RouteClimate(asymptote_c=2.0, time_constant_h=4.5),
}

_HALL, _LIBRARY, _RIBER = (g.gateway_id for g in GATEWAYS)

_SITES: Mapping[str, tuple[SiteBehaviour, Radio]] = {
    "rst-bank-road-lower": (
        RoadProbe(0x0A11, 0.2, 0.25, 3.312),
        Radio(9, ((_HALL, -104.0), (_LIBRARY, -109.0))),
    ),
    "rst-bank-road-upper": (
        RoadProbe(0x0A12, -0.1, -0.15, 3.287),
        Radio(9, ((_HALL, -99.0), (_RIBER, -114.0))),
    ),
    "rst-smedley-street": (
        RoadProbe(0x0A13, -0.3, -0.35, 3.241),
        Radio(10, ((_HALL, -107.0), (_RIBER, -116.0), (_LIBRARY, -118.0))),
    ),
    "wx-bank-road": (WeatherStation(), Radio(8, ((_HALL, -93.0), (_LIBRARY, -102.0)))),
    "rst-matlock-bridge": (
        RoadProbe(0x0A16, -0.1, -0.2, 3.298),
        Radio(9, ((_LIBRARY, -103.0), (_RIBER, -115.0))),
    ),
    "rst-bakewell-road": (
        RoadProbe(0x0A17, 0.1, 0.15, 3.305),
        Radio(10, ((_LIBRARY, -108.0),)),
    ),
    "rst-crown-square": (
        RoadProbe(0x0A14, 0.3, 0.2, 3.276),
        Radio(8, ((_LIBRARY, -97.0), (_HALL, -106.0))),
    ),
    "rst-dale-road": (
        RoadProbe(0x0A15, 0.0, -0.1, 3.263),
        Radio(9, ((_LIBRARY, -105.0), (_RIBER, -112.0))),
    ),
    "aq-derwent-vale-primary": (ClassroomSensor(), Radio(7, ((_HALL, -86.0), (_LIBRARY, -98.0)))),
    "wq-derwent-hall-leys": (
        RiverProbe(0x0B21, mean_depth_mm=740.0, battery_v=3.168),
        Radio(10, ((_LIBRARY, -111.0), (_RIBER, -117.0))),
    ),
    # Installed on the hill last week and sending, but nobody has registered it yet:
    # it waits under /sightings (unregistered.csv is its row, for the simulator only).
    "rst-starkholmes-road": (
        RoadProbe(0x0A18, -0.2, -0.25, 3.331),
        Radio(9, ((_RIBER, -101.0), (_HALL, -113.0))),
    ),
}
_INTERVALS_S: Mapping[str, int] = {"wq-derwent-hall-leys": 900}


def _rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise FleetError(f"cannot read {path}: {exc.strerror}") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if tuple(reader.fieldnames or ()) != columns:
        raise FleetError(f"{path}: header must be {','.join(columns)}, found {reader.fieldnames}")
    return [(line, row) for line, row in enumerate(reader, start=2)]


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise FleetError(f"{path} line {line}: {column} must be a number, found {text!r}") from None


def read_routes(path: Path = ROUTES_CSV) -> tuple[Route, ...]:
    """Routes from a routes.csv file."""
    routes = []
    for line, row in _rows(path, ROUTE_COLUMNS):
        priority = _number(path, line, "priority", row["priority"])
        routes.append(
            Route(
                route_id=row["route_id"],
                name=row["name"],
                length_km=_number(path, line, "length_km", row["length_km"]),
                priority=int(priority),
                area=row["area"],
            )
        )
    return tuple(routes)


def read_devices(path: Path = DEVICES_CSV) -> tuple[Device, ...]:
    """Devices from a devices.csv file."""
    devices = []
    for line, row in _rows(path, DEVICE_COLUMNS):
        public = row["public"].strip().lower()
        if public not in ("true", "false"):
            raise FleetError(f"{path} line {line}: public must be true or false, found {public!r}")
        devices.append(
            Device(
                device_id=row["device_id"],
                dev_eui=row["dev_eui"].upper(),
                name=row["name"],
                decoder=row["decoder"],
                domain=row["domain"],
                route_id=row["route_id"] or None,
                latitude=_number(path, line, "latitude", row["latitude"]),
                longitude=_number(path, line, "longitude", row["longitude"]),
                public=public == "true",
                owner=row["owner"],
                field_map=row["field_map"],
            )
        )
    return tuple(devices)


def load_fleet(
    devices_csv: Path = DEVICES_CSV,
    routes_csv: Path = ROUTES_CSV,
    unregistered_csv: Path | None = UNREGISTERED_CSV,
) -> Fleet:
    """The demo fleet: the CSV rows joined with how each site behaves.

    The devices of `unregistered_csv` send uplinks too but are not registered: their
    sites have `registered` False. Raises FleetError naming the device or route when
    the files and the site descriptions disagree.
    """
    routes = read_routes(routes_csv)
    devices = read_devices(devices_csv)
    unregistered = read_devices(unregistered_csv) if unregistered_csv is not None else ()
    registered_ids = {device.device_id for device in devices}
    route_ids = {route.route_id for route in routes}
    missing_climate = route_ids - CLIMATES.keys()
    if missing_climate:
        raise FleetError(
            f"no cooling curve in fleet.CLIMATES for route(s) {sorted(missing_climate)}"
        )
    gateway_ids = {gateway.gateway_id for gateway in GATEWAYS}
    sites = []
    for device in (*devices, *unregistered):
        if device.device_id not in _SITES:
            raise FleetError(f"{devices_csv}: no site in fleet._SITES for {device.device_id}")
        if device.route_id is not None and device.route_id not in route_ids:
            raise FleetError(
                f"{devices_csv}: device {device.device_id} is on route {device.route_id}, "
                f"which {routes_csv} does not list"
            )
        behaviour, radio = _SITES[device.device_id]
        if isinstance(behaviour, RoadProbe) and device.route_id is None:
            raise FleetError(f"{devices_csv}: road probe {device.device_id} needs a route_id")
        unknown = {gateway_id for gateway_id, _ in radio.heard_by} - gateway_ids
        if unknown or not radio.heard_by:
            raise FleetError(f"{device.device_id} must be heard by known gateways, not {unknown}")
        interval = _INTERVALS_S.get(device.device_id, 600)
        f_port = MILESIGHT_F_PORT if isinstance(behaviour, ClassroomSensor) else 1
        sites.append(
            Site(
                device=device,
                behaviour=behaviour,
                radio=radio,
                interval_s=interval,
                f_port=f_port,
                registered=device.device_id in registered_ids,
            )
        )
    return Fleet(routes=routes, sites=tuple(sites), gateways=GATEWAYS, climates=CLIMATES)
