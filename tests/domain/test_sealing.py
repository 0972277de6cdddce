"""Sealed personal data (domain/sealing.py): the personal part opens only with its data key, for the
event it was sealed in; the data key unwraps only for the recipient it was wrapped for; the signature
does not depend on the wrapping; a re-sealed event has the same content fingerprint."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from referral_bus.contracts.base import REDACTED, SEALED, City, PersonalData
from referral_bus.contracts.events import NGODecision, NGODecisionKind, ReferralKind, ReferralMade, SupportService
from referral_bus.domain.chain import content_fingerprint
from referral_bus.domain.sealing import (
    CASE_LOG,
    VAULT,
    SealingError,
    has_personal,
    key_ref_for_public,
    open_sealed,
    public_bytes,
    rewrap,
    seal_to_public,
    unwrap_with_key,
    unwrap_with_private,
    wrap_with_key,
)
from referral_bus.domain.signatures import KeyDirectory, sign, signing_bytes
from tests.builders import envelope

NAME = "Zhanargul Testova-Quill"   # invented
AT = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def referral(case: str = "C-SEAL-1") -> ReferralMade:
    return ReferralMade(envelope=envelope(ReferralMade, case, "school-almaty", at=AT),
                        referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY, child_age_years=12,
                        services_requested=[SupportService.SOCIAL], referring_body=f"class teacher of {NAME}",
                        personal_data=PersonalData(child_name=NAME, narrative=f"{NAME} was seen crying"))


@pytest.fixture(scope="module")
def ingress() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def opened_key(event: ReferralMade, ingress: X25519PrivateKey) -> bytes:
    assert event.sealed is not None
    return unwrap_with_private(event.sealed.wrapped_key, ingress, case_id=event.envelope.case_id,
                               event_id=str(event.envelope.event_id), key_ref=event.sealed.key_ref)


def test_round_trip_and_the_sealed_form_names_nobody(ingress: X25519PrivateKey) -> None:
    event = referral()
    sealed = seal_to_public(event, public_bytes(ingress.public_key()))
    assert sealed.personal_data is None and sealed.referring_body == SEALED and sealed.sealed is not None
    assert (sealed.sealed.recipient, sealed.sealed.key_ref) == (VAULT, key_ref_for_public(public_bytes(
        ingress.public_key())))
    assert NAME.encode() not in sealed.model_dump_json().encode() and not has_personal(
        sealed.model_copy(update={"sealed": None, "referring_body": None}))
    assert open_sealed(sealed, opened_key(sealed, ingress)) == event
    redacted = sealed.redacted()
    assert redacted.sealed is None and redacted.referring_body == REDACTED


def test_an_event_without_personal_part_is_left_as_it_is(ingress: X25519PrivateKey) -> None:
    event = referral().model_copy(update={"personal_data": None, "referring_body": None})
    assert seal_to_public(event, public_bytes(ingress.public_key())) is event


@pytest.mark.parametrize("part", ["ciphertext", "nonce"])
def test_altered_ciphertext_or_nonce_does_not_open(ingress: X25519PrivateKey, part: str) -> None:
    sealed = seal_to_public(referral(), public_bytes(ingress.public_key()))
    assert sealed.sealed is not None
    value = bytearray(getattr(sealed.sealed, part))
    value[0] ^= 1
    altered = sealed.model_copy(update={"sealed": sealed.sealed.model_copy(update={part: bytes(value)})})
    with pytest.raises(SealingError, match="sealed.ciphertext"):
        open_sealed(altered, opened_key(sealed, ingress))


def test_a_ciphertext_moved_to_another_event_does_not_open(ingress: X25519PrivateKey) -> None:
    sealed = seal_to_public(referral(), public_bytes(ingress.public_key()))
    other = referral("C-SEAL-2").model_copy(update={"sealed": sealed.sealed, "personal_data": None,
                                                    "referring_body": SEALED})
    with pytest.raises(SealingError):
        open_sealed(other, opened_key(sealed, ingress))
    # nor does its wrapped key unwrap for the other event
    with pytest.raises(SealingError, match="wrapped_key"):
        opened_key(other, ingress)


def test_only_the_vaults_key_unwraps_a_submission(ingress: X25519PrivateKey) -> None:
    sealed = seal_to_public(referral(), public_bytes(ingress.public_key()))
    with pytest.raises(SealingError, match="ingress key"):
        opened_key(sealed, X25519PrivateKey.generate())


def test_a_copy_wrapped_for_one_agency_does_not_unwrap_for_another(ingress: X25519PrivateKey) -> None:
    case_key, data_key = os.urandom(32), os.urandom(32)
    wrapped = wrap_with_key(data_key, case_key, case_id="C-1", event_id="e-1", recipient="ngo-rodnik",
                            key_ref="case:00")
    assert unwrap_with_key(wrapped, case_key, case_id="C-1", event_id="e-1", recipient="ngo-rodnik",
                           key_ref="case:00") == data_key
    for recipient, case_id, key in (("school-almaty", "C-1", case_key), (CASE_LOG, "C-1", case_key),
                                    ("ngo-rodnik", "C-2", case_key), ("ngo-rodnik", "C-1", os.urandom(32))):
        with pytest.raises(SealingError, match="case key"):
            unwrap_with_key(wrapped, key, case_id=case_id, event_id="e-1", recipient=recipient, key_ref="case:00")


def test_the_signature_holds_across_rewrapping_but_not_across_a_changed_ciphertext(
        ingress: X25519PrivateKey) -> None:
    from referral_bus.contracts.bus_records import SigningKeyEnrolled
    from referral_bus.domain.signatures import key_id_for
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes_raw()
    key_id = key_id_for("school-almaty", raw)
    keys = KeyDirectory()
    keys.fold(SigningKeyEnrolled(key_id=key_id, agency_id="school-almaty", public_key=raw,
                                 enrolled_at=AT - timedelta(days=1), enrolled_by="admin"))
    signed = sign(seal_to_public(referral(), public_bytes(ingress.public_key())), key_id, private)
    copy = rewrap(signed, os.urandom(60), key_ref="case:0123456789abcdef", recipient="ngo-rodnik")
    assert signing_bytes(copy) == signing_bytes(signed)
    keys.check(copy, at=AT)
    assert copy.sealed is not None
    tampered = copy.model_copy(update={"sealed": copy.sealed.model_copy(update={"ciphertext": os.urandom(40)})})
    assert signing_bytes(tampered) != signing_bytes(signed)


def test_a_resealed_event_has_the_same_fingerprint_when_opened(ingress: X25519PrivateKey) -> None:
    event = referral()
    first = seal_to_public(event, public_bytes(ingress.public_key()))
    second = seal_to_public(event, public_bytes(ingress.public_key()))
    assert first.sealed != second.sealed
    assert content_fingerprint(open_sealed(first, opened_key(first, ingress))) == \
        content_fingerprint(open_sealed(second, opened_key(second, ingress))) == content_fingerprint(event)
    other = event.model_copy(update={"personal_data": PersonalData(child_name="Another Invented")})
    assert content_fingerprint(other) != content_fingerprint(event)


def test_what_opens_must_be_valid_for_the_event_type(ingress: X25519PrivateKey) -> None:
    """A declined NGO decision needs its reasons (5.18): sealed, the rule still holds on the marker;
    opened, on the text."""
    decision = NGODecision(envelope=envelope(NGODecision, "C-SEAL-3", "ngo-rodnik", at=AT),
                           decision=NGODecisionKind.DECLINED_NO_SPACE, reasons=f"no place for {NAME}")
    sealed = seal_to_public(decision, public_bytes(ingress.public_key()))
    assert sealed.reasons == SEALED
    assert sealed.sealed is not None
    data_key = unwrap_with_private(sealed.sealed.wrapped_key, ingress, case_id="C-SEAL-3",
                                   event_id=str(decision.envelope.event_id), key_ref=sealed.sealed.key_ref)
    assert open_sealed(sealed, data_key).reasons == f"no place for {NAME}"
