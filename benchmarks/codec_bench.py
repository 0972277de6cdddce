"""Codec: referral-bus encode+decode (pydantic model ↔ Confluent-framed Avro, with validation)
against raw fastavro (dict ↔ Avro) and json (dict ↔ JSON text), same event, same process."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from referral_bus.contracts.base import City, Envelope, PersonalData, Producer
from referral_bus.contracts.events import EmergencyRemoval
from referral_bus.infra.codec.framing import Codec
from referral_bus.infra.codec.registry import EmbeddedRegistry
from referral_bus.infra.codec.schema_export import avro_schema
from referral_bus.infra.settings import Settings


def sample() -> EmergencyRemoval:
    import uuid
    now = datetime.now(UTC)
    return EmergencyRemoval(
        envelope=Envelope(event_id=uuid.uuid4(), event_type="EmergencyRemoval", schema_version=1, case_id="BENCH-0001",
                          occurred_at=now, recorded_at=now, sequence=3, previous_hash="a" * 64, hash="b" * 64,
                          producer=Producer(agency_id="police-juvenile-almaty", actor_id="inspector-1")),
        personal_data=PersonalData(child_name="Fictional Child", child_address="Fictional street 1",
                                   narrative="benchmark data, fictional" * 3),
        city=City.ALMATY, child_age_years=9, child_removed=True, cam_social_worker_present=False)


def rate(fn: Callable[[], Any], seconds: float = 1.5) -> float:
    for _ in range(200):
        fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            fn()
        n += 200
    return n / (time.perf_counter() - start)


def run() -> dict[str, float]:
    codec = Codec(EmbeddedRegistry.from_directory(Settings().schemas_dir))
    event = sample()
    parsed = parse_schema(avro_schema(EmergencyRemoval))
    datum = event.model_dump()
    plain = event.model_dump(mode="json")

    def ours() -> None:
        codec.decode(codec.encode(event))

    def raw_fastavro() -> None:
        buffer = io.BytesIO()
        schemaless_writer(buffer, parsed, datum)
        buffer.seek(0)
        schemaless_reader(buffer, parsed, parsed)

    def raw_json() -> None:
        json.loads(json.dumps(plain))

    sealed = sealing_pair(codec, event)
    return {"referral-bus codec": rate(ours), "raw fastavro": rate(raw_fastavro), "json": rate(raw_json),
            "sealed round trip": rate(sealed),
            "bytes avro (framed)": float(len(codec.encode(event))), "bytes json": float(len(json.dumps(plain))),
            "bytes sealed (framed)": float(len(codec.encode(_sealed_once(event))))}


def _sealed_once(event: EmergencyRemoval) -> EmergencyRemoval:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from referral_bus.domain.sealing import public_bytes, seal_to_public
    return seal_to_public(event, public_bytes(X25519PrivateKey.generate().public_key()))


def sealing_pair(codec: Codec, event: EmergencyRemoval) -> Callable[[], None]:
    """What sealing adds to one event with personal data, end to end (issue 11 item 4): the producer
    seals it to the vault's ingress key and encodes it; the router decodes it, unwraps the data key,
    opens it for its checks and re-wraps the key under the case key for the case log and one
    entitled recipient. Compared with the same codec round trip without sealing ("referral-bus codec")."""
    import os

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from referral_bus.domain.sealing import (
        CASE_LOG,
        open_sealed,
        public_bytes,
        seal_to_public,
        unwrap_with_private,
        wrap_with_key,
    )
    vault = X25519PrivateKey.generate()
    public, case_key = public_bytes(vault.public_key()), os.urandom(32)

    def sealed_round_trip() -> None:
        received = codec.decode(codec.encode(seal_to_public(event, public)))
        assert isinstance(received, EmergencyRemoval) and received.sealed is not None
        env = received.envelope
        ids = {"case_id": env.case_id, "event_id": str(env.event_id)}
        data_key = unwrap_with_private(received.sealed.wrapped_key, vault, **ids, key_ref=received.sealed.key_ref)
        open_sealed(received, data_key)
        for recipient in (CASE_LOG, "cam-almaty"):
            wrap_with_key(data_key, case_key, **ids, recipient=recipient, key_ref="case")
    return sealed_round_trip
