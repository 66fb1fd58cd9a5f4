"""Who may do what: four roles, and the groups of roles each kind of route admits."""

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"  # keys, audit log, everything
    engineer = "engineer"  # devices, routes, decoders, sightings, dead letters
    highways = "highways"  # acknowledge alerts, log treatments
    reader = "reader"  # restricted (non-public) data, read only


ANY_KEY = frozenset(Role)
"""Any valid key: reading restricted data."""
ENGINEERS = frozenset({Role.admin, Role.engineer})
"""Changing devices and routes, decoders, sightings, dead letters."""
HIGHWAYS = frozenset({Role.admin, Role.highways})
"""Acknowledging alerts and logging treatments."""
RESPONDERS = HIGHWAYS | ENGINEERS
"""Acknowledging alerts: highways for the roads, engineers for devices, water and air."""
ADMINS = frozenset({Role.admin})
"""Keys and the audit log."""
