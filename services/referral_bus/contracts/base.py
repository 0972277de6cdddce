"""Building blocks shared by every contract: the record base class, the envelope, personal data."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from functools import cache
from typing import Annotated, Any, ClassVar, Self, TypeVar
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.fields import FieldInfo

NAMESPACE = "kz.referralbus"

#: Case ids are opaque, pseudonymous identifiers; they must never encode a child's identity.
CASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{2,63}$")
#: Staff ids and roles: pseudonymous tokens, never a name or free text (no spaces, no line breaks).
ACTOR_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")


class RuleViolation(ValueError):
    """A contract rule the protocol states, broken: raised by the contracts' validators with the
    paragraph of Annex B (or the seed) that states the rule, so that the refusal carries it in the
    receipt's and dead letter's structured ``paragraph`` field, as the router's own refusals do.
    Pydantic keeps the exception in the validation error's context (``ctx["error"]``), where the codec
    (``infra/codec/framing.py``) finds it; the text reads as before: ``"<field>: <rule> (<paragraph>)"``.

    ``field``: the field the rule is about, for a whole-record rule (a field's own validator is
    located by pydantic); ``cited_as``: how the text cites the paragraph, when not by its number alone."""

    def __init__(self, rule: str, paragraph: str, *, field: str | None = None, cited_as: str | None = None) -> None:
        self.rule = rule
        self.paragraph = paragraph
        self.field = field
        super().__init__(f"{field + ': ' if field else ''}{rule} ({cited_as or paragraph})")


def _bounded(low: int, high: int, why: str, paragraph: str | None = None,
             cited_as: str | None = None) -> AfterValidator:
    def check(value: int) -> int:
        if not low <= value <= high:
            if paragraph is None:
                raise ValueError(f"must be {low}–{high}: {why}")
            raise RuleViolation(f"must be {low}–{high}: {why}", paragraph, cited_as=cited_as)
        return value
    return AfterValidator(check)


#: A child's age in whole years: a child is an individual aged 0 to 18 (Annex B, part 2).
ChildAge = Annotated[int, _bounded(0, 17, "a child is an individual aged 0 to 18", "part 2",
                                   cited_as="Annex B, part 2")]
#: An age on record as it changes: 18 is recorded once, as the end of child protection (6.74(a), 6.78(a)).
AgeOnRecord = Annotated[int, _bounded(0, 18, "a child is 0–17; 18 ends child protection", "6.74(a), 6.78(a)",
                                      cited_as="Annex B 6.74(a), 6.78(a)")]
#: An age asserted or assessed for an individual whose age is disputed (6.8–6.11): may be an adult's.
AssessedAge = Annotated[int, _bounded(0, 99, "an age in whole years")]


# -- the domain of every text field ------------------------------------------------------------
# Every ``str`` of every contract is one of the annotated types below (tests/contracts/test_text_domains.py
# fails on a bare ``str``). The ``TextDomain`` travels in the type's metadata, so code can find the
# fields that may name a person (``personal_text_fields``); none of it reaches the Avro schemas.

#: Never in any text: C0/C1 control characters, unpaired surrogates (not encodable as UTF-8), and
#: the bidirectional embedding, override and isolate characters (text that displays other than it reads).
_FORBIDDEN = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
#: Free text keeps its line breaks and tabs (CR too: a form posted from Windows sends CRLF).
_BAD_IN_TEXT = re.compile(f"[{_FORBIDDEN}]")
#: A label is one line: no tab, no line break (nor Unicode's line and paragraph separators).
_BAD_IN_LINE = re.compile(f"[{_FORBIDDEN}\\t\\n\\r\\u2028\\u2029]")


@dataclass(frozen=True)
class TextDomain:
    """The domain of a text field: an identifier of a safe alphabet (``pattern``, which bounds the
    length too), or text of at most ``max_length`` characters without control characters
    (``multiline``: line breaks and tabs allowed). ``personal``: free text that may name a person,
    treated as personal data (``redact_personal``; never in the read models or ``history``)."""

    kind: str
    rule: str
    max_length: int
    pattern: re.Pattern[str] | None = None
    multiline: bool = False
    personal: bool = False

    def check(self, value: str) -> str:
        if self.pattern is not None:
            if not self.pattern.fullmatch(value):
                raise ValueError(f"must be {self.rule}")
            return value
        if len(value) > self.max_length:
            raise ValueError(f"must be at most {self.max_length:,} characters, not {len(value):,} ({self.rule})")
        bad = (_BAD_IN_TEXT if self.multiline else _BAD_IN_LINE).search(value)
        if bad is not None:
            allowed = "line breaks and tabs are the only control characters allowed" if self.multiline \
                else "one line: no line breaks, tabs or control characters"
            raise ValueError(f"must not contain the character U+{ord(bad.group()):04X} (position {bad.start() + 1}): "
                             f"{allowed} ({self.rule})")
        return value


def _identifier(alphabet: str, low: int, high: int, chars: str, what: str) -> TextDomain:
    return TextDomain("identifier", f"{low}-{high} characters of {chars} ({what})", high,
                      re.compile(f"[A-Za-z0-9][{alphabet}]{{{low - 1},{high - 1}}}"))


CASE_ID = TextDomain("identifier", "3-64 characters of letters, digits and . _ : - (an opaque id, never personal data)",
                     64, CASE_ID_PATTERN)
ACTOR = TextDomain("identifier", "1-64 characters of letters, digits and . _ : @ - (a pseudonymous staff id or role, "
                                 "never a name or free text)", 64, ACTOR_PATTERN)
#: Agency ids name Kafka principals and topics (``rb.ingress.<id>``): Kafka's topic alphabet.
AGENCY_ID = _identifier("A-Za-z0-9._-", 1, 64, "letters, digits and . _ -",
                        "an agency id from agencies.yaml; it names the agency's Kafka topics")
#: Ids the agencies give their own things: meetings, plans, care plans, programmes.
IDENTIFIER = _identifier("A-Za-z0-9._:-", 1, 64, "letters, digits and . _ : -",
                         "an identifier, never a name or free text")
#: A number in another body's register (an investigation, a Guardianship or court decision): any
#: script's letters and digits, and the punctuation such numbers use.
REFERENCE = TextDomain("identifier", "1-64 letters or digits (any script) and . _ : / # № - (a register number, "
                                     "never a name or free text)", 64,
                       re.compile(r"(?:[^\W_]|[#№])[\w./:#№-]{0,63}"))
RECORD_NAME = TextDomain("identifier", "an Avro record name: a capital letter, then letters and digits, at most 64",
                         64, re.compile(r"[A-Z][A-Za-z0-9]{0,63}"))
COUNTRY_CODE = TextDomain("identifier", "an ISO 3166-1 alpha-2 code: two capital letters", 2, re.compile(r"[A-Z]{2}"))
#: A key id: ``<agency id>:<first 16 hex digits of SHA-256 of the public key>``.
KEY_ID = TextDomain("identifier", "<agency id>:<16 lower-case hex digits>", 81,
                    re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}:[0-9a-f]{16}"))
DIGEST = TextDomain("identifier", "64 lower-case hex digits (a SHA-256)", 64, re.compile(r"[0-9a-f]{64}"))
CODE = TextDomain("identifier", "1-64 capital letters, digits and _ (a reason code)", 64,
                  re.compile(r"[A-Z][A-Z0-9_]{0,63}"))
TOPIC = TextDomain("identifier", "1-249 characters of letters, digits and . _ - (a Kafka topic name)", 249,
                   re.compile(r"[A-Za-z0-9._-]{1,249}"))
#: What an agency states in a few words from a known vocabulary (a procedural stage, an article).
LABEL = TextDomain("label", "a short label, never a name or free text", 100)
#: What the bus itself writes as a label: a paragraph, a rule id, a field path.
BUS_LABEL = TextDomain("label", "a label the bus writes", 200)
#: What the bus itself (or an operator) explains: a refusal's reason, an escalation's summary.
BUS_TEXT = TextDomain("text", "an explanation the bus writes; never personal data", 4_000, multiline=True)
#: Free text an agency writes (reasons, descriptions, the name of a body or organisation): it may
#: name a person, so it is personal data. 2,000 characters is a page of reasons; longer accounts
#: belong in ``personal_data.narrative``.
PERSONAL_TEXT = TextDomain("personal text", "free text that may name a person; longer accounts go in "
                                            "personal_data.narrative", 2_000, multiline=True, personal=True)
#: One line of personal data: a name, an address, a telephone number, a language.
PERSONAL_LINE = TextDomain("personal text", "one line of personal data", 200, personal=True)
#: ``personal_data.narrative``: the circumstances, a few pages.
NARRATIVE = TextDomain("personal text", "the circumstances, a few pages at most", 8_000, multiline=True,
                       personal=True)

CaseId = Annotated[str, CASE_ID, AfterValidator(CASE_ID.check)]
ActorToken = Annotated[str, ACTOR, AfterValidator(ACTOR.check)]
AgencyId = Annotated[str, AGENCY_ID, AfterValidator(AGENCY_ID.check)]
Identifier = Annotated[str, IDENTIFIER, AfterValidator(IDENTIFIER.check)]
Reference = Annotated[str, REFERENCE, AfterValidator(REFERENCE.check)]
RecordName = Annotated[str, RECORD_NAME, AfterValidator(RECORD_NAME.check)]
CountryCode = Annotated[str, COUNTRY_CODE, AfterValidator(COUNTRY_CODE.check)]
KeyId = Annotated[str, KEY_ID, AfterValidator(KEY_ID.check)]
Digest = Annotated[str, DIGEST, AfterValidator(DIGEST.check)]
Code = Annotated[str, CODE, AfterValidator(CODE.check)]
TopicName = Annotated[str, TOPIC, AfterValidator(TOPIC.check)]
Label = Annotated[str, LABEL, AfterValidator(LABEL.check)]
BusLabel = Annotated[str, BUS_LABEL, AfterValidator(BUS_LABEL.check)]
BusText = Annotated[str, BUS_TEXT, AfterValidator(BUS_TEXT.check)]
PersonalText = Annotated[str, PERSONAL_TEXT, AfterValidator(PERSONAL_TEXT.check)]
PersonalLine = Annotated[str, PERSONAL_LINE, AfterValidator(PERSONAL_LINE.check)]
Narrative = Annotated[str, NARRATIVE, AfterValidator(NARRATIVE.check)]


class Record(BaseModel):
    """A model that is also an Avro record (its class name is the record name)."""

    # hide_input_in_errors: a refusal names the field and the rule, never repeats what was sent
    # (it may be a child's name)
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False, ser_json_bytes="base64",
                              val_json_bytes="base64", hide_input_in_errors=True)
    avro_namespace: ClassVar[str] = NAMESPACE


class City(str, Enum):
    """The four locations where Annex B applies (Annex B, part 1)."""

    NUR_SULTAN = "NUR_SULTAN"
    ALMATY = "ALMATY"
    SHYMKENT = "SHYMKENT"
    TURKESTAN_OBLAST = "TURKESTAN_OBLAST"


class Producer(Record):
    """Who produced an event: the agency (from the directory) and a pseudonymous staff id."""

    agency_id: AgencyId = Field(description="Agency id from agencies.yaml, e.g. police-juvenile-almaty")
    actor_id: ActorToken = Field(description="Pseudonymous staff identifier inside the agency (never a name)")
    actor_role: ActorToken | None = Field(default=None, description="Role, e.g. juvenile_inspector")


class Envelope(Record):
    """Metadata every event carries (docs/design.md). The router fills recorded_at, sequence and hashes."""

    event_id: UUID = Field(description="Idempotency key chosen by the producer")
    event_type: RecordName = Field(description="Equals the Avro record name of the event")
    schema_version: int = Field(description="Version of the event type's schema the producer used")
    case_id: CaseId = Field(description="Opaque, pseudonymous case identifier")
    occurred_at: AwareDatetime = Field(description="When it happened in the world (timezone-aware)")
    recorded_at: AwareDatetime | None = Field(default=None, description="Set by the router on append")
    producer: Producer = Field(
        description="Who produced the event: the agency and a pseudonymous staff id; the agency must be the one "
                    "whose ingress topic the event came in on")
    correlation_id: UUID | None = Field(default=None, description="Groups events of one interaction")
    causation_id: UUID | None = Field(default=None, description="The event that caused this one")
    sequence: int | None = Field(default=None, description="Per-case position on the case log (router)")
    previous_hash: Digest | None = Field(default=None, description="Hash of the case's previous event (router)")
    hash: Digest | None = Field(default=None, description="SHA-256 over previous_hash and this event (router)")
    signature: bytes | None = Field(
        default=None, description="The producer's Ed25519 signature (docs/security.md): 0x01, the key id's length, "
                                  "the key id, the 64-byte signature; the router refuses events without a valid one")


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

    name: PersonalLine | None = Field(
        default=None, description="Part 8 form, C1: the parent's or legal representative's name; personal data")
    address: PersonalLine | None = Field(default=None, description="Part 8 form, C2: their address; personal data")
    marital_status: PersonalLine | None = Field(
        default=None, description="Part 8 form, C3: their marital status, as stated; personal data")
    languages: list[PersonalLine] = Field(
        default_factory=list, description="Part 8 form, C4: the languages they speak, one per item; personal data")
    interpreter_needs: PersonalText | None = Field(
        default=None, description="Part 8 form, C5: the interpreter or communication aids they need; personal data")


class PersonalData(Record):
    """Everything that identifies a child or family. Kept in one record so it can be encrypted
    and later erased by destroying its key (docs/design.md, docs/security.md: personal data); never logged."""

    child_name: PersonalLine | None = Field(
        default=None, description="Part 8 form, B1; 5.17(b): the child's name as known; personal data")
    child_date_of_birth: date | None = Field(
        default=None, description="Part 8 form, B3: the child's date of birth, if known; within 19 years before "
                                  "occurred_at (Annex B, part 2); personal data")
    child_address: PersonalLine | None = Field(
        default=None, description="Part 8 form, B2; 5.17(b): where the child lives or was found; personal data")
    child_languages: list[PersonalLine] = Field(
        default_factory=list, description="Part 8 form, B6: the languages the child speaks, one per item; personal "
                                          "data")
    child_interpreter_needs: PersonalText | None = Field(
        default=None, description="Part 8 form, B7: the interpreter or communication aid the child needs; personal "
                                  "data")
    child_disability: PersonalText | None = Field(
        default=None, description="Part 8 form, B5: the child's physical or mental disability, if any; personal data")
    care_arrangement: PersonalText | None = Field(
        default=None, description="Part 8 form, B4: who cares for the child and how; personal data")
    parents: list[ParentOrRepresentative] = Field(
        default_factory=list, description="Part 8 form, section C: the child's parents or legal representatives, one "
                                          "record each; personal data")
    referrer_name: PersonalLine | None = Field(
        default=None, description="Part 8 form, A1; 5.17(a): the referring professional's name; personal data")
    referrer_address: PersonalLine | None = Field(
        default=None, description="Part 8 form, A3; 5.17(a): the referring professional's work address; personal "
                                  "data")
    referrer_phone: PersonalLine | None = Field(
        default=None, description="Part 8 form, A4: the referring professional's telephone number; personal data")
    narrative: Narrative | None = Field(
        default=None, description="The circumstances, reasons and notes in free text, a few pages at most (8,000 "
                                  "characters); personal data")


class SealedPersonalData(Record):
    """An event's personal part — ``personal_data`` and every personal free-text field — encrypted
    (issue 11, item 4; ``domain/sealing.py``): AES-256-GCM under a fresh data key, the data key
    wrapped for one recipient. The producer wraps it to the key vault's ingress key; the router
    re-wraps it under the case's key for the case log and for each entitled inbox copy, so that
    destroying the case key (``referral-bus erase``) leaves only ciphertext anywhere. The producer's
    signature covers ``scheme``, ``nonce`` and ``ciphertext``, not the wrapping."""

    scheme: Identifier = Field(description="Sealing scheme, rb-seal-v1")
    key_ref: Identifier = Field(description="The key that wraps the data key: the vault's ingress key id "
                                            "(vault:<16 hex>) or the case key's id (case:<16 hex>)")
    recipient: AgencyId = Field(description="Who may have the data key unwrapped: rb-vault (a submission), "
                                            "rb.case-log, or the agency whose inbox copy this is")
    wrapped_key: bytes = Field(description="The data key, wrapped for the recipient")
    nonce: bytes = Field(description="AES-GCM nonce of the ciphertext (12 bytes)")
    ciphertext: bytes = Field(description="AES-256-GCM of the personal part's canonical JSON")


class Event(Record):
    """Base of every case event: an envelope, optional personal data, then typed fields."""

    envelope: Envelope = Field(
        description="Metadata every event carries: the producer sets ids, type, case, occurred_at and signature; the "
                    "router fills recorded_at, sequence, previous_hash and hash on append")
    personal_data: PersonalData | None = Field(
        default=None, description="Everything that identifies the child or family, kept in one record so it can be "
                                  "encrypted and erased; null when there is none, when it travels in sealed, or for "
                                  "a recipient not entitled to it")
    sealed: SealedPersonalData | None = Field(default=None, description="The personal part, encrypted: then "
                                              "personal_data is empty and personal texts read [sealed]")

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__

    @classmethod
    def personal_fields(cls) -> frozenset[str]:
        """``personal_data`` and the free-text fields that may name a person: what is left out
        wherever personal data is (the read models, ``history``)."""
        return frozenset({"personal_data", "sealed"}) | personal_text_fields(cls)

    def redacted(self) -> Self:
        """This event as a recipient not entitled to personal data gets it (``redact_personal``)."""
        return redact_personal(self)

    @field_validator("envelope")
    @classmethod
    def _type_matches(cls, envelope: Envelope) -> Envelope:
        if envelope.event_type != cls.__name__:
            raise ValueError(f"envelope.event_type is {envelope.event_type!r} but the record is {cls.__name__}")
        return envelope

    @model_validator(mode="after")
    def _dates_plausible(self) -> Self:
        """Every date an event states lies within ``DATE_WINDOW_YEARS`` of when it happened (a plan
        runs at most until the child is 18), and the child's date of birth no later than that and
        no more than 19 years before (Annex B, part 2: a child is under 18). The value is never
        quoted: a date of birth is personal data."""
        occurred = self.envelope.occurred_at.date()
        window = timedelta(days=DATE_WINDOW_YEARS * 366)
        low, high = occurred - window, occurred + window
        for name in _date_fields(type(self)):
            value = getattr(self, name)
            if value is None:
                continue
            day = value.date() if isinstance(value, datetime) else value
            if not low <= day <= high:
                raise ValueError(f"{name}: more than {DATE_WINDOW_YEARS} years from the event's occurred_at "
                                 "(a date outside any plausible window: a typing mistake?)")
        born = self.personal_data.child_date_of_birth if self.personal_data else None
        if born is not None and not occurred - timedelta(days=19 * 366) <= born <= occurred:
            raise RuleViolation("must lie within 19 years before the event's occurred_at", "part 2",
                                field="personal_data.child_date_of_birth",
                                cited_as="Annex B, part 2: a child is under 18")
        return self


#: How far from an event's occurred_at a date it states may lie (``Event._dates_plausible``).
DATE_WINDOW_YEARS = 20


@cache
def _date_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The top-level date and time fields of an event type, the envelope's aside."""
    def is_date(annotation: Any) -> bool:
        args = typing.get_args(annotation)
        return annotation in (date, datetime) or any(is_date(a) for a in args) or \
            getattr(annotation, "__name__", "") == "AwareDatetime"
    return tuple(name for name, info in model.model_fields.items()
                 if name not in ("envelope", "personal_data") and is_date(info.annotation))


#: What a personal free-text field holds once redacted: still valid for its type and the record's rules.
REDACTED = "[redacted]"
#: What a personal free-text field holds while its value travels encrypted in ``Event.sealed``.
SEALED = "[sealed]"


def _domains(annotation: Any) -> Iterator[TextDomain]:
    """The text domains an annotation carries, through ``Optional`` and ``list``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        yield from (m for m in annotation.__metadata__ if isinstance(m, TextDomain))
        yield from _domains(args[0])
    elif origin in (typing.Union, types.UnionType, list):
        for arg in args:
            yield from _domains(arg)


def text_domains(info: FieldInfo) -> list[TextDomain]:
    """The text domains of one field (pydantic keeps a top-level ``Annotated``'s metadata apart)."""
    return [m for m in info.metadata if isinstance(m, TextDomain)] + list(_domains(info.annotation))


@cache
def personal_text_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields of ``model`` holding free text that may name a person (``PersonalText`` and the
    other personal domains): personal data, like ``personal_data`` itself."""
    return frozenset(name for name, info in model.model_fields.items()
                     if any(d.personal for d in text_domains(info)))


_E = TypeVar("_E", bound="Event")


def redact_personal(event: _E, marker: str = REDACTED) -> _E:
    """The event without anything that may name a person: no ``personal_data``, no ``sealed``, and
    every personal free-text field that holds something replaced by ``marker`` (so the record's own
    rules, e.g. "reasons required when declined", still hold and it encodes as before). ``SEALED``
    is the marker of the sealed form (``domain/sealing.py``), which then sets ``sealed`` itself."""
    update: dict[str, Any] = {"personal_data": None, "sealed": None}
    for name in personal_text_fields(type(event)):
        value = getattr(event, name)
        if isinstance(value, list):
            update[name] = [marker for _ in value]
        elif value is not None:
            update[name] = marker
    return event.model_copy(update=update)


__all__ = [
    "AgencyId", "ActorToken", "AwareDatetime", "Annotated", "BusLabel", "BusText", "CaseId", "City", "Code",
    "CountryCode", "Digest", "Envelope", "Event", "Identifier", "KeyId", "Label", "NAMESPACE", "Narrative",
    "ParentOrRepresentative", "PersonalData", "PersonalLine", "PersonalText", "Producer", "REDACTED", "Record",
    "RecordName", "Reference", "RuleViolation", "SEALED", "SealedPersonalData", "TextDomain", "TopicName", "date",
    "datetime",
    "personal_text_fields", "redact_personal", "text_domains",
]


#: The description of every case-opening event's ``home_city`` (issue 15: a child found out of area).
HOME_CITY = ("Issue 15: the City/Oblast of the child's family and home case, when it is not where the child is "
             "(city). The city where the child is gets the referral (4.5, 4.6); the home city's CAM/CSC (the "
             "Guardianship for a child under 3) is told, and later key outcomes reach it redacted (6.24) — a bus "
             "rule modelled on the UK's CP-IS, where Annex B is silent. Omitted: the case's home city stands")
