"""Verifiable forever: an event written with an older release of its schema — before later releases
added fields to its type (``home_city``, ``sealed``) — keeps its hash, signature and duplicate
fingerprint when today's code reads it (``domain/canonical.py``, ``infra/codec/framing.py``)."""

from __future__ import annotations

import hashlib
import io
import json
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastavro import parse_schema, schemaless_writer

from referral_bus.contracts.base import City
from referral_bus.contracts.events import ReferralKind, ReferralMade
from referral_bus.domain.canonical import prune, shape_of
from referral_bus.domain.chain import GENESIS, ChainFollower, chain_hash, content_fingerprint
from referral_bus.domain.signatures import sign, signing_bytes
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.codec.framing import Codec
from referral_bus.infra.codec.registry import EmbeddedRegistry, embedded_schema_id
from referral_bus.infra.codec.schema_store import SchemaStore
from referral_bus.infra.settings import Settings
from tests.builders import FICTIONAL, T0, envelope

#: ReferralMade v4: before ``home_city`` (v5) and ``sealed`` (v6)
OLD = 4


@pytest.fixture(scope="module")
def store() -> SchemaStore:
    return SchemaStore(Settings().schemas_dir)


@pytest.fixture(scope="module")
def codec(store: SchemaStore) -> Codec:
    return Codec(EmbeddedRegistry.from_directory(store.directory), versions=store.install_canonical_versions())


def referral(version: int) -> ReferralMade:
    env = envelope(ReferralMade, "CASE-OLD", "school-almaty", at=T0).model_copy(update={"schema_version": version})
    return ReferralMade(envelope=env, referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY, child_age_years=11,
                        personal_data=FICTIONAL)


def old_release_bytes(store: SchemaStore, event: ReferralMade) -> tuple[bytes, ReferralMade]:
    """What an older release wrote: its router hashed the event over the fields its model had (the
    v4 fields) and framed it with the v4 schema — computed here from the v4 file alone."""
    schema = json.loads(store.version_paths("ReferralMade")[OLD - 1].read_text())
    old_fields = prune(event.model_dump(mode="json"), shape_of(schema))
    assert "home_city" not in old_fields and "sealed" not in old_fields
    stamped = event.model_copy(update={"envelope": event.envelope.model_copy(update={
        "sequence": 1, "previous_hash": GENESIS, "recorded_at": T0})})
    body = prune(stamped.model_dump(mode="json"), shape_of(schema))
    body["envelope"]["hash"] = None
    old_hash = hashlib.sha256(GENESIS.encode() + json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
    stamped = stamped.model_copy(update={"envelope": stamped.envelope.model_copy(update={"hash": old_hash})})
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, embedded_schema_id(schema)))
    schemaless_writer(buffer, parse_schema(schema), stamped.model_dump())
    return buffer.getvalue(), stamped


def test_an_event_an_older_release_wrote_still_verifies(store: SchemaStore, codec: Codec) -> None:
    data, written = old_release_bytes(store, referral(OLD))
    read = codec.decode(data)
    assert isinstance(read, ReferralMade) and read.home_city is None and read.sealed is None  # today's defaults
    assert ChainFollower().refuse(read) is None                     # its hash still matches
    assert read.envelope.hash == chain_hash(GENESIS, read)
    assert content_fingerprint(read) == content_fingerprint(written)
    # and its copy written again (case log, inbox, archive) is byte-identical: the v4 schema again
    assert codec.encode(read) == data


def test_a_signature_over_an_older_version_still_checks(codec: Codec) -> None:
    key = Ed25519PrivateKey.generate()
    signed = sign(referral(OLD), "school-almaty:0123456789abcdef", key)
    read = codec.decode(codec.encode(signed))
    key.public_key().verify(read.envelope.signature[-64:], signing_bytes(read))  # type: ignore[index]
    assert signing_bytes(read) == signing_bytes(signed)
    assert b"home_city" not in signing_bytes(read) and b"sealed" not in signing_bytes(read)
    assert b"home_city" in signing_bytes(referral(codec.current_version("ReferralMade")))


def test_a_value_in_a_field_the_declared_version_lacks_is_refused_not_dropped(codec: Codec) -> None:
    event = referral(OLD).model_copy(update={"home_city": City.SHYMKENT})
    with pytest.raises(DecodeError) as refused:
        codec.encode(event)
    assert refused.value.code == "SCHEMA_VERSION_MISMATCH" and refused.value.field == "home_city"
    assert "version 4 of ReferralMade" in refused.value.message


def test_a_frame_written_with_another_version_than_it_declares_is_named(store: SchemaStore, codec: Codec) -> None:
    current = codec.current_version("ReferralMade")
    assert codec.declared_version_problem(codec.encode(referral(current)), referral(current)) is None
    data = codec.encode(referral(OLD))
    claims_current = codec.decode(data).model_copy(update={"envelope": referral(current).envelope})
    problem = codec.declared_version_problem(data, claims_current)
    assert problem is not None and problem.code == "SCHEMA_VERSION_MISMATCH"
    assert problem.field == "envelope.schema_version" and f"written with version {OLD}" in problem.message
    with pytest.raises(DecodeError, match="99 is not a released version of ReferralMade"):
        codec.encode(referral(99))


def test_a_schema_that_removes_a_field_of_a_released_event_version_is_refused(store: SchemaStore) -> None:
    current = json.loads(store.current_path("ReferralMade").read_text())
    without = {**current, "fields": [f for f in current["fields"] if f["name"] != "home_city"]}
    problems = store.removed_fields(without, "ReferralMade")
    assert problems and "v5 has 'home_city'" in problems[0]
    assert store.removed_fields(current, "ReferralMade") == []
