"""Sealed personal data (issue 11, item 4): an event's personal part encrypted per event under a
fresh data key, the data key wrapped for one recipient at a time, so that personal data leaves the
producer only as ciphertext and becomes unreadable everywhere once its case's key is destroyed
(crypto-shredding, ``referral-bus erase``).

The personal part of an event: ``personal_data`` and every personal free-text field
(``personal_text_fields``). The sealed form of an event is ``redact_personal(event, SEALED)`` —
personal texts read ``[sealed]``, so the record's own rules still hold — plus ``sealed``:

- ``ciphertext`` = AES-256-GCM(data key, ``nonce``) over the canonical JSON of
  ``{"personal_data": …, "texts": {field: value}}``, with AAD binding the scheme, case id, event id
  and event type (a ciphertext moved to another event does not open);
- ``wrapped_key`` = the data key wrapped for ``recipient`` under ``key_ref``:
  to the vault's X25519 *ingress* key (ephemeral X25519 ECDH, HKDF-SHA256, AES-256-GCM; what a
  producer does) or under a case's 256-bit key (AES-256-GCM; what the router does for the case log
  and for each entitled inbox copy). The wrap's AAD binds case, event and recipient, so a copy's
  wrapped key cannot be presented as another agency's.

The router re-wraps; it never re-encrypts: ``nonce`` and ``ciphertext`` stay as the producer made
them and are covered by the producer's signature (``domain/signatures.py``), the wrapping is not.
Pure computation on bytes (``cryptography``); the keys live in ``infra/vault.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import ValidationError

from referral_bus.contracts.base import SEALED, Event, SealedPersonalData, personal_text_fields, redact_personal
from referral_bus.domain.canonical import canonical_json

SCHEME = "rb-seal-v1"
#: The recipient of a submission's wrapped key: the key vault's ingress key.
VAULT = "rb-vault"
#: The recipient of the case log's copy (the router, and the auditor through the key service).
CASE_LOG = "rb.case-log"
KEY_BYTES = 32
NONCE_BYTES = 12
_X25519_BYTES = 32
_WRAP_LABEL = b"referral-bus sealed data key v1\n"
_DATA_LABEL = b"referral-bus sealed personal data v1\n"
_NONCE_LABEL = b"referral-bus wrap nonce v1\n"

_E = TypeVar("_E", bound=Event)


class SealingError(ValueError):
    """A sealed part that does not open: wrong key, wrong recipient, or altered. Says which, never
    anything of the content."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def key_ref_for_public(public_key: bytes) -> str:
    """``vault:<first 16 hex of SHA-256 of the raw X25519 public key>``: which ingress key."""
    return f"vault:{hashlib.sha256(public_key).hexdigest()[:16]}"


def public_bytes(public_key: X25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _data_aad(event: Event) -> bytes:
    env = event.envelope
    return _DATA_LABEL + canonical_json([SCHEME, env.case_id, str(env.event_id), env.event_type])


def _wrap_aad(case_id: str, event_id: str, recipient: str, key_ref: str) -> bytes:
    return _WRAP_LABEL + canonical_json([SCHEME, case_id, event_id, recipient, key_ref])


def has_personal(event: Event) -> bool:
    """Whether ``event`` carries any personal part in clear (``personal_data`` or a personal text
    other than a marker)."""
    if event.personal_data is not None:
        return True
    for name in personal_text_fields(type(event)):
        value = getattr(event, name)
        values = value if isinstance(value, list) else [value]
        if any(v is not None for v in values):
            return True
    return False


def personal_part(event: Event) -> dict[str, Any]:
    """What is sealed: ``personal_data`` (JSON form) and the personal texts that hold something."""
    texts = {name: getattr(event, name) for name in sorted(personal_text_fields(type(event)))
             if getattr(event, name) not in (None, [])}
    return {"personal_data": event.personal_data.model_dump(mode="json") if event.personal_data else None,
            "texts": texts}


# -- wrapping the data key ---------------------------------------------------------------------------
def wrap_to_public(data_key: bytes, public_key: bytes, *, case_id: str, event_id: str, recipient: str = VAULT,
                   key_ref: str | None = None, fixed: tuple[X25519PrivateKey, bytes] | None = None) -> bytes:
    """The data key wrapped to an X25519 public key: ephemeral public key (32) | nonce (12) | AES-GCM.
    ``fixed`` (ephemeral key, nonce) replaces the random ones: only for the SDKs' test vectors
    (``interop/vectors.py``), which other languages must reproduce byte for byte."""
    ephemeral = fixed[0] if fixed else X25519PrivateKey.generate()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public_key))
    ephemeral_public = public_bytes(ephemeral.public_key())
    kek = _kek(shared, ephemeral_public, public_key)
    nonce = fixed[1] if fixed else os.urandom(NONCE_BYTES)
    aad = _wrap_aad(case_id, event_id, recipient, key_ref or key_ref_for_public(public_key))
    return ephemeral_public + nonce + AESGCM(kek).encrypt(nonce, data_key, aad)


def unwrap_with_private(wrapped: bytes, private_key: X25519PrivateKey, *, case_id: str, event_id: str,
                        recipient: str = VAULT, key_ref: str | None = None) -> bytes:
    """The data key a producer wrapped to ``private_key``'s public half; ``SealingError`` if not."""
    if len(wrapped) != _X25519_BYTES + NONCE_BYTES + KEY_BYTES + 16:
        raise SealingError("sealed.wrapped_key: not a data key wrapped to the vault's ingress key (wrong length)")
    own_public = public_bytes(private_key.public_key())
    ephemeral_public, nonce, body = wrapped[:32], wrapped[32:44], wrapped[44:]
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
        aad = _wrap_aad(case_id, event_id, recipient, key_ref or key_ref_for_public(own_public))
        return AESGCM(_kek(shared, ephemeral_public, own_public)).decrypt(nonce, body, aad)
    except (InvalidTag, ValueError):
        raise SealingError("sealed.wrapped_key: does not unwrap with the vault's ingress key for this case, event "
                           "and recipient (wrapped to another key, or altered)") from None


def _kek(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=ephemeral_public + recipient_public,
                info=_WRAP_LABEL + b"x25519").derive(shared)


def wrap_with_key(data_key: bytes, case_key: bytes, *, case_id: str, event_id: str, recipient: str,
                  key_ref: str) -> bytes:
    """The data key wrapped under a case's key for one recipient: nonce (12) | AES-GCM. The nonce is
    derived (HMAC-SHA256 of the case key over the wrap's AAD), not random: the same event's copy for
    the same recipient is then byte-identical however often the router writes it (a re-send after a
    crash, a rebuild), as every other delivery of the bus is. Safe for AES-GCM because a nonce repeats
    only with the very same key, AAD and plaintext (one data key per event), i.e. the same message."""
    aad = _wrap_aad(case_id, event_id, recipient, key_ref)
    nonce = hmac.new(case_key, _NONCE_LABEL + aad, hashlib.sha256).digest()[:NONCE_BYTES]
    return nonce + AESGCM(case_key).encrypt(nonce, data_key, aad)


def unwrap_with_key(wrapped: bytes, case_key: bytes, *, case_id: str, event_id: str, recipient: str,
                    key_ref: str) -> bytes:
    try:
        return AESGCM(case_key).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:],
                                        _wrap_aad(case_id, event_id, recipient, key_ref))
    except (InvalidTag, ValueError):
        raise SealingError("sealed.wrapped_key: does not unwrap under the case key for this case, event and "
                           f"recipient {recipient!r} (another recipient's copy, or altered)") from None


# -- sealing and opening -----------------------------------------------------------------------------
def seal(event: _E, data_key: bytes, *, wrapped_key: bytes, key_ref: str, recipient: str,
         fixed_nonce: bytes | None = None) -> _E:
    """The sealed form of ``event``: its personal part encrypted under ``data_key`` (wrapped as given).
    ``fixed_nonce`` replaces the random nonce: only for the SDKs' test vectors (``interop/vectors.py``)."""
    nonce = fixed_nonce or os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, canonical_json(personal_part(event)), _data_aad(event))
    sealed = SealedPersonalData(scheme=SCHEME, key_ref=key_ref, recipient=recipient, wrapped_key=wrapped_key,
                                nonce=nonce, ciphertext=ciphertext)
    return redact_personal(event, SEALED).model_copy(update={"sealed": sealed})


def seal_to_public(event: _E, public_key: bytes) -> _E:
    """What a producer sends: ``event`` sealed under a fresh data key wrapped to the vault's ingress
    public key. An event without a personal part is returned as it is (nothing to seal)."""
    if not has_personal(event):
        return event
    data_key = new_data_key()
    env = event.envelope
    key_ref = key_ref_for_public(public_key)
    wrapped = wrap_to_public(data_key, public_key, case_id=env.case_id, event_id=str(env.event_id), key_ref=key_ref)
    return seal(event, data_key, wrapped_key=wrapped, key_ref=key_ref, recipient=VAULT)


def open_sealed(event: _E, data_key: bytes) -> _E:
    """The full event: the personal part decrypted back in place, ``sealed`` empty. ``SealingError``
    when the ciphertext, nonce or bound ids were altered, or the record it gives is not valid."""
    sealed = event.sealed
    if sealed is None:
        return event
    if sealed.scheme != SCHEME:
        raise SealingError(f"sealed.scheme: {sealed.scheme!r} is not a known scheme ({SCHEME})")
    try:
        plain = AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, _data_aad(event))
    except (InvalidTag, ValueError):
        raise SealingError("sealed.ciphertext: does not open with its data key for this case, event and type "
                           "(altered, or moved from another event)") from None
    try:
        part = json.loads(plain)
        texts: dict[str, Any] = part["texts"]
        if not set(texts) <= personal_text_fields(type(event)):
            raise SealingError("sealed.ciphertext: names a field that is not a personal text of "
                               f"{event.event_type()}")
        body = event.model_dump()   # python mode: bytes and times stay as they are
        body.update(texts, personal_data=part["personal_data"], sealed=None)
        return type(event).model_validate(body)
    except (KeyError, TypeError, json.JSONDecodeError):
        raise SealingError("sealed.ciphertext: opens, but is not a sealed personal part") from None
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise SealingError(f"sealed.ciphertext: opens, but {where} is not valid for {event.event_type()}") from None


def rewrap(event: _E, wrapped_key: bytes, *, key_ref: str, recipient: str) -> _E:
    """``event``'s sealed part with its data key wrapped anew; nonce and ciphertext untouched."""
    if event.sealed is None:
        return event
    sealed = event.sealed.model_copy(update={"wrapped_key": wrapped_key, "key_ref": key_ref, "recipient": recipient})
    return event.model_copy(update={"sealed": sealed})
