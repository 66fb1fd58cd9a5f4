"""The one exception a decoder may raise."""


class DecodeError(ValueError):
    """A payload this decoder cannot read: truncated, wrong version, wrong port, bad field.

    The message says what was wrong and, for byte formats, at which byte, so an
    engineer reading the dead-letter list can act on it.
    """


class UnknownDecoder(LookupError):
    """No decoder is registered under this id."""
