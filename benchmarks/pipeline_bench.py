"""Events/s through router + SLA processor (real processes on a local broker) against a raw
aiokafka consume→produce pass-through of the same number of same-sized messages on the same broker.

Pipeline: N emergency removals (each a new case) are produced at once to the police ingress topic;
the clock runs until the SLA processor has written every record the deadline engine says they
cause (4.8, 6.3(a) and the 4.9 policy threshold: counted by running the pure engine over the same
events) — so the figure covers validation, case log, receipts, inboxes and deadlines.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from benchmarks.brokers import local_broker
from referral_bus.contracts.sla_records import DeadlineOpened
from referral_bus.sdk import AgencyClient
from tests.builders import case_id, on_log, referral, removal
from tests.conftest import start_bus


async def _count_until(servers: str, topic: str, partitions: int, target: int, timeout: float,
                       schema_id: int | None = None) -> float:
    """Follow ``topic`` from the start; return the time when ``target`` records (of the Avro schema
    ``schema_id`` only, read from the Confluent frame, when given) have been seen."""
    frame = None if schema_id is None else b"\x00" + schema_id.to_bytes(4, "big")
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    seen, deadline = 0, time.monotonic() + timeout
    try:
        while seen < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"saw {seen}/{target} records on {topic}")
            for records in (await consumer.getmany(timeout_ms=200)).values():
                seen += len(records) if frame is None else sum(1 for r in records if r.value[:5] == frame)
        return time.perf_counter()
    finally:
        await consumer.stop()


async def passthrough(servers: str, values: list[bytes], keys: list[bytes]) -> float:
    """Raw aiokafka: consume N records from one topic, produce each to another, wait for all acks."""
    source, sink = f"bench-in-{secrets.token_hex(3)}", f"bench-out-{secrets.token_hex(3)}"
    admin = KafkaAdminClient(bootstrap_servers=servers)
    admin.create_topics([NewTopic(source, 3, 1), NewTopic(sink, 3, 1)])
    admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=5, acks="all")
    await producer.start()
    await asyncio.gather(*[await producer.send(source, v, key=k) for k, v in zip(keys, values)])
    consumer = AIOKafkaConsumer(source, bootstrap_servers=servers, group_id=f"bench-{secrets.token_hex(3)}",
                                auto_offset_reset="earliest", enable_auto_commit=True)
    await consumer.start()
    pending, done, started = [], 0, None
    while done < len(values):
        for records in (await consumer.getmany(timeout_ms=200)).values():
            if started is None:
                started = time.perf_counter()
            for record in records:
                pending.append(await producer.send(sink, record.value, key=record.key))
                done += 1
    await asyncio.gather(*pending)
    elapsed = time.perf_counter() - (started or time.perf_counter())
    await consumer.stop()
    await producer.stop()
    return len(values) / elapsed


def sla_records_owed(runtime, events) -> int:  # type: ignore[no-untyped-def]
    """How many deadlines the SLA processor opens for ``events`` (the pure engine, same rules)."""
    engine = runtime.deadline_engine()
    return sum(isinstance(r, DeadlineOpened)
               for e in events for r in engine.on_event(on_log(e, 1, recorded_at=e.envelope.occurred_at)))


def run(n: int = 2000, broker: str = "kafka") -> dict[str, float]:
    with local_broker(broker) as servers, tempfile.TemporaryDirectory() as tmp:
        bus = start_bus(servers, Path(tmp))
        try:
            police = AgencyClient("police-juvenile-almaty", actor_id="bench", runtime=bus.runtime)
            school = AgencyClient("school-almaty", actor_id="bench", runtime=bus.runtime)
            school.publish(referral(school, case_id("WARM")), wait_for_receipt=True, timeout=120)
            events = [removal(police, case_id("BENCH"), hours_ago=1) for _ in range(n)]
            values = [police.validate(e) for e in events]
            keys = [e.envelope.case_id.encode() for e in events]
            sla_topic = bus.runtime.catalogue.name("sla")
            log_topic = bus.runtime.catalogue.name("case_log")
            warm_sla, warm_log = 1, 1   # the warm-up referral: one 6.3(b) deadline, one case-log event
            owed = sla_records_owed(bus.runtime, events)

            async def measure() -> tuple[float, float, float]:
                start = time.perf_counter()
                ingress = bus.runtime.catalogue.ingress(police.agency.id)
                for k, v in zip(keys, values):
                    police.producer.send(ingress, key=k, value=v)
                police.producer.flush()
                log_done, sla_done = await asyncio.gather(
                    _count_until(servers, log_topic, 3, warm_log + n, 600),
                    _count_until(servers, sla_topic, 3, warm_sla + owed, 600,
                                 schema_id=bus.runtime.codec.schema_id(DeadlineOpened)))
                return start, log_done, sla_done

            start, log_done, sla_done = asyncio.run(measure())
            baseline = asyncio.run(passthrough(servers, values, keys))
            police.close()
            school.close()
        finally:
            bus.stop()
    return {"router (to case log) events/s": n / (log_done - start),
            "router + SLA (to deadlines) events/s": n / (sla_done - start),
            "raw aiokafka pass-through events/s": baseline, "events": float(n)}
