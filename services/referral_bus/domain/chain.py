"""Tamper evidence: every event on the case log carries the hash of the case's previous event.

hash = SHA-256(previous_hash || canonical JSON of the event without its own hash). Canonical JSON
(``domain/canonical.py``) covers the fields of the schema version the event was written with, so
the log still verifies after later releases add fields to its event types.
"""

from __future__ import annotations

import hashlib

from referral_bus.contracts.base import Event, Record
from referral_bus.domain.canonical import as_written, canonical_json

GENESIS = "0" * 64
_GENESIS_DIGEST = bytes.fromhex(GENESIS)


def canonical_bytes(event: Event) -> bytes:
    """Canonical form of an event with ``envelope.hash`` blanked."""
    body = as_written(event)
    body["envelope"] = {**body["envelope"], "hash": None}
    return canonical_json(body)


def chain_hash(previous_hash: str, event: Event) -> str:
    return hashlib.sha256(previous_hash.encode() + canonical_bytes(event)).hexdigest()


def record_chain_hash(previous_hash: str, record: Record) -> str:
    """The same rule for a flat record with its own top-level ``hash`` field (the read-audit
    trail, ``domain/read_audit.py``): SHA-256(previous_hash || canonical JSON with ``hash`` blank)."""
    body = record.model_dump(mode="json")
    body["hash"] = None
    return hashlib.sha256(previous_hash.encode() + canonical_json(body)).hexdigest()


def content_fingerprint(event: Event) -> bytes:
    """Hash of what the producer submitted (router-set fields and the signature blanked): detects an
    event id reused for different content. Not the signature: the same event re-sent after its
    agency rotated its key is the same event (domain/signatures.py). Taken of the *opened* event
    (``domain/sealing.py``), ``sealed`` blank: the same event sealed again under a new data key is
    the same event. The 32-byte digest, not its hex text: one is kept per event on the log, in the
    router's state (65 bytes of memory against 113)."""
    body = as_written(event)
    if "sealed" in body:
        body["sealed"] = None
    body["envelope"] = {**body["envelope"], "hash": None, "previous_hash": None, "sequence": None,
                        "recorded_at": None, "signature": None}
    return hashlib.sha256(canonical_json(body, ascii_only=True)).digest()


class ChainFollower:
    """What a consumer of the case log folds: only an event that extends its case's chain — the
    next sequence, linked to the case's last hash, with its own hash right. Anything else (a record
    written past the router: a copy, a forgery, an event after a gap) is refused with a reason and
    must be set aside, not folded (infra/quarantine.py); every consumer applying the same rule in
    the log's order agrees on what each case holds, and the router goes on appending from there.
    ``verify`` reports the same records (domain/verification.py). Keeps one head per case."""

    def __init__(self) -> None:
        #: case id → (sequence, hash) of its last event; the hash as its 32 bytes (65 bytes of memory
        #: a case against 113 for its text: a process holds every case's, issue 13)
        self.heads: dict[str, tuple[int, bytes]] = {}

    def refuse(self, event: Event) -> tuple[str, str] | None:
        """``None`` when ``event`` extends its case's chain (and the head moves on), else
        ``(reason code, reason)`` — the head stays where it was."""
        env = event.envelope
        if env.sequence is None or env.hash is None or env.recorded_at is None:
            return "NOT_STAMPED", "not stamped by the router (no sequence, hash or recording time)"
        last_sequence, last_digest = self.heads.get(env.case_id, (0, _GENESIS_DIGEST))
        last_hash = last_digest.hex()
        if env.sequence != last_sequence + 1:
            return "CHAIN_BROKEN", f"sequence {env.sequence} where the case's chain continues at {last_sequence + 1}"
        if env.previous_hash != last_hash:
            return "CHAIN_BROKEN", f"sequence {env.sequence}: previous_hash is not the hash of the case's last event"
        if env.hash != chain_hash(last_hash, event):
            return "CHAIN_BROKEN", f"sequence {env.sequence}: the event's hash does not match its content"
        self.heads[env.case_id] = (env.sequence, bytes.fromhex(env.hash))
        return None
