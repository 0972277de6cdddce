"""The SDK without a broker: building events, local validation with the paragraph, unknown
agencies, and the inbox dropping a delivery re-sent after a crash."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from referral_bus.contracts.base import City
from referral_bus.contracts.events import ReferralKind, ReferralMade, RemovalOutcomeReported
from referral_bus.infra.runtime import Runtime
from referral_bus.sdk import AgencyClient, PublishError
from referral_bus.sdk.client import SEEN_DELIVERIES


@pytest.fixture
def keyed(runtime: Runtime, tmp_path: Path) -> Runtime:
    """The project's runtime with a signing key for the school in a temporary key store."""
    from referral_bus.infra.signing_keys import SigningKeyStore
    SigningKeyStore(tmp_path).generate("school-almaty")
    return replace(runtime, settings=replace(runtime.settings, signing_key_dir=tmp_path))


def test_event_has_a_complete_envelope_with_router_fields_empty(keyed: Runtime) -> None:
    runtime = keyed
    client = AgencyClient("school-almaty", actor_id="teacher-1", runtime=runtime)
    event = client.event(ReferralMade, case_id="CASE-1", referral_kind=ReferralKind.CHILD_PROTECTION,
                         city=City.ALMATY, child_age_years=7)
    env = event.envelope
    assert (env.event_type, env.case_id, env.producer.agency_id, env.producer.actor_id) == (
        "ReferralMade", "CASE-1", "school-almaty", "teacher-1")
    assert env.schema_version == runtime.schema_store.version_of("ReferralMade")
    assert (env.recorded_at, env.sequence, env.previous_hash, env.hash) == (None, None, None, None)
    assert client.validate(event)[:1] == b"\x00"   # Confluent framing


def test_the_sdk_signs_with_the_agencys_current_key_and_follows_a_rotation(keyed: Runtime) -> None:
    from cryptography.hazmat.primitives import serialization

    from referral_bus.domain.signatures import KeyDirectory, unpack
    from referral_bus.infra.signing_keys import SigningKeyStore, enrolment

    client = AgencyClient("school-almaty", actor_id="teacher-1", runtime=keyed)
    store = SigningKeyStore(keyed.settings.signing_keys)
    keys = KeyDirectory()
    key_id, private = store.current("school-almaty")
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    keys.fold(enrolment("school-almaty", key_id, public, "test"))
    event = client.event(ReferralMade, case_id="CASE-1", referral_kind=ReferralKind.CHILD_PROTECTION,
                         city=City.ALMATY, child_age_years=7)
    sent = keyed.codec.decode(client.validate(event))
    keys.check(sent, at=event.envelope.occurred_at)   # type: ignore[arg-type]
    rotated, new_public = store.generate("school-almaty")      # an operator rotates while the client runs
    assert unpack(keyed.codec.decode(client.validate(event)).envelope.signature)[0] == rotated  # type: ignore[union-attr,arg-type]
    assert rotated != key_id and len(new_public) == 32


def test_without_a_signing_key_nothing_leaves_and_the_error_says_how_to_get_one(runtime: Runtime,
                                                                               tmp_path: Path) -> None:
    empty = replace(runtime, settings=replace(runtime.settings, signing_key_dir=tmp_path))
    client = AgencyClient("school-almaty", actor_id="teacher-1", runtime=empty)
    event = client.event(ReferralMade, case_id="CASE-1", referral_kind=ReferralKind.CHILD_PROTECTION,
                         city=City.ALMATY, child_age_years=7)
    with pytest.raises(PublishError, match="referral-bus keys enrol school-almaty"):
        client.validate(event)


def test_a_bad_field_is_named_before_anything_is_sent(runtime: Runtime) -> None:
    client = AgencyClient("school-almaty", actor_id="teacher-1", runtime=runtime)
    with pytest.raises(PublishError, match="case_id"):
        client.event(ReferralMade, case_id="x", referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY,
                     child_age_years=7)


def test_an_agency_may_publish_only_its_own_duties(runtime: Runtime) -> None:
    school = AgencyClient("school-almaty", actor_id="teacher-1", runtime=runtime)
    report = school.event(RemovalOutcomeReported, case_id="CASE-1", child_removed=True,
                          placed_in_temporary_care=True, referred_to_cam=True)
    with pytest.raises(PublishError, match=r"AGENCY_NOT_ALLOWED.*allowed: police.*4\.8"):
        school.validate(report)


def test_an_agency_not_in_the_directory_is_refused_at_once(runtime: Runtime) -> None:
    with pytest.raises(ValueError, match="not in the agency directory"):
        AgencyClient("no-such-agency", actor_id="x", runtime=runtime)


def test_the_inbox_hands_each_delivery_over_once(runtime: Runtime) -> None:
    client = AgencyClient("cam-almaty", actor_id="reader", runtime=runtime)
    assert [client._already_seen(d) for d in ("d-1", "d-2", "d-1", None, None)] == [False, False, True, False, False]
    for n in range(SEEN_DELIVERIES + 1):   # the memory is bounded: the oldest is forgotten
        client._already_seen(f"x-{n}")
    assert client._already_seen("x-0") is False and len(client._seen) <= SEEN_DELIVERIES + 1
