"""Why bytes could not become a record; the router turns these into receipts and dead letters."""

from __future__ import annotations

from referral_bus.domain.rejections import cite


class DecodeError(ValueError):
    """Raised by the codec; ``code`` is a stable reason code, ``field`` the offending field if known,
    ``paragraph`` the Annex B paragraph of the broken rule if it has one (``message`` leaves it out;
    the text of the error cites it as the router's refusals do)."""

    def __init__(self, code: str, message: str, field: str | None = None, paragraph: str | None = None) -> None:
        super().__init__(f"{message} ({cite(paragraph)})" if paragraph else message)
        self.code = code
        self.message = message
        self.field = field
        self.paragraph = paragraph
