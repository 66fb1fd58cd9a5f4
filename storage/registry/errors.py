"""Errors the registry raises, split by what the caller should do next."""

from collections.abc import Sequence

from storage.registry.records import RowError


class RegistryError(Exception):
    """Base class for registry failures."""


class InvalidRegistryUrl(RegistryError, ValueError):
    """The registry URL is not one wherry can use: fix the setting and start again."""


class RegistryUnavailable(RegistryError):
    """The database cannot be reached, opened or locked in time: try again later."""


class SchemaNotCurrent(RegistryError):
    """The database schema is not the one this code expects: run `wherry migrate`
    (or, if the database is newer than this code, upgrade wherry)."""


class ImportRejected(RegistryError):
    """An import was refused as a whole and nothing was written.

    `errors` lists every problem found, each with the CSV line (when known), the
    id on that row and the reason, so the whole file can be fixed in one go.
    """

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors: list[RowError] = list(errors)
        shown = "\n".join(f"  {error}" for error in self.errors[:20])
        more = len(self.errors) - 20
        tail = f"\n  … and {more} more" if more > 0 else ""
        super().__init__(
            f"import refused, nothing was written ({len(self.errors)} problem"
            f"{'' if len(self.errors) == 1 else 's'}):\n{shown}{tail}"
        )
