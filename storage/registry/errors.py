"""Errors the registry raises, split by what the caller should do next."""

from collections.abc import Sequence

from storage.registry.records import FieldProblem, RowError


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


class NotRegistered(RegistryError, LookupError):
    """The device, route or key named is not in the registry: check the id."""


class AlreadyRegistered(RegistryError):
    """The change would give a second device the same id or DevEUI (or a second route or key
    the same id); `owner` names the entity that already holds it."""

    def __init__(self, message: str, *, owner: str) -> None:
        self.owner = owner
        super().__init__(message)


class InUse(RegistryError):
    """The entity cannot go while others still refer to it (a route with devices on it)."""


class ChangeRejected(RegistryError, ValueError):
    """A single device, route or key was refused and nothing was written.

    `problems` lists every rule the change breaks, each naming its field, so the
    whole request can be fixed in one go. The messages are the CSV import's.
    """

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems: list[FieldProblem] = list(problems)
        super().__init__("; ".join(problem.reason for problem in self.problems))


class LeaseLost(RegistryError):
    """A write made under a lease was refused: the lease expired or another process holds it
    now, so this process must stop acting for it."""
