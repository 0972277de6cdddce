"""Why the bus refuses a submission: a stable code, the rule's paragraph and the field."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Code(str, Enum):
    OVERSIZED = "OVERSIZED"
    BAD_MAGIC_BYTE = "BAD_MAGIC_BYTE"
    UNKNOWN_SCHEMA_ID = "UNKNOWN_SCHEMA_ID"
    SCHEMA_VERSION_MISMATCH = "SCHEMA_VERSION_MISMATCH"
    UNDECODABLE = "UNDECODABLE"
    UNKNOWN_RECORD_TYPE = "UNKNOWN_RECORD_TYPE"
    UNKNOWN_EVENT_TYPE = "UNKNOWN_EVENT_TYPE"
    SCHEMA_INVALID = "SCHEMA_INVALID"
    ENVELOPE_INVALID = "ENVELOPE_INVALID"
    UNKNOWN_AGENCY = "UNKNOWN_AGENCY"
    WRONG_INGRESS_TOPIC = "WRONG_INGRESS_TOPIC"
    AGENCY_NOT_ALLOWED = "AGENCY_NOT_ALLOWED"
    UNKNOWN_CASE = "UNKNOWN_CASE"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    EVENT_ID_CONFLICT = "EVENT_ID_CONFLICT"
    NO_RECIPIENT = "NO_RECIPIENT"
    #: ReferralWithdrawn (issue 15): the referral named is not one on this case's log …
    UNKNOWN_REFERRAL = "UNKNOWN_REFERRAL"
    #: … was made by another agency (only its referrer withdraws it) …
    NOT_THE_REFERRER = "NOT_THE_REFERRER"
    #: … is already withdrawn …
    REFERRAL_ALREADY_WITHDRAWN = "REFERRAL_ALREADY_WITHDRAWN"
    #: … or was already acted on (the initial assessment, 6.3; the NGO's decision, 5.18).
    REFERRAL_ALREADY_ACTED_ON = "REFERRAL_ALREADY_ACTED_ON"
    SIGNATURE_MISSING = "SIGNATURE_MISSING"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    SIGNING_KEY_UNKNOWN = "SIGNING_KEY_UNKNOWN"
    SIGNING_KEY_REVOKED = "SIGNING_KEY_REVOKED"
    #: Sealed personal data (issue 11, item 4; domain/sealing.py) that does not open …
    SEALED_DATA_INVALID = "SEALED_DATA_INVALID"
    #: … personal data in clear where the bus requires it sealed …
    PERSONAL_DATA_NOT_SEALED = "PERSONAL_DATA_NOT_SEALED"
    #: … or an event for a case whose key was destroyed (``referral-bus erase``).
    CASE_ERASED = "CASE_ERASED"


def cite(paragraph: str) -> str:
    """How a refusal cites its rule: "Annex B 5.19", but a seed's rule as "seed 003", a part as
    "Annex B part 2" — never "Annex B seed 003"."""
    return paragraph if paragraph.startswith("seed") else f"Annex B {paragraph}"


@dataclass  # not frozen: Python sets __traceback__ on an exception as it propagates
class Rejection(Exception):
    code: Code
    message: str
    paragraph: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        rule = f" ({cite(self.paragraph)})" if self.paragraph else ""
        return f"{self.code.value}{where}: {self.message}{rule}"
