"""The quantity catalogue: every canonical name wherry stores, its unit and its plausible range.

Vendors disagree on names and units (`TempC1`, `temperature`, `Temp_Red`; °C, °F; mm, cm).
Everything past the decoders speaks only these names and units, so an alert rule written
for `road_surface_temperature` in °C works for every road sensor from every vendor.

The range is physical plausibility, not a comfort band: a value outside it is a sensor
or decoding fault, never weather. Such readings are stored flagged and never used by alerts.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

Domain = Literal["road", "air", "water", "device"]


@dataclass(frozen=True, slots=True)
class Quantity:
    """One canonical quantity: its name, canonical unit, domain and plausible range."""

    name: str
    unit: str
    domain: Domain
    minimum: float
    maximum: float
    description: str


def _catalogue(*quantities: Quantity) -> Mapping[str, Quantity]:
    return MappingProxyType({quantity.name: quantity for quantity in quantities})


QUANTITIES: Mapping[str, Quantity] = _catalogue(
    # road
    Quantity(
        "road_surface_temperature",
        "°C",
        "road",
        -50.0,
        80.0,
        "Road surface temperature (RST): the variable gritting decisions are made on.",
    ),
    Quantity(
        "surface_wet",
        "1",
        "road",
        0.0,
        1.0,
        "Road surface state from sensors that report it: 1 = wet, 0 = dry.",
    ),
    # air
    Quantity(
        "air_temperature",
        "°C",
        "air",
        -60.0,
        60.0,
        "Air temperature near the sensor.",
    ),
    Quantity(
        "relative_humidity",
        "%",
        "air",
        0.0,
        100.0,
        "Relative humidity of the air.",
    ),
    Quantity(
        "dew_point",
        "°C",
        "air",
        -80.0,
        60.0,
        "Dew point; derived by wherry from air temperature and relative humidity (Magnus).",
    ),
    Quantity(
        "barometric_pressure",
        "hPa",
        "air",
        300.0,
        1100.0,
        "Atmospheric pressure at the sensor (not reduced to sea level).",
    ),
    Quantity("pm1_0", "µg/m³", "air", 0.0, 1000.0, "PM1.0 mass concentration."),
    Quantity("pm2_5", "µg/m³", "air", 0.0, 1000.0, "PM2.5 mass concentration (DAQI pollutant)."),
    Quantity("pm4_0", "µg/m³", "air", 0.0, 1000.0, "PM4.0 mass concentration."),
    Quantity("pm10", "µg/m³", "air", 0.0, 1000.0, "PM10 mass concentration (DAQI pollutant)."),
    Quantity("no2", "ppb", "air", 0.0, 20000.0, "Nitrogen dioxide (DAQI pollutant)."),
    Quantity("o3", "ppb", "air", 0.0, 20000.0, "Ozone (DAQI pollutant)."),
    Quantity(
        "co2",
        "ppm",
        "air",
        100.0,
        40000.0,
        "Carbon dioxide; indoor comfort. Below 100 ppm is a sensor warming up or failing.",
    ),
    Quantity("tvoc", "ppb", "air", 0.0, 60000.0, "Total volatile organic compounds."),
    Quantity("hcho", "mg/m³", "air", 0.0, 10.0, "Formaldehyde."),
    Quantity("illuminance", "lx", "air", 0.0, 200000.0, "Illuminance (light level)."),
    # water
    Quantity("water_temperature", "°C", "water", -5.0, 50.0, "Water temperature."),
    Quantity(
        "conductivity",
        "µS/cm",
        "water",
        0.0,
        200000.0,
        "Electrical conductivity of the water.",
    ),
    Quantity(
        "dissolved_oxygen",
        "mg/L",
        "water",
        0.0,
        50.0,
        "Dissolved oxygen concentration.",
    ),
    Quantity(
        "dissolved_oxygen_saturation",
        "%",
        "water",
        0.0,
        500.0,
        "Dissolved oxygen as a percentage of saturation.",
    ),
    Quantity("ph", "pH", "water", 0.0, 14.0, "Acidity (pH)."),
    Quantity(
        "redox_potential",
        "mV",
        "water",
        -2000.0,
        2000.0,
        "Oxidation-reduction potential (ORP, redox).",
    ),
    Quantity("turbidity", "NTU", "water", 0.0, 10000.0, "Turbidity."),
    Quantity(
        "water_level",
        "m",
        "water",
        -20.0,
        100.0,
        "Water level above the gauge's datum.",
    ),
    Quantity(
        "water_depth",
        "m",
        "water",
        -1.0,
        200.0,
        "Depth of the sensor below the water surface (from hydrostatic pressure).",
    ),
    Quantity(
        "distance",
        "m",
        "water",
        0.0,
        100.0,
        "Distance measured by a ranging sensor, e.g. down to a water surface.",
    ),
    Quantity(
        "pressure",
        "hPa",
        "water",
        -1100.0,
        100000.0,
        "Gauge (relative) pressure of a liquid-level or pipe sensor.",
    ),
    # device
    Quantity("battery_voltage", "V", "device", 0.0, 30.0, "Battery or supply voltage."),
    Quantity("battery_level", "%", "device", 0.0, 100.0, "Battery charge as reported."),
)
