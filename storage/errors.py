"""Errors a readings store raises, split by what the caller should do next."""


class StoreError(Exception):
    """Base class for readings-store failures."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or is overloaded: keep the points and try again later."""


class StoreRejected(StoreError):
    """The store refused the points themselves (bad data, type conflict): retrying will not help."""
