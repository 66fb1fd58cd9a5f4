"""A believable night in Matlock for the browser tests: three gritting routes with road
sensors, a classroom air sensor a school publishes, and the uplinks they send.

Realistic on purpose: the screenshots in the README are taken from this data.
"""

from __future__ import annotations

import math
from pathlib import Path

from tests.ingest_support import publish_all
from tests.uplinks import (
    cayenne_temperature_humidity,
    dl_ds18_payload,
    encode,
    ttn_topic,
    ttn_uplink,
)

APPLICATION = "matlock-roads"
TEN_MINUTES_NS = 600 * 1_000_000_000
COUNCIL = "Derbyshire County Council Highways"

ROUTES_CSV = """route_id,name,length_km,priority,area
matlock-bank,Matlock Bank: Bank Road and Smedley Street,6.4,1,Matlock
derwent-bridge,Matlock Bridge and the A6 approaches,3.1,1,Matlock
town-centre,Town centre: Crown Square and Dale Road,4.8,2,Matlock
"""

ROAD_SENSORS: dict[str, tuple[str, str, str, float, float]] = {
    # device id: (dev_eui, name, route, latitude, longitude)
    "rst-bank-road-lower": (
        "70B3D57BA0000A11",
        "Bank Road (lower)",
        "matlock-bank",
        53.13905,
        -1.55452,
    ),
    "rst-bank-road-upper": (
        "70B3D57BA0000A12",
        "Bank Road (upper)",
        "matlock-bank",
        53.14118,
        -1.55127,
    ),
    "rst-matlock-bridge": (
        "70B3D57BA0000A16",
        "Matlock Bridge deck (A6)",
        "derwent-bridge",
        53.13712,
        -1.55768,
    ),
    "rst-bakewell-road": (
        "70B3D57BA0000A17",
        "Bakewell Road bridge approach",
        "derwent-bridge",
        53.13838,
        -1.56071,
    ),
    "rst-crown-square": ("70B3D57BA0000A14", "Crown Square", "town-centre", 53.13761, -1.55592),
}
CLASSROOM = "aq-derwent-vale-primary"
CLASSROOM_EUI = "A840410001817B01"
PLAYGROUND = "aq-highfields-playground"
PLAYGROUND_EUI = "A840410001817B02"

DEVICES_CSV = (
    "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,field_map\n"
    + "".join(
        f"{device},{eui},{name},decentlab-dl-ds18,road,{route},{lat},{lon},false,{COUNCIL},\n"
        for device, (eui, name, route, lat, lon) in ROAD_SENSORS.items()
    )
    + f"{CLASSROOM},{CLASSROOM_EUI},Derwent Vale Primary classroom,cayenne-lpp,air,,"
    "53.14452,-1.55603,true,Derwent Vale Primary School,\n"
    + f"{PLAYGROUND},{PLAYGROUND_EUI},Highfields School playground,cayenne-lpp,air,,"
    "53.14702,-1.54811,true,Highfields School,\n"
)

NEW_SENSOR = ("rst-dale-road", "70B3D57BA0000A15", "Dale Road (Firs Parade)")
"""Registered through the form by the engineer test, then heard for the first time."""
UNREGISTERED = ("rst-snitterton-lane", "70B3D57BA0000C31")
"""Heard on the network but never registered: what /sightings is for."""

SEEDED_RECOMMENDATIONS = {
    "matlock-bank": "TREAT",
    "derwent-bridge": "NO_ACTION",
    "town-centre": "NO_ACTION",
}
"""The board once `seed_evening` has been decided."""

LOW_BATTERY = {"rst-crown-square": 2.88}
"""Volts: the engineer's devices list has something to flag."""
WEAK_LINK = {PLAYGROUND: (-123.0, -16.5)}
"""RSSI and SNR of a sensor on the edge of the network's reach."""

OTHER_EUIS = {NEW_SENSOR[0]: NEW_SENSOR[1], UNREGISTERED[0]: UNREGISTERED[1]}

COLD_ROUTE = "derwent-bridge"
"""The route the board test watches turn to TREAT; nothing else sends readings for it."""


def write_fleet(directory: Path) -> tuple[Path, Path]:
    routes, devices = directory / "routes.csv", directory / "devices.csv"
    routes.write_text(ROUTES_CSV)
    devices.write_text(DEVICES_CSV)
    return routes, devices


def road_reading(device: str, at_ns: int, f_cnt: int, celsius: float) -> tuple[str, bytes]:
    eui = ROAD_SENSORS[device][0] if device in ROAD_SENSORS else OTHER_EUIS[device]
    uplink = ttn_uplink(
        device,
        received_at_ns=at_ns,
        f_cnt=f_cnt,
        payload=dl_ds18_payload(f_cnt % 7 + 1, celsius, LOW_BATTERY.get(device, 3.05)),
        application_id=APPLICATION,
        dev_eui=eui,
        rssi=-104.0 + (f_cnt % 5),
        snr=6.0 - (f_cnt % 3),
    )
    return ttn_topic(device, APPLICATION), encode(uplink)


STEP_NS = 2 * TEN_MINUTES_NS
STEPS = 72
"""A day of readings, one every twenty minutes: enough for the charts to tell a story."""


Timed = tuple[int, str, bytes]
"""(received at, topic, message)."""


def cooling(
    route: str, now_ns: int, start_c: float, end_c: float, f_cnt_from: int = 0
) -> list[Timed]:
    """A day of the route's sensors: `start_c` yesterday afternoon, cooling ever faster
    through the evening to `end_c` now."""
    sensors = [d for d, (_, _, r, _, _) in ROAD_SENSORS.items() if r == route]
    messages = []
    for step in range(STEPS + 1):
        at = now_ns - (STEPS - step) * STEP_NS
        fall = (step / STEPS) ** 2
        for number, device in enumerate(sensors):
            celsius = round(start_c + (end_c - start_c) * fall + number * 0.15, 2)
            reading = road_reading(device, at + number, f_cnt_from + step, celsius)
            messages.append((at + number, *reading))
    return messages


def school_day(now_ns: int) -> list[Timed]:
    """A day at two schools: a classroom cool overnight, warm and humid while the class is
    in and aired at break; a playground following the weather. Charts worth looking at."""
    messages = []
    for step in range(STEPS + 1):
        at = now_ns - (STEPS - step) * STEP_NS
        day = math.sin(2 * math.pi * step / STEPS)
        aired = step % 24 == 8
        classroom = (
            round(18.0 + 3.0 * day - (1.2 if aired else 0), 1),
            round(46 + 8 * max(day, 0) - (4 if aired else 0), 1),
        )
        outside = (round(4.5 + 4.0 * day, 1), round(82 - 12 * day, 1))
        for device, eui, (celsius, humidity) in (
            (CLASSROOM, CLASSROOM_EUI, classroom),
            (PLAYGROUND, PLAYGROUND_EUI, outside),
        ):
            rssi, snr = WEAK_LINK.get(device, (-97.0, 7.5))
            uplink = ttn_uplink(
                device,
                received_at_ns=at,
                f_cnt=step,
                payload=cayenne_temperature_humidity(celsius, humidity),
                application_id=APPLICATION,
                dev_eui=eui,
                rssi=rssi,
                snr=snr,
            )
            messages.append((at, ttn_topic(device, APPLICATION), encode(uplink)))
    return messages


def seed_evening(port: int, now_ns: int) -> None:
    """Bank Road has frozen, the town centre stays mild, the schools are busy, and a stray
    sensor nobody registered is heard. The A6 bridge was mild until twenty minutes ago:
    `freeze` sends what came after."""
    messages = (
        cooling("matlock-bank", now_ns, 8.2, -1.4)
        + cooling(COLD_ROUTE, now_ns - 2 * TEN_MINUTES_NS, 9.1, 5.0)
        + cooling("town-centre", now_ns, 10.4, 6.8)
        + school_day(now_ns)
    )
    stray = now_ns - 3 * TEN_MINUTES_NS
    messages.append((stray, *road_reading(UNREGISTERED[0], stray, 4, 1.8)))
    publish_all(port, [(topic, body) for _, topic, body in sorted(messages)])  # as they happened


def freeze(port: int, route: str, now_ns: int) -> None:
    """Frost on the route: its sensors fall from +3.6 °C to below zero over the last quarter
    of an hour (as fast as a road surface can, so no reading is taken for a glitch)."""
    sensors = [d for d, (_, _, r, _, _) in ROAD_SENSORS.items() if r == route]
    steps = [(15, 3.6), (10, 2.0), (5, 0.5), (0, -0.7)]
    publish_all(
        port,
        [
            road_reading(device, now_ns - minutes * 60_000_000_000 + n, 100 + i, celsius + n * 0.2)
            for i, (minutes, celsius) in enumerate(steps)
            for n, device in enumerate(sensors)
        ],
    )
