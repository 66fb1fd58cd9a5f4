"""The one exception envelope parsing raises, with a machine reason dead letters are counted by."""

from typing import Literal, get_args

EnvelopeReason = Literal["malformed_json", "invalid_envelope", "invalid_base64", "oversize"]
"""Why a message could not become an `Uplink`:

- ``malformed_json``: not JSON at all (truncated, invalid UTF-8, NaN/Infinity literals,
  nested deeper than the parser allows).
- ``invalid_envelope``: JSON, but not the shape the network server documents (missing
  field, wrong type, unparsable timestamp); the message names the field.
- ``invalid_base64``: the payload field is not base64.
- ``oversize``: the body is larger than the configured limit; it was not parsed.
"""

ENVELOPE_REASONS: tuple[EnvelopeReason, ...] = get_args(EnvelopeReason)


class EnvelopeError(ValueError):
    """A message that is not a parsable uplink envelope.

    `reason` is one of `ENVELOPE_REASONS` (stable, for counters and filters);
    `message` (also `str(error)`) says what was wrong in words an engineer can act on.
    """

    def __init__(self, reason: EnvelopeReason, message: str) -> None:
        super().__init__(message)
        self.reason: EnvelopeReason = reason
        self.message = message

    def __reduce__(self) -> tuple[type["EnvelopeError"], tuple[EnvelopeReason, str]]:
        # Keep pickling (multiprocessing, logging handlers) working with two arguments.
        return (type(self), (self.reason, self.message))
