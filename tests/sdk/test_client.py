"""The SDK without a broker: building events, local validation with the paragraph, unknown
agencies, and the inbox dropping a delivery re-sent after a crash."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
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


def test_an_event_timed_in_almaty_signs_what_the_router_decodes(keyed: Runtime) -> None:
    """An agency system that builds times with Almaty's +05:00 offset: the router decodes them in
    UTC, so the SDK must sign that form, or every such event is refused SIGNATURE_INVALID."""
    from datetime import datetime, timedelta, timezone

    from cryptography.hazmat.primitives import serialization

    from referral_bus.domain.signatures import KeyDirectory
    from referral_bus.infra.signing_keys import SigningKeyStore, enrolment

    client = AgencyClient("school-almaty", actor_id="teacher-1", runtime=keyed)
    key_id, private = SigningKeyStore(keyed.settings.signing_keys).current("school-almaty")
    keys = KeyDirectory()
    keys.fold(enrolment("school-almaty", key_id,
                        private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
                        "test"))
    almaty = datetime.now(timezone(timedelta(hours=5))) - timedelta(minutes=5)
    event = client.event(ReferralMade, case_id="CASE-1", occurred_at=almaty,
                         referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY, child_age_years=7)
    assert event.envelope.occurred_at.utcoffset() == timedelta(hours=5)
    sent = keyed.codec.decode(client.validate(event))
    assert sent.envelope.occurred_at.utcoffset() == timedelta(0)   # type: ignore[attr-defined]
    keys.check(sent, at=datetime.now(UTC) + timedelta(seconds=1))   # type: ignore[arg-type]


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


def test_the_sdk_seals_personal_data_to_the_vault_and_opens_its_own_copy(keyed: Runtime, tmp_path: Path) -> None:
    """Issue 11, item 4: with the vault's public key at hand, nothing personal leaves in clear; a copy
    sealed for this agency opens through the key service, a copy sealed for another does not."""
    from referral_bus.contracts.base import SEALED, PersonalData
    from referral_bus.domain.sealing import rewrap, unwrap_with_private, wrap_with_key
    from referral_bus.infra.vault import KeyService, Vault
    from referral_bus.sdk import PersonalDataUnavailable

    runtime = replace(keyed, settings=replace(keyed.settings, data_dir=tmp_path / "data"))
    client = AgencyClient("school-almaty", actor_id="teacher-1", runtime=runtime)
    event = client.event(ReferralMade, case_id="CASE-9", referral_kind=ReferralKind.CHILD_PROTECTION,
                         city=City.ALMATY, child_age_years=7, referring_body="teacher of Invented Pupil",
                         personal_data=PersonalData(child_name="Invented Pupil"))
    assert b"Invented Pupil" in client.validate(event)            # no vault key known: sent as it is
    vault = Vault.open(runtime.settings)
    sent = runtime.codec.decode(client.validate(event))
    assert b"Invented Pupil" not in client.validate(event)
    assert isinstance(sent, ReferralMade) and sent.sealed is not None and sent.referring_body == SEALED
    # what the router does: unwrap with the ingress key, re-wrap under the case key for one recipient
    [ingress] = vault.ingress_keys().values()
    data_key = unwrap_with_private(sent.sealed.wrapped_key, ingress, case_id="CASE-9",
                                   event_id=str(sent.envelope.event_id), key_ref=sent.sealed.key_ref)
    key_ref, case_key = vault.case_key("CASE-9", create=True) or ("", b"")
    reads: list[dict[str, object]] = []
    service = KeyService(vault, lambda **kw: reads.append(kw))
    for recipient in ("school-almaty", "cam-almaty"):
        copy = rewrap(sent, wrap_with_key(data_key, case_key, case_id="CASE-9", event_id=str(sent.envelope.event_id),
                                          recipient=recipient, key_ref=key_ref), key_ref=key_ref, recipient=recipient)
        with AgencyClient("school-almaty", actor_id="teacher-1", runtime=runtime, unwrap=lambda **kw: service.unwrap(
                principal="school-almaty", authenticated=True, **kw)) as reader:
            if recipient == "school-almaty":
                opened = reader.open_personal_data(copy, purpose="referral 2026-41 follow-up")
                assert opened.sealed is None and opened.personal_data == event.personal_data
                assert opened.model_dump(exclude={"envelope"}) == event.model_dump(exclude={"envelope"})
            else:
                with pytest.raises(PersonalDataUnavailable) as refused:
                    reader.open_personal_data(copy, purpose="referral 2026-41 follow-up")
                assert refused.value.code == "NOT_SEALED_FOR_US"
    assert [r["tool"] for r in reads] == ["unwrap"]
