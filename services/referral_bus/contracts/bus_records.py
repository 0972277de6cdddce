"""Records the bus itself writes: receipts to producers, dead letters for operators, the
signing-key directory (enrolments and revocations by the bus administrator), the router's chain
checkpoints and the audit trail of reads (``CaseRead``)."""

from __future__ import annotations

from enum import Enum
from uuid import UUID

from pydantic import Field

from referral_bus.contracts.base import (
    ActorToken,
    AgencyId,
    AwareDatetime,
    BusLabel,
    BusText,
    CaseId,
    Code,
    Digest,
    KeyId,
    Record,
    RecordName,
    TopicName,
)


class ReceiptStatus(str, Enum):
    ACCEPTED = "ACCEPTED"
    DUPLICATE = "DUPLICATE"      # same event id and content already on the case log: nothing appended
    REJECTED = "REJECTED"


class Receipt(Record):
    """The router's answer to every submission (DESIGN.md: every submission gets a receipt)."""

    receipt_id: UUID
    status: ReceiptStatus
    event_id: UUID | None = Field(default=None, description="Null when the bytes could not be decoded")
    event_type: RecordName | None = None
    case_id: CaseId | None = None
    producer_agency_id: AgencyId | None = None
    sequence: int | None = Field(default=None, description="Position on the case log when accepted")
    reason_code: Code | None = None
    reason: BusText | None = Field(default=None, description="Which field, which rule, which paragraph")
    field: BusLabel | None = None
    paragraph: BusLabel | None = None
    source_topic: TopicName
    source_partition: int
    source_offset: int
    recorded_at: AwareDatetime


class DeadLetter(Record):
    """A rejected submission kept for operators, with the original bytes for reprocessing."""

    dead_letter_id: UUID
    reason_code: Code
    reason: BusText
    field: BusLabel | None = None
    paragraph: BusLabel | None = None
    event_id: UUID | None = None
    case_id: CaseId | None = None
    source_topic: TopicName
    source_partition: int
    source_offset: int
    original_key: bytes | None = None
    original_value: bytes | None = Field(default=None, description="Truncated to the size limit")
    recorded_at: AwareDatetime


class SigningKeyEnrolled(Record):
    """An agency's Ed25519 public key, from now on accepted on its events (docs/security.md)."""

    key_id: KeyId = Field(description="<agency id>:<first 16 hex digits of SHA-256 of the public key>")
    agency_id: AgencyId
    public_key: bytes = Field(description="The raw 32-byte Ed25519 public key")
    enrolled_at: AwareDatetime
    enrolled_by: ActorToken = Field(description="The operator or tool that enrolled it (a pseudonymous id)")


class SigningKeyRevoked(Record):
    """From ``revoked_at`` on, events signed with the key are refused; earlier ones stay valid."""

    key_id: KeyId
    agency_id: AgencyId
    revoked_at: AwareDatetime
    reason: BusText = Field(description="Why, e.g. rotated, compromised, agency left the bus")
    revoked_by: ActorToken


class CaseHead(Record):
    """Where a case's chain stood: its last sequence number and that event's hash."""

    case_id: CaseId
    sequence: int
    hash: Digest


class ChainCheckpoint(Record):
    """The router's signed statement of the chain heads of the cases it appended to in one batch
    (docs/security.md): deleting a case's newest events, or rewriting a whole case, leaves a log
    that no longer matches a checkpoint the router signed — found by ``verify``."""

    checkpoint_id: UUID
    recorded_at: AwareDatetime
    heads: list[CaseHead]
    signature: bytes = Field(description="The router key's signature, in the format of envelope.signature")


class Quarantined(Record):
    """A record a consumer could not use (it does not decode, or is not what the topic carries),
    set aside so that processing goes on (docs/reliability.md). Coordinates and reason only: the
    bytes stay on their topic, readable by whoever may read that topic — operators reading this
    one may not read the case log."""

    quarantine_id: UUID = Field(description="Deterministic: the same consumer and record give the same id")
    consumer: BusLabel = Field(description="router, sla, projections or an agency's SDK inbox")
    source_topic: TopicName
    source_partition: int
    source_offset: int
    reason_code: Code
    reason: BusText
    recorded_at: AwareDatetime


class CaseRead(Record):
    """One read of a case by a person or tool (docs/security.md, audited reads): who read which case,
    when, with which command and why — never what was shown, and no personal data. Written on the
    read-audit topic *before* the data is shown, each record chained to the one before it
    (``domain/read_audit.py``): ``sequence`` counts from 1 over the whole topic, ``previous_hash`` is
    the hash of record ``sequence - 1`` (64 zeros for the first) and ``hash`` is SHA-256 over it and
    the record's canonical JSON (``domain/chain.py``)."""

    read_id: UUID
    sequence: int = Field(description="Position on the read-audit chain, from 1")
    case_id: CaseId
    reader: ActorToken = Field(description="Who read: the operator named with --as or REFERRAL_BUS_OPERATOR, "
                                           "else the Kafka principal, else the machine's login name")
    principal: ActorToken | None = Field(default=None, description="The authenticated Kafka principal (SASL) the "
                                                                   "read was made with; null on a plaintext bus")
    tool: BusLabel = Field(description="The command, e.g. history, told, sla explain")
    query: BusLabel | None = Field(default=None, description="Its arguments that say what was asked (--as-of, the "
                                                             "agency of told, the source), no personal data")
    purpose: BusLabel = Field(description="Why, as the reader stated it (--purpose): a task, ticket or legal basis")
    read_at: AwareDatetime
    previous_hash: Digest
    hash: Digest | None = Field(default=None, description="SHA-256 over previous_hash and this record")
