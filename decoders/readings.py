"""A normalised reading: one canonical quantity, its value in the canonical unit."""

from typing import NamedTuple


class Reading(NamedTuple):
    """One value of one canonical quantity from one uplink.

    `invalid_reason` is set when plausibility rules reject the value (probe error
    code, outside the physical range, NaN): the reading is still stored, flagged,
    and never used by alerts. A NamedTuple rather than a frozen dataclass: it is
    built for every value of every uplink, and costs a third as much to make.
    """

    quantity: str
    value: float
    unit: str
    source_field: str
    invalid_reason: str | None = None

    @property
    def valid(self) -> bool:
        return self.invalid_reason is None
