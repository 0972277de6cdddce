"""Signed events: each agency signs what it submits with its own Ed25519 key, so anyone holding the
public keys can prove, long after the event left Kafka, which agency said it — and that nobody
(not the router, not a broker administrator) changed a word since.

What is signed: the event's canonical JSON (``domain/canonical.py``: the fields of the schema
version it was written with) with the fields the router fills
(recorded_at, sequence, previous_hash, hash) and the signature itself blank, after a fixed domain
label, so a signature over an event can never be replayed as a signature over something else.

``envelope.signature`` (Avro ``bytes``, reserved in schema v1) holds::

    0x01 | len(key_id) (1 byte) | key_id (ASCII) | Ed25519 signature (64 bytes)

Keys are enrolled and revoked by the bus administrator on the signing-keys topic
(``SigningKeyEnrolled`` / ``SigningKeyRevoked``); ``KeyDirectory`` is the fold of that topic, and
``check`` is the router's and ``verify``'s one rule. The router has a key of its own (enrolled as
``rb-router``) with which it signs chain checkpoints (``ChainCheckpoint``: where each case's chain
stood after a batch), so that a log whose newest events were deleted, or a case rewritten whole,
no longer matches what the router signed. No I/O here; the crypto is ``cryptography``'s.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from referral_bus.contracts.base import Event
from referral_bus.contracts.bus_records import ChainCheckpoint, SigningKeyEnrolled, SigningKeyRevoked
from referral_bus.domain.canonical import as_written, canonical_json
from referral_bus.domain.rejections import Code, Rejection

FORMAT_VERSION = 1
LABEL = b"referral-bus event signature v1\n"
CHECKPOINT_LABEL = b"referral-bus chain checkpoint v1\n"
#: The signer of chain checkpoints, enrolled in the key directory like an agency.
ROUTER = "rb-router"
SIGNATURE_BYTES = 64
KEY_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}:[0-9a-f]{16}$")
#: Not protocol paragraphs: the bus's own rule, explained for operators in docs/security.md
RULE = "docs/security.md, signed events"


def signing_bytes(event: Event) -> bytes:
    """What the producer signs: the event as submitted, router-set fields and signature blank. Of
    sealed personal data (``domain/sealing.py``) the scheme, nonce and ciphertext are signed, not the
    wrapping of the data key, which the router changes for each copy — so every copy's signature,
    on the log and in archives, still checks after the case's key is destroyed."""
    body = as_written(event)
    body["envelope"] = {**body["envelope"], "recorded_at": None, "sequence": None, "previous_hash": None,
                        "hash": None, "signature": None}
    if body.get("sealed") is not None:
        body["sealed"] = {**body["sealed"], "wrapped_key": None, "key_ref": None, "recipient": None}
    return LABEL + canonical_json(body)


def checkpoint_bytes(checkpoint: ChainCheckpoint) -> bytes:
    """What the router signs: the checkpoint's canonical JSON, signature blank."""
    body = checkpoint.model_dump(mode="json")
    body["signature"] = None
    return CHECKPOINT_LABEL + canonical_json(body)


def sign_checkpoint(checkpoint: ChainCheckpoint, key_id: str, private_key: Ed25519PrivateKey) -> ChainCheckpoint:
    return checkpoint.model_copy(update={"signature": pack(key_id, private_key.sign(checkpoint_bytes(checkpoint)))})


def key_id_for(agency_id: str, public_key: bytes) -> str:
    """``<agency>:<first 16 hex of SHA-256 of the raw public key>``: readable and unique."""
    return f"{agency_id}:{hashlib.sha256(public_key).hexdigest()[:16]}"


def pack(key_id: str, signature: bytes) -> bytes:
    raw = key_id.encode("ascii")
    return bytes([FORMAT_VERSION, len(raw)]) + raw + signature


def unpack(value: bytes) -> tuple[str, bytes]:
    """(key id, signature); ``ValueError`` naming what is wrong with the field."""
    if len(value) < 2 or value[0] != FORMAT_VERSION:
        raise ValueError(f"envelope.signature must start with format version {FORMAT_VERSION}")
    size = value[1]
    key_id, signature = value[2:2 + size], value[2 + size:]
    if len(key_id) != size or len(signature) != SIGNATURE_BYTES:
        raise ValueError(f"envelope.signature must hold a key id and a {SIGNATURE_BYTES}-byte Ed25519 signature")
    text = key_id.decode("ascii", errors="replace")
    if not KEY_ID_PATTERN.match(text):
        raise ValueError("the key id in envelope.signature is not of the form <agency id>:<16 hex digits>")
    return text, signature


def sign(event: Event, key_id: str, private_key: Ed25519PrivateKey) -> Event:
    """The event with ``envelope.signature`` set (any earlier signature replaced)."""
    blank = event.model_copy(update={"envelope": event.envelope.model_copy(update={"signature": None})})
    signature = pack(key_id, private_key.sign(signing_bytes(blank)))
    return event.model_copy(update={"envelope": event.envelope.model_copy(update={"signature": signature})})


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    agency_id: str
    public_key: bytes
    enrolled_at: datetime
    revoked_at: datetime | None = None
    revocation_reason: str | None = None


class KeyDirectory:
    """Every signing key ever enrolled, and which are revoked since when: the fold of the
    signing-keys topic. A key id is enrolled once; a second enrolment of the same id is ignored
    (the first is what earlier signatures were checked against)."""

    def __init__(self) -> None:
        self.keys: dict[str, SigningKey] = {}
        self._verifiers: dict[str, Ed25519PublicKey] = {}

    def fold(self, record: SigningKeyEnrolled | SigningKeyRevoked) -> None:
        if isinstance(record, SigningKeyEnrolled):
            self.keys.setdefault(record.key_id, SigningKey(record.key_id, record.agency_id, record.public_key,
                                                           record.enrolled_at))
        else:
            known = self.keys.get(record.key_id)
            if known is not None and known.revoked_at is None:
                self.keys[record.key_id] = SigningKey(known.key_id, known.agency_id, known.public_key,
                                                      known.enrolled_at, record.revoked_at, record.reason)

    def of(self, agency_id: str) -> list[SigningKey]:
        return sorted((k for k in self.keys.values() if k.agency_id == agency_id), key=lambda k: k.enrolled_at)

    def check(self, event: Event, *, at: datetime) -> None:
        """Raise the ``Rejection`` that says why ``event`` is not validly signed by its producer's
        agency with a key that was enrolled and not revoked at ``at`` (submission: now; ``verify``:
        when the router recorded it)."""
        env = event.envelope
        self._verify(env.producer.agency_id, env.signature, signing_bytes(event), at, "envelope.signature")

    def check_checkpoint(self, checkpoint: ChainCheckpoint) -> None:
        """Raise the ``Rejection`` that says why ``checkpoint`` is not signed by the router's key."""
        self._verify(ROUTER, checkpoint.signature or None, checkpoint_bytes(checkpoint), checkpoint.recorded_at,
                     "signature")

    def _verify(self, signer: str, field_value: bytes | None, message: bytes, at: datetime, field: str) -> None:
        if field_value is None:
            raise Rejection(Code.SIGNATURE_MISSING, f"unsigned: it must be signed with a key enrolled for {signer} "
                            f"({RULE})", field=field)
        try:
            key_id, signature = unpack(field_value)
        except ValueError as exc:
            raise Rejection(Code.SIGNATURE_INVALID, str(exc), field=field) from None
        key = self.keys.get(key_id)
        if key is None:
            raise Rejection(Code.SIGNING_KEY_UNKNOWN, f"key {key_id!r} was never enrolled ({RULE})", field=field)
        if key.agency_id != signer:
            raise Rejection(Code.SIGNATURE_INVALID, f"key {key_id!r} belongs to {key.agency_id}, not to the "
                            f"producer {signer}", field=field)
        if key.enrolled_at > at:
            raise Rejection(Code.SIGNING_KEY_UNKNOWN, f"key {key_id!r} was enrolled only after this event was "
                            "recorded", field=field)
        if key.revoked_at is not None and key.revoked_at <= at:
            raise Rejection(Code.SIGNING_KEY_REVOKED, f"key {key_id!r} was revoked at {key.revoked_at.isoformat()} "
                            f"({RULE})", field=field)
        try:
            verifier = self._verifiers.get(key_id)
            if verifier is None:
                verifier = self._verifiers[key_id] = Ed25519PublicKey.from_public_bytes(key.public_key)
            verifier.verify(signature, message)
        except (InvalidSignature, ValueError):
            raise Rejection(Code.SIGNATURE_INVALID, f"the signature does not match the event's content under key "
                            f"{key_id!r} (altered after signing, or signed by someone else)",
                            field=field) from None
