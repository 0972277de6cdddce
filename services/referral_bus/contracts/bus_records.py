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
    """The router's answer to every submission (docs/design.md: every submission gets a receipt)."""

    receipt_id: UUID = Field(
        description="Deterministic id from the submission's topic, partition and offset: a re-sent receipt has the "
                    "same id")
    status: ReceiptStatus = Field(
        description="ACCEPTED (appended to the case log), DUPLICATE (the same event id and content already there, "
                    "nothing appended) or REJECTED (refused; see reason_code)")
    event_id: UUID | None = Field(default=None, description="Null when the bytes could not be decoded")
    event_type: RecordName | None = Field(
        default=None, description="The submitted record's name (= its Avro record name); null when the bytes could "
                                  "not be decoded")
    case_id: CaseId | None = Field(
        default=None, description="The submission's envelope.case_id; null when the bytes could not be decoded")
    producer_agency_id: AgencyId | None = Field(
        default=None, description="The submission's envelope.producer.agency_id; null when the bytes could not be "
                                  "decoded")
    sequence: int | None = Field(default=None, description="Position on the case log when accepted")
    reason_code: Code | None = Field(
        default=None, description="The refusal's code; every code, its meaning and paragraph are listed in "
                                  "schemas/reason-codes.json; null unless REJECTED")
    reason: BusText | None = Field(default=None, description="Which field, which rule, which paragraph")
    field: BusLabel | None = Field(
        default=None, description="The field the refusal is about, as a dotted path (e.g. envelope.signature); null "
                                  "when it is not about one field")
    paragraph: BusLabel | None = Field(
        default=None, description="The Annex B paragraph (or seed) of the broken rule, e.g. 6.18(c); null when the "
                                  "refusal is not a protocol rule")
    source_topic: TopicName = Field(
        description="The ingress topic the submission was read from, rb.ingress.<agency id>")
    source_partition: int = Field(description="The submission's partition on source_topic")
    source_offset: int = Field(description="The submission's offset in that partition")
    recorded_at: AwareDatetime = Field(description="When the router decided (timezone-aware)")


class DeadLetter(Record):
    """A rejected submission kept for operators, with the original bytes for reprocessing."""

    dead_letter_id: UUID = Field(description="Equals the receipt_id of the Receipt that refused the submission")
    reason_code: Code = Field(
        description="The refusal's code; every code, its meaning and paragraph are listed in "
                    "schemas/reason-codes.json")
    reason: BusText = Field(
        description="Which field, which rule, which paragraph, as in the Receipt; never personal data")
    field: BusLabel | None = Field(
        default=None, description="The field the refusal is about, as a dotted path (e.g. envelope.signature); null "
                                  "when it is not about one field")
    paragraph: BusLabel | None = Field(
        default=None, description="The Annex B paragraph (or seed) of the broken rule, e.g. 6.18(c); null when the "
                                  "refusal is not a protocol rule")
    event_id: UUID | None = Field(
        default=None, description="The submission's envelope.event_id; null when the bytes could not be decoded")
    case_id: CaseId | None = Field(
        default=None, description="The submission's envelope.case_id; null when the bytes could not be decoded")
    source_topic: TopicName = Field(
        description="The ingress topic the submission was read from, rb.ingress.<agency id>")
    source_partition: int = Field(description="The submission's partition on source_topic")
    source_offset: int = Field(description="The submission's offset in that partition")
    original_key: bytes | None = Field(
        default=None, description="The submission's Kafka key bytes as sent (UTF-8 case id expected); null when it "
                                  "had none")
    original_value: bytes | None = Field(default=None, description="Truncated to the size limit")
    recorded_at: AwareDatetime = Field(description="When the router refused the submission (timezone-aware)")


class SigningKeyEnrolled(Record):
    """An agency's Ed25519 public key, from now on accepted on its events (docs/security.md)."""

    key_id: KeyId = Field(description="<agency id>:<first 16 hex digits of SHA-256 of the public key>")
    agency_id: AgencyId = Field(description="The agency (agencies.yaml id) whose events the key signs")
    public_key: bytes = Field(description="The raw 32-byte Ed25519 public key")
    enrolled_at: AwareDatetime = Field(
        description="From when the key is accepted on the agency's events (timezone-aware)")
    enrolled_by: ActorToken = Field(description="The operator or tool that enrolled it (a pseudonymous id)")


class SigningKeyRevoked(Record):
    """From ``revoked_at`` on, events signed with the key are refused; earlier ones stay valid."""

    key_id: KeyId = Field(description="The key revoked, as in its SigningKeyEnrolled")
    agency_id: AgencyId = Field(description="The agency (agencies.yaml id) the key belongs to")
    revoked_at: AwareDatetime = Field(description="From when events signed with the key are refused (timezone-aware)")
    reason: BusText = Field(description="Why, e.g. rotated, compromised, agency left the bus")
    revoked_by: ActorToken = Field(description="The operator or tool that revoked it (a pseudonymous id)")


class CaseHead(Record):
    """Where a case's chain stood: its last sequence number and that event's hash."""

    case_id: CaseId = Field(description="The case whose chain head this is")
    sequence: int = Field(description="The case's last sequence number on the case log at the checkpoint")
    hash: Digest = Field(description="That event's envelope.hash: SHA-256, 64 lower-case hex digits")


class ChainCheckpoint(Record):
    """The router's signed statement of the chain heads of the cases it appended to in one batch
    (docs/security.md): deleting a case's newest events, or rewriting a whole case, leaves a log
    that no longer matches a checkpoint the router signed — found by ``verify``."""

    checkpoint_id: UUID = Field(description="A random UUID the router gives the checkpoint")
    recorded_at: AwareDatetime = Field(description="When the router signed the checkpoint (timezone-aware)")
    heads: list[CaseHead] = Field(description="The chain head of every case the router appended to in the batch")
    signature: bytes = Field(description="The router key's signature, in the format of envelope.signature")


class Quarantined(Record):
    """A record a consumer could not use (it does not decode, or is not what the topic carries),
    set aside so that processing goes on (docs/reliability.md). Coordinates and reason only: the
    bytes stay on their topic, readable by whoever may read that topic — operators reading this
    one may not read the case log."""

    quarantine_id: UUID = Field(description="Deterministic: the same consumer and record give the same id")
    consumer: BusLabel = Field(description="router, sla, projections or an agency's SDK inbox")
    source_topic: TopicName = Field(description="The topic of the record set aside")
    source_partition: int = Field(description="Its partition on source_topic")
    source_offset: int = Field(description="Its offset in that partition; the bytes stay there")
    reason_code: Code = Field(description="Why it was set aside: a decoding code (e.g. UNDECODABLE, "
                                          "UNKNOWN_SCHEMA_ID), UNEXPECTED_RECORD, or a broken case chain")
    reason: BusText = Field(description="The consumer's explanation; never personal data")
    recorded_at: AwareDatetime = Field(description="When the consumer set it aside (timezone-aware)")


class CaseRead(Record):
    """One read of a case by a person or tool (docs/security.md, audited reads): who read which case,
    when, with which command and why — never what was shown, and no personal data. Written on the
    read-audit topic *before* the data is shown, each record chained to the one before it
    (``domain/read_audit.py``): ``sequence`` counts from 1 over the whole topic, ``previous_hash`` is
    the hash of record ``sequence - 1`` (64 zeros for the first) and ``hash`` is SHA-256 over it and
    the record's canonical JSON (``domain/chain.py``)."""

    read_id: UUID = Field(description="A random UUID the reading tool gives the read")
    sequence: int = Field(description="Position on the read-audit chain, from 1")
    case_id: CaseId = Field(description="The case that was read")
    reader: ActorToken = Field(description="Who read: the operator named with --as or REFERRAL_BUS_OPERATOR, "
                                           "else the Kafka principal, else the machine's login name")
    principal: ActorToken | None = Field(default=None, description="The authenticated Kafka principal (SASL) the "
                                                                   "read was made with; null on a plaintext bus")
    tool: BusLabel = Field(description="The command, e.g. history, told, sla explain")
    query: BusLabel | None = Field(default=None, description="Its arguments that say what was asked (--as-of, the "
                                                             "agency of told, the source), no personal data")
    purpose: BusLabel = Field(description="Why, as the reader stated it (--purpose): a task, ticket or legal basis")
    read_at: AwareDatetime = Field(description="When the read was made, before anything was shown (timezone-aware)")
    previous_hash: Digest = Field(
        description="The hash of record sequence - 1 on the read-audit chain; 64 zeros for the first")
    hash: Digest | None = Field(default=None, description="SHA-256 over previous_hash and this record")
