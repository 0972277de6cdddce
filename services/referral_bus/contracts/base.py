"""Building blocks shared by every contract: the record base class, the envelope, personal data."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

NAMESPACE = "kz.referralbus"

#: Case ids are opaque, pseudonymous identifiers; they must never encode a child's identity.
CASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{2,63}$")
#: Staff ids and roles: pseudonymous tokens, never a name or free text (no spaces, no line breaks).
ACTOR_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")


def _bounded(low: int, high: int, why: str) -> AfterValidator:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be {low}–{high}: {why}")
        return value
    return AfterValidator(check)


#: A child's age in whole years: a child is an individual aged 0 to 18 (Annex B, part 2).
ChildAge = Annotated[int, _bounded(0, 17, "a child is an individual aged 0 to 18 (Annex B, part 2)")]
#: An age on record as it changes: 18 is recorded once, as the end of child protection (6.74(a), 6.78(a)).
AgeOnRecord = Annotated[int, _bounded(0, 18, "a child is 0–17; 18 ends child protection (Annex B 6.74(a), 6.78(a))")]
#: An age asserted or assessed for an individual whose age is disputed (6.8–6.11): may be an adult's.
AssessedAge = Annotated[int, _bounded(0, 99, "an age in whole years")]


class Record(BaseModel):
    """A model that is also an Avro record (its class name is the record name)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False, ser_json_bytes="base64",
                              val_json_bytes="base64")
    avro_namespace: ClassVar[str] = NAMESPACE


class City(str, Enum):
    """The four locations where Annex B applies (Annex B, part 1)."""

    NUR_SULTAN = "NUR_SULTAN"
    ALMATY = "ALMATY"
    SHYMKENT = "SHYMKENT"
    TURKESTAN_OBLAST = "TURKESTAN_OBLAST"


class Producer(Record):
    """Who produced an event: the agency (from the directory) and a pseudonymous staff id."""

    agency_id: str = Field(description="Agency id from agencies.yaml, e.g. police-juvenile-almaty")
    actor_id: str = Field(description="Pseudonymous staff identifier inside the agency (never a name)")
    actor_role: str | None = Field(default=None, description="Role, e.g. juvenile_inspector")

    @field_validator("actor_id", "actor_role")
    @classmethod
    def _pseudonymous(cls, value: str | None) -> str | None:
        if value is not None and not ACTOR_PATTERN.match(value):
            raise ValueError("must be 1-64 characters of letters, digits and . _ : @ - (a pseudonymous staff id or "
                             "role, never a name or free text)")
        return value


class Envelope(Record):
    """Metadata every event carries (DESIGN.md). The router fills recorded_at, sequence and hashes."""

    event_id: UUID = Field(description="Idempotency key chosen by the producer")
    event_type: str = Field(description="Equals the Avro record name of the event")
    schema_version: int = Field(description="Version of the event type's schema the producer used")
    case_id: str = Field(description="Opaque, pseudonymous case identifier")
    occurred_at: AwareDatetime = Field(description="When it happened in the world (timezone-aware)")
    recorded_at: AwareDatetime | None = Field(default=None, description="Set by the router on append")
    producer: Producer
    correlation_id: UUID | None = Field(default=None, description="Groups events of one interaction")
    causation_id: UUID | None = Field(default=None, description="The event that caused this one")
    sequence: int | None = Field(default=None, description="Per-case position on the case log (router)")
    previous_hash: str | None = Field(default=None, description="Hash of the case's previous event (router)")
    hash: str | None = Field(default=None, description="SHA-256 over previous_hash and this event (router)")
    signature: bytes | None = Field(default=None, description="Reserved: the producer's signature")

    @field_validator("case_id")
    @classmethod
    def _case_id_shape(cls, value: str) -> str:
        if not CASE_ID_PATTERN.match(value):
            raise ValueError("case_id must be 3-64 characters of letters, digits and . _ : - "
                             "(an opaque id, never personal data)")
        return value


def submitted_envelope(*, event_id: UUID, event_type: str, schema_version: int, case_id: str, occurred_at: Any,
                       producer: dict[str, Any], correlation_id: UUID | None = None,
                       causation_id: UUID | None = None) -> dict[str, Any]:
    """The envelope fields of a submission as an agency sends it — everything the router sets
    (recorded_at, sequence, hashes) empty. Shared by the SDK and the simulator, which builds
    deliberately invalid events too, so it is a plain mapping validated by ``Envelope`` later."""
    return {"event_id": event_id, "event_type": event_type, "schema_version": schema_version, "case_id": case_id,
            "occurred_at": occurred_at, "recorded_at": None, "producer": producer, "correlation_id": correlation_id,
            "causation_id": causation_id, "sequence": None, "previous_hash": None, "hash": None, "signature": None}


class ParentOrRepresentative(Record):
    """Personal details of a parent or legal representative (Part 8 form, section C)."""

    name: str | None = None
    address: str | None = None
    marital_status: str | None = None
    languages: list[str] = Field(default_factory=list)
    interpreter_needs: str | None = None


class PersonalData(Record):
    """Everything that identifies a child or family. Kept in one record so it can be encrypted
    and later erased by destroying its key (DESIGN.md: personal data); never logged."""

    child_name: str | None = None
    child_date_of_birth: date | None = None
    child_address: str | None = None
    child_languages: list[str] = Field(default_factory=list)
    child_interpreter_needs: str | None = None
    child_disability: str | None = None
    care_arrangement: str | None = None
    parents: list[ParentOrRepresentative] = Field(default_factory=list)
    referrer_name: str | None = None
    referrer_address: str | None = None
    referrer_phone: str | None = None
    narrative: str | None = Field(default=None, description="Free-text circumstances, reasons, notes")


class Event(Record):
    """Base of every case event: an envelope, optional personal data, then typed fields."""

    envelope: Envelope
    personal_data: PersonalData | None = None

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__

    @field_validator("envelope")
    @classmethod
    def _type_matches(cls, envelope: Envelope) -> Envelope:
        if envelope.event_type != cls.__name__:
            raise ValueError(f"envelope.event_type is {envelope.event_type!r} but the record is {cls.__name__}")
        return envelope


__all__ = [
    "AwareDatetime", "Annotated", "City", "Envelope", "Event", "NAMESPACE", "ParentOrRepresentative",
    "PersonalData", "Producer", "Record", "date", "datetime",
]
