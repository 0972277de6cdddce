"""Tamper evidence: every event on the case log carries the hash of the case's previous event.

hash = SHA-256(previous_hash || canonical JSON of the event without its own hash). Canonical JSON
is pydantic's JSON-mode dump (ISO-8601 times, bytes as base64) with sorted keys and no spaces; it
does not depend on the Avro schema version, so a log re-encoded by a later schema still verifies.
"""

from __future__ import annotations

import hashlib
import json

from referral_bus.contracts.base import Event

GENESIS = "0" * 64


def canonical_bytes(event: Event) -> bytes:
    """Canonical form of an event with ``envelope.hash`` blanked."""
    body = event.model_dump(mode="json")
    body["envelope"] = {**body["envelope"], "hash": None}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(previous_hash: str, event: Event) -> str:
    return hashlib.sha256(previous_hash.encode() + canonical_bytes(event)).hexdigest()


def content_fingerprint(event: Event) -> str:
    """Hash of what the producer submitted (router-set fields and the signature blanked): detects an
    event id reused for different content. Not the signature: the same event re-sent after its
    agency rotated its key is the same event (domain/signatures.py)."""
    body = event.model_dump(mode="json")
    body["envelope"] = {**body["envelope"], "hash": None, "previous_hash": None, "sequence": None,
                        "recorded_at": None, "signature": None}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
