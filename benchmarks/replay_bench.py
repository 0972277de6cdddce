"""Replay of the case log into case states against a raw consume that decodes the same Avro, in
alternating rounds on the same broker and the same log.

Log: ``events`` chained events written straight to the case log (``benchmarks/case_log.py``:
cases of ``events_per_case``).

Subject, per record: ``read_to_end`` (the services' reader), the bus codec's ``decode`` (frame,
writer's schema by id resolved against the reader's, pydantic model with its checks), the hash-chain
check every consumer of the case log applies (``ChainFollower``: canonical JSON + SHA-256) and
``fold`` into the case's state — what a service does per record when it rebuilds, less its own
bookkeeping (the restart benchmark times the real services).

Baseline, per record: the same ``read_to_end`` and the same Avro decoding with raw fastavro and the
same schema handling (``benchmarks/raw_avro.py``) into a dict, nothing else. Also shown: the bare
consume (no decoding), which says how much of either is the broker and the client.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import case_log
from benchmarks.brokers import local_broker
from benchmarks.raw_avro import RawAvro
from referral_bus.contracts.base import Event
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.chain import ChainFollower
from referral_bus.domain.decisions import fold
from referral_bus.infra.kafka.log_reader import read_to_end
from referral_bus.infra.runtime import Runtime
from tests.conftest import apply_test_topics, make_runtime


async def _bare(runtime: Runtime, topic: str) -> float:
    start, n = time.perf_counter(), 0
    async for _ in read_to_end(runtime.settings.bootstrap_servers, [topic]):
        n += 1
    return n / (time.perf_counter() - start)


async def _raw_decode(runtime: Runtime, raw: RawAvro, topic: str) -> float:
    start, n = time.perf_counter(), 0
    async for record in read_to_end(runtime.settings.bootstrap_servers, [topic]):
        raw.decode(record.value)
        n += 1
    return n / (time.perf_counter() - start)


async def _replay(runtime: Runtime, topic: str) -> float:
    start, n = time.perf_counter(), 0
    cases: dict[str, CaseState] = {}
    chains = ChainFollower()
    async for record in read_to_end(runtime.settings.bootstrap_servers, [topic]):
        event = runtime.codec.decode(record.value)
        assert isinstance(event, Event) and chains.refuse(event) is None
        cid = event.envelope.case_id
        fold(cases.setdefault(cid, CaseState(cid)), event, runtime.directory)
        n += 1
    return n / (time.perf_counter() - start)


def run(events: int = 20_000, broker: str = "kafka", rounds: int = 3, events_per_case: int = 30) -> dict[str, float]:
    with local_broker(broker) as servers, tempfile.TemporaryDirectory() as tmp:
        runtime = make_runtime(servers, "rp.", Path(tmp))
        apply_test_topics(runtime)
        case_log.fill(runtime, events, events_per_case)
        topic = runtime.catalogue.name("case_log")
        raw = RawAvro(runtime.codec.registry)
        bare, decoding, replay, ratios = [], [], [], []
        asyncio.run(_bare(runtime, topic))   # warm: page cache, metadata
        for _ in range(rounds):
            decoding.append(asyncio.run(_raw_decode(runtime, raw, topic)))
            replay.append(asyncio.run(_replay(runtime, topic)))
            bare.append(asyncio.run(_bare(runtime, topic)))
            ratios.append(replay[-1] / decoding[-1])
    return {"events": float(events), "rounds": float(rounds),
            "replay into case states events/s": statistics.median(replay),
            "raw consume + fastavro decode events/s": statistics.median(decoding),
            "bare consume events/s": statistics.median(bare),
            "ratio replay / raw decoding consume": statistics.median(ratios),
            "ratio min": min(ratios), "ratio max": max(ratios),
            "raw decoding seconds per pass": events / statistics.median(decoding)}
