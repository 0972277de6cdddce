"""Records the bus itself writes: receipts to producers and dead letters for operators."""

from __future__ import annotations

from enum import Enum
from uuid import UUID

from pydantic import Field

from referral_bus.contracts.base import AwareDatetime, Record


class ReceiptStatus(str, Enum):
    ACCEPTED = "ACCEPTED"
    DUPLICATE = "DUPLICATE"      # same event id and content already on the case log: nothing appended
    REJECTED = "REJECTED"


class Receipt(Record):
    """The router's answer to every submission (DESIGN.md: every submission gets a receipt)."""

    receipt_id: UUID
    status: ReceiptStatus
    event_id: UUID | None = Field(default=None, description="Null when the bytes could not be decoded")
    event_type: str | None = None
    case_id: str | None = None
    producer_agency_id: str | None = None
    sequence: int | None = Field(default=None, description="Position on the case log when accepted")
    reason_code: str | None = None
    reason: str | None = Field(default=None, description="Which field, which rule, which paragraph")
    field: str | None = None
    paragraph: str | None = None
    source_topic: str
    source_partition: int
    source_offset: int
    recorded_at: AwareDatetime


class DeadLetter(Record):
    """A rejected submission kept for operators, with the original bytes for reprocessing."""

    dead_letter_id: UUID
    reason_code: str
    reason: str
    field: str | None = None
    paragraph: str | None = None
    event_id: UUID | None = None
    case_id: str | None = None
    source_topic: str
    source_partition: int
    source_offset: int
    original_key: bytes | None = None
    original_value: bytes | None = Field(default=None, description="Truncated to the size limit")
    recorded_at: AwareDatetime
