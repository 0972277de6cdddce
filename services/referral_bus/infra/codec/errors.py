"""Why bytes could not become a record; the router turns these into receipts and dead letters."""

from __future__ import annotations


class DecodeError(ValueError):
    """Raised by the codec; ``code`` is a stable reason code, ``field`` the offending field if known."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
