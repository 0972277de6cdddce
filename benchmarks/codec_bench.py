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

    return {"referral-bus codec": rate(ours), "raw fastavro": rate(raw_fastavro), "json": rate(raw_json),
            "bytes avro (framed)": float(len(codec.encode(event))), "bytes json": float(len(json.dumps(plain)))}
