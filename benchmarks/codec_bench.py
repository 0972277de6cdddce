"""Codec: referral-bus encode+decode (pydantic model ↔ Confluent-framed Avro, with validation)
against raw fastavro with the same schema handling (``benchmarks/raw_avro.py``: framed, writer's
schema by id resolved against the reader's, dict ↔ Avro) and json (dict ↔ JSON text), same event,
same process, measured in alternation so both see the same load."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from benchmarks.raw_avro import RawAvro
from referral_bus.contracts.base import City, Envelope, PersonalData, Producer
from referral_bus.contracts.events import EmergencyRemoval
from referral_bus.infra.codec.framing import Codec
from referral_bus.infra.runtime import load_runtime


def sample(version: int = 1) -> EmergencyRemoval:
    """The event, declaring schema ``version`` (the codec writes a case event with the schema of
    the version it names: give the current one to time the common path)."""
    import uuid
    now = datetime.now(UTC)
    return EmergencyRemoval(
        envelope=Envelope(event_id=uuid.uuid4(), event_type="EmergencyRemoval", schema_version=version,
                          case_id="BENCH-0001",
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
    runtime = load_runtime()
    codec: Codec = runtime.codec          # as every service builds it: every released version known
    raw = RawAvro(codec.registry)
    event = sample(codec.current_version("EmergencyRemoval"))
    datum = event.model_dump()
    plain = event.model_dump(mode="json")

    def ours() -> None:
        codec.decode(codec.encode(event))

    def raw_fastavro() -> None:
        raw.decode(raw.encode("EmergencyRemoval", datum))

    def raw_json() -> None:
        json.loads(json.dumps(plain))

    sealed = sealing_pair(codec, event)
    # alternate subject and baseline in slices of 100 round trips, 5 groups of ~1 s: a change of
    # machine load hits both alike; each group gives one ratio
    ours_rates, raw_rates = [], []
    for _ in range(5):
        spent = {"ours": 0.0, "raw": 0.0}
        done = 0
        while spent["ours"] + spent["raw"] < 1.0:
            for name, fn in (("ours", ours), ("raw", raw_fastavro)):
                start = time.perf_counter()
                for _ in range(100):
                    fn()
                spent[name] += time.perf_counter() - start
            done += 100
        ours_rates.append(done / spent["ours"])
        raw_rates.append(done / spent["raw"])
    ratios = sorted(o / r for o, r in zip(ours_rates, raw_rates))
    return {"referral-bus codec": statistics.median(ours_rates), "raw fastavro": statistics.median(raw_rates),
            "ratio to raw fastavro (median of 5 alternations)": ratios[2],
            "ratio min": ratios[0], "ratio max": ratios[-1], "json": rate(raw_json),
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
