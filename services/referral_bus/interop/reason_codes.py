"""Every reason code a receipt or dead letter can carry (``domain/rejections.py``'s ``Code``), with
its meaning, the router's check that raises it and — where the code always has one — its field and
paragraph. Rendered to ``schemas/reason-codes.json``; a code without an entry here fails the tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from referral_bus.domain.rejections import Code


@dataclass(frozen=True)
class Meaning:
    check: str
    meaning: str
    #: The receipt's ``field`` whenever this code is given (None: it varies, or there is none).
    field: str | None = None
    #: The receipt's ``paragraph`` whenever this code is given (None: it varies, or there is none).
    paragraph: str | None = None


#: The router's checks, in the order it runs them (router/submissions.py); the first failure answers.
CHECKS = ("size", "frame", "contract", "envelope", "agency", "signature", "sealing", "idempotency", "transition",
          "routing")

MEANINGS: dict[Code, Meaning] = {
    Code.OVERSIZED: Meaning("size", "The record's value is larger than the router's limit "
                            "(REFERRAL_BUS_MAX_EVENT_BYTES, 256 KiB unless the operator sets another)."),
    Code.BAD_MAGIC_BYTE: Meaning("frame", "The value's first byte is not 0: it is not in the Confluent wire "
                                 "framing (magic byte 0, 4-byte big-endian schema id, Avro binary body)."),
    Code.UNKNOWN_SCHEMA_ID: Meaning("frame", "Bytes 1-4 of the value name a schema id the bus does not know "
                                    "(docs/contract.md says how ids are derived from the schema files)."),
    Code.SCHEMA_VERSION_MISMATCH: Meaning("frame", "The event's envelope.schema_version is not a released "
                                          "version of its type, or the frame is written with another version's "
                                          "schema than the one it names: write each event with the schema of the "
                                          "version it declares (its hash and signature cover exactly that "
                                          "version's fields).", field="envelope.schema_version"),
    Code.UNDECODABLE: Meaning("frame", "The value is shorter than the 5-byte frame header, or its Avro body "
                              "does not decode with the schema its id names."),
    Code.UNKNOWN_RECORD_TYPE: Meaning("frame", "The schema id names a schema the registry holds whose record "
                                      "is not one of the bus's contracts."),
    Code.UNKNOWN_EVENT_TYPE: Meaning("contract", "The record decodes but is not a case event (for example a "
                                     "Receipt): agencies publish case events only."),
    Code.SCHEMA_INVALID: Meaning("contract", "The record decodes but a field breaks its domain (length, "
                                 "alphabet, range) or a rule the contracts check; `field` names it and "
                                 "`paragraph` is the rule's paragraph when it has one."),
    Code.ENVELOPE_INVALID: Meaning("envelope", "The envelope is wrong: a field only the router sets "
                                   "(recorded_at, sequence, previous_hash, hash) is filled, the Kafka key is not "
                                   "the case id (field `key`), or occurred_at lies in the future beyond the "
                                   "allowed clock skew or more than REFERRAL_BUS_MAX_EVENT_AGE_DAYS in the past."),
    Code.UNKNOWN_AGENCY: Meaning("agency", "The producer named in the envelope is not in the agency directory "
                                 "(agencies.yaml).", field="envelope.producer.agency_id"),
    Code.WRONG_INGRESS_TOPIC: Meaning("agency", "The envelope names another agency as producer than the one "
                                      "whose ingress topic the record came in on: an agency publishes only as "
                                      "itself.", field="envelope.producer.agency_id"),
    Code.AGENCY_NOT_ALLOWED: Meaning("agency", "This kind of agency may not publish this event type "
                                     "(schemas/producers.json; `paragraph` is the duty's paragraph), does not "
                                     "serve the city the event names (4.6), or is not the agency the case's "
                                     "earlier events give this step to."),
    Code.SIGNATURE_MISSING: Meaning("signature", "The event is not signed: envelope.signature must hold an "
                                    "Ed25519 signature with a key enrolled for the producer (docs/security.md).",
                                    field="envelope.signature"),
    Code.SIGNATURE_INVALID: Meaning("signature", "The signature is malformed, made with another agency's key, "
                                    "or does not match the event's content.", field="envelope.signature"),
    Code.SIGNING_KEY_UNKNOWN: Meaning("signature", "The signing key was never enrolled on rb.signing-keys, or "
                                      "only after the event was recorded.", field="envelope.signature"),
    Code.SIGNING_KEY_REVOKED: Meaning("signature", "The signing key was revoked before the event was recorded.",
                                      field="envelope.signature"),
    Code.SEALED_DATA_INVALID: Meaning("sealing", "The sealed personal data does not open: its data key is not "
                                      "wrapped to the vault's current ingress key for this case and event, or the "
                                      "nonce or ciphertext were altered, or what it holds is not valid for the "
                                      "event type (docs/security.md, personal data).", field="sealed"),
    Code.PERSONAL_DATA_NOT_SEALED: Meaning("sealing", "The event carries personal data or personal free text in "
                                           "clear where the bus requires it sealed "
                                           "(REFERRAL_BUS_REQUIRE_SEALED_PERSONAL_DATA; required on a secured "
                                           "bus).", field="sealed"),
    Code.CASE_ERASED: Meaning("sealing", "The case was erased (its key destroyed, `referral-bus erase`): it "
                              "takes no more events.", field="envelope.case_id"),
    Code.EVENT_ID_CONFLICT: Meaning("idempotency", "The event id is already used, on another case or for "
                                    "different content (an identical resubmission is answered DUPLICATE "
                                    "instead).", field="envelope.event_id"),
    Code.UNKNOWN_CASE: Meaning("transition", "The case id has no events and this event type cannot open a "
                               "case: a case starts with a referral (4.5, 5.2) or an emergency removal (4.7).",
                               field="envelope.case_id", paragraph="4.5, 4.7"),
    Code.ILLEGAL_TRANSITION: Meaning("transition", "The event may not follow the case's events so far (a closed "
                                     "case, a step before the one it depends on, a named agency of the wrong "
                                     "kind or city); `paragraph` names the rule."),
    Code.UNKNOWN_REFERRAL: Meaning("transition", "ReferralWithdrawn: the referral named is not one on this "
                                   "case's log.", field="referral_event_id"),
    Code.NOT_THE_REFERRER: Meaning("transition", "ReferralWithdrawn: the referral was made by another agency; "
                                   "only its referrer withdraws it.", field="envelope.producer.agency_id"),
    Code.REFERRAL_ALREADY_WITHDRAWN: Meaning("transition", "ReferralWithdrawn: the referral is already "
                                             "withdrawn.", field="referral_event_id"),
    Code.REFERRAL_ALREADY_ACTED_ON: Meaning("transition", "ReferralWithdrawn: the referral was already acted on "
                                            "(the initial assessment, 6.3; the NGO's decision, 5.18).",
                                            field="referral_event_id"),
    Code.NO_RECIPIENT: Meaning("routing", "No agency can be given the event: none in the directory of the kind "
                               "owed serves the case's city, or an agency the event names is not in the "
                               "directory; `paragraph` is the route's."),
}


def reason_codes() -> dict[str, Any]:
    """The document ``schemas/reason-codes.json`` holds."""
    missing = [code.value for code in Code if code not in MEANINGS]
    if missing:
        raise ValueError(f"reason codes without a meaning in interop/reason_codes.py: {', '.join(missing)}")
    return {
        "$comment": "Generated from services/referral_bus/domain/rejections.py and interop/reason_codes.py by "
                    "`python -m referral_bus.interop write`; do not edit.",
        "description": "Why the router refuses a submission: the `reason_code` of a REJECTED receipt on "
                       "rb.receipts.<agency> and of a dead letter on rb.dead-letter. The router runs its checks in "
                       "the order of `checks`; the first that fails answers. `field` and `paragraph` are given "
                       "where the code always carries that value; otherwise the receipt's own fields say.",
        "checks": list(CHECKS),
        "statuses": {
            "ACCEPTED": "Appended to the case log; `sequence` is its position in the case.",
            "DUPLICATE": "The same event id with the same content is already on the case log; nothing appended.",
            "REJECTED": "Refused: `reason_code` (below), `reason`, `field`, `paragraph`.",
        },
        "codes": {code.value: {"check": MEANINGS[code].check, "meaning": MEANINGS[code].meaning,
                               **({"field": MEANINGS[code].field} if MEANINGS[code].field else {}),
                               **({"paragraph": MEANINGS[code].paragraph} if MEANINGS[code].paragraph else {})}
                  for code in Code},
    }
