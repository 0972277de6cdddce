"""Signed events: only the producer's own enrolled, unrevoked key makes a valid signature, and any
change to what was signed breaks it — the router's and verify's one rule (domain/signatures.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from referral_bus.contracts.base import City, Event
from referral_bus.contracts.bus_records import SigningKeyEnrolled, SigningKeyRevoked
from referral_bus.contracts.events import EmergencyRemoval
from referral_bus.domain.chain import content_fingerprint
from referral_bus.domain.rejections import Code, Rejection
from referral_bus.domain.signatures import KeyDirectory, key_id_for, pack, sign, unpack
from tests.builders import T0, envelope

POLICE = "police-juvenile-almaty"
SCHOOL = "school-almaty"


def new_key(directory: KeyDirectory, agency: str, at=T0 - timedelta(days=1)) -> tuple[str, Ed25519PrivateKey]:  # type: ignore[no-untyped-def]
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = key_id_for(agency, public)
    directory.fold(SigningKeyEnrolled(key_id=key_id, agency_id=agency, public_key=public, enrolled_at=at,
                                      enrolled_by="test"))
    return key_id, private


def removal(agency: str = POLICE) -> Event:
    return EmergencyRemoval(envelope=envelope(EmergencyRemoval, "C-1", agency), city=City.ALMATY, child_age_years=9,
                            child_removed=True, cam_social_worker_present=False)


def refusal(directory: KeyDirectory, event: Event, at=T0) -> Code:  # type: ignore[no-untyped-def]
    with pytest.raises(Rejection) as caught:
        directory.check(event, at=at)
    assert caught.value.field == "envelope.signature"
    return caught.value.code


def test_a_signature_by_the_producers_own_key_is_valid_and_survives_the_routers_stamps() -> None:
    keys = KeyDirectory()
    key_id, private = new_key(keys, POLICE)
    signed = sign(removal(), key_id, private)
    keys.check(signed, at=T0)
    stamped = signed.model_copy(update={"envelope": signed.envelope.model_copy(
        update={"sequence": 4, "recorded_at": T0, "previous_hash": "a" * 64, "hash": "b" * 64})})
    keys.check(stamped, at=T0)   # the router's fields are not part of what the agency signed


def test_unsigned_unknown_and_malformed_signatures_are_refused_with_their_own_codes() -> None:
    keys = KeyDirectory()
    key_id, private = new_key(keys, POLICE)
    assert refusal(keys, removal()) is Code.SIGNATURE_MISSING
    stranger = Ed25519PrivateKey.generate()
    assert refusal(keys, sign(removal(), "police-juvenile-almaty:0000000000000000", stranger)) \
        is Code.SIGNING_KEY_UNKNOWN
    garbled = removal()
    garbled = garbled.model_copy(update={"envelope": garbled.envelope.model_copy(update={"signature": b"\x07junk"})})
    assert refusal(keys, garbled) is Code.SIGNATURE_INVALID


def test_a_neighbours_key_cannot_sign_for_the_police() -> None:
    keys = KeyDirectory()
    new_key(keys, POLICE)
    school_key, school_private = new_key(keys, SCHOOL)
    forged = sign(removal(POLICE), school_key, school_private)
    assert refusal(keys, forged) is Code.SIGNATURE_INVALID


def test_any_change_after_signing_breaks_the_signature() -> None:
    keys = KeyDirectory()
    key_id, private = new_key(keys, POLICE)
    signed = sign(removal(), key_id, private)
    altered = signed.model_copy(update={"child_age_years": 10})
    assert refusal(keys, altered) is Code.SIGNATURE_INVALID
    other_key_same_id = sign(removal(), key_id, Ed25519PrivateKey.generate())
    assert refusal(keys, other_key_same_id) is Code.SIGNATURE_INVALID


def test_a_revoked_key_signs_nothing_from_its_revocation_on_but_what_it_signed_before_stays_valid() -> None:
    keys = KeyDirectory()
    key_id, private = new_key(keys, POLICE)
    signed = sign(removal(), key_id, private)
    keys.fold(SigningKeyRevoked(key_id=key_id, agency_id=POLICE, revoked_at=T0 + timedelta(hours=1),
                                reason="compromised", revoked_by="test"))
    keys.check(signed, at=T0)                                    # recorded before the revocation
    assert refusal(keys, signed, at=T0 + timedelta(hours=2)) is Code.SIGNING_KEY_REVOKED


def test_a_key_enrolled_after_the_event_was_recorded_cannot_vouch_for_it() -> None:
    keys = KeyDirectory()
    key_id, private = new_key(keys, POLICE, at=T0 + timedelta(days=1))
    assert refusal(keys, sign(removal(), key_id, private), at=T0) is Code.SIGNING_KEY_UNKNOWN


def test_a_second_enrolment_of_a_key_id_does_not_replace_the_first() -> None:
    keys = KeyDirectory()
    key_id, private = new_key(keys, POLICE)
    impostor = Ed25519PrivateKey.generate()
    keys.fold(SigningKeyEnrolled(key_id=key_id, agency_id=POLICE, enrolled_at=T0, enrolled_by="attacker",
                                 public_key=impostor.public_key().public_bytes(serialization.Encoding.Raw,
                                                                               serialization.PublicFormat.Raw)))
    keys.check(sign(removal(), key_id, private), at=T0)
    assert refusal(keys, sign(removal(), key_id, impostor)) is Code.SIGNATURE_INVALID


def test_the_signature_field_packs_and_unpacks() -> None:
    key_id = "cam-almaty:0123456789abcdef"
    assert unpack(pack(key_id, bytes(64))) == (key_id, bytes(64))
    for bad in (b"", b"\x01", b"\x02\x01a" + bytes(64), b"\x01\x05abc" + bytes(64), b"\x01\x01a" + bytes(63)):
        with pytest.raises(ValueError):
            unpack(bad)


def test_a_re_sent_event_signed_with_a_rotated_key_is_the_same_event() -> None:
    keys = KeyDirectory()
    event = removal()
    first = sign(event, *new_key(keys, POLICE))
    second = sign(event, *new_key(keys, POLICE))
    assert first.envelope.signature != second.envelope.signature
    assert content_fingerprint(first) == content_fingerprint(second)  # a DUPLICATE, not an id conflict
