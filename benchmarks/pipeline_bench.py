"""Events/s through the router and through router + SLA processor (real processes on a local broker),
each against a raw aiokafka pass-through that writes the same records per input, interleaved in
rounds on the same broker so both see the same machine load.

Subject, one round: N emergency removals (each a new case, personal data sealed, signed) are produced
by the police's own producer to its ingress topic. The clock starts before the first is produced and
stops when a follower has seen
- for the router: the N-th receipt on the police receipts topic (the router writes the case log,
  then the inboxes, then the receipt, so the receipt is its last write for an event);
- for router + SLA: every record the SLA processor owes on ``rb.sla`` (the pure deadline engine is
  run over the same events to count them: 3 per removal — 4.8, 6.3(a) and the 4.9 policy threshold;
  the SLA processor writes the inbox copies first, ``rb.sla`` last).
After the round the bus is left to settle and every record it wrote is counted and measured by
topic, from the offsets before and after: records and bytes (value + key + headers) per input,
split into the router's and the SLA processor's (by the schema id in each record's frame).

Baseline, the same round shape: the same N input records are produced by the same producer to a
fresh topic with the ingress topic's partitions; a raw aiokafka consumer (assigned, not in a group,
so no join is timed) reads each and a raw aiokafka producer (``acks=all``, idempotent, like the
services') writes, per input, the same number of records of the same size to copies of each topic
the subject wrote to (same partition counts, same key); the clock stops when a follower has seen the
last of them. Two baselines: the router's writes alone, and the router's plus the SLA processor's.
The pass-through does no decoding, validation, signature check, hashing, sealing, routing or
deadline evaluation: the ratio says what all of that costs against moving the same bytes.

Also, per round, the CPU time (user + system, from ``/proc``) the router and the SLA processor
spent from the clock's start until the round's records had all been seen, per input event: a
figure of the services' own work that the broker's, the producer's and the machine's other load
do not blur as they blur the rates (what issue 13 item 3's hot-path changes are judged by).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka import KafkaAdminClient, KafkaConsumer
from kafka import TopicPartition as SyncTopicPartition
from kafka.admin import NewTopic

from benchmarks.brokers import local_broker_at, segment_bytes
from referral_bus.contracts.sla_records import (
    DeadlineBreached,
    DeadlineCompletedLate,
    DeadlineMet,
    DeadlineOpened,
    DeadlineWarning,
    DeadlineWithdrawn,
    EscalationRaised,
)
from referral_bus.sdk import AgencyClient
from tests.builders import case_id, on_log, referral, removal
from tests.conftest import Bus, start_bus

SLA_RECORDS = (DeadlineOpened, DeadlineWarning, DeadlineMet, DeadlineBreached, DeadlineCompletedLate,
               DeadlineWithdrawn, EscalationRaised)


@dataclass
class Writes:
    """What one side wrote in a round, by topic: records, bytes (value + key + headers), partitions."""

    records: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    size: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    partitions: dict[str, int] = field(default_factory=dict)

    def total_records(self) -> int:
        return sum(self.records.values())

    def total_bytes(self) -> int:
        return sum(self.size.values())

    def plus(self, other: Writes) -> Writes:
        out = Writes(partitions={**self.partitions, **other.partitions})
        for source in (self, other):
            for topic, count in source.records.items():
                out.records[topic] += count
                out.size[topic] += source.size[topic]
        return out


async def _follow(servers: str, targets: dict[str, int], start: dict[str, dict[int, int]], timeout: float,
                  frames: dict[str, set[bytes]] | None = None) -> float:
    """Follow every partition of the ``targets`` topics from the ``start`` offsets; return the
    time when each topic has shown its target count of records (of the given 5-byte frames only,
    where ``frames`` names some for the topic)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=50)
    await consumer.start()
    tps = [TopicPartition(t, p) for t, offsets in start.items() if t in targets for p in offsets]
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, start[tp.topic][tp.partition])
    seen = dict.fromkeys(targets, 0)
    frames = frames or {}
    deadline = time.monotonic() + timeout
    try:
        while any(seen[t] < n for t, n in targets.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"saw {seen} of {targets}")
            for tp, records in (await consumer.getmany(timeout_ms=100)).items():
                wanted = frames.get(tp.topic)
                seen[tp.topic] += len(records) if wanted is None else sum(r.value[:5] in wanted for r in records)
        return time.perf_counter()
    finally:
        await consumer.stop()


def end_offsets(servers: str, topics: Iterable[str]) -> dict[str, dict[int, int]]:
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    try:
        tps = [SyncTopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        out: dict[str, dict[int, int]] = defaultdict(dict)
        for tp, offset in consumer.end_offsets(tps).items():
            out[tp.topic][tp.partition] = offset
        return dict(out)
    finally:
        consumer.close()


def measure_writes(servers: str, before: dict[str, dict[int, int]], after: dict[str, dict[int, int]],
                   sla_frames: set[bytes]) -> tuple[Writes, Writes]:
    """Read every record written between the two offset maps: (router's writes, SLA processor's)."""
    router, sla = Writes(), Writes()
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        for topic, offsets in after.items():
            for partition, end in offsets.items():
                begin = before.get(topic, {}).get(partition, 0)
                if end <= begin:
                    continue
                tp = SyncTopicPartition(topic, partition)
                consumer.assign([tp])
                consumer.seek(tp, begin)
                while consumer.position(tp) < end:
                    for records in consumer.poll(timeout_ms=1000).values():
                        for r in records:
                            if r.offset >= end:
                                continue
                            side = sla if (r.value or b"")[:5] in sla_frames else router
                            side.records[topic] += 1
                            side.size[topic] += (len(r.value or b"") + len(r.key or b"")
                                                 + sum(len(k) + len(v or b"") for k, v in r.headers or ()))
        for side in (router, sla):
            side.partitions = {t: len(after[t]) for t in side.records}
    finally:
        consumer.close()
    return router, sla


async def passthrough(servers: str, police, keys: list[bytes], values: list[bytes],  # type: ignore[no-untyped-def]
                      partitions: int, writes: Writes, n: int) -> float:
    """Raw aiokafka consume → produce: per input, the records ``writes`` holds per input, of the same
    size, to copies of the same topics. The input is produced with the subject's own producer
    (``police.producer``, then flushed) inside the clock, as for the subject."""
    tag = secrets.token_hex(3)
    source = f"pt-{tag}-in"
    sinks = {topic: f"pt-{tag}-{i}" for i, topic in enumerate(sorted(writes.records))}
    admin = KafkaAdminClient(bootstrap_servers=servers)
    admin.create_topics([NewTopic(source, partitions, 1)]
                        + [NewTopic(sinks[t], writes.partitions[t], 1) for t in sinks])
    admin.close()
    # per topic: how many records input i writes (spread exactly: the totals match) and their size
    plan = []
    for topic, sink in sinks.items():
        count = writes.records[topic]
        size = max(1, round(writes.size[topic] / count))
        plan.append((sink, count, os.urandom(size)))
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=50)
    await consumer.start()
    tps = [TopicPartition(source, p) for p in range(partitions)]
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, 0)
    await asyncio.sleep(0.5)  # metadata for the fresh topics, outside the clock
    targets = {sink: count for sink, count, _ in plan}
    follower = asyncio.create_task(_follow(servers, targets, {sink: dict.fromkeys(range(writes.partitions[t]), 0)
                                                               for t, sink in sinks.items()}, 600))
    await asyncio.sleep(0.5)
    start = time.perf_counter()
    for k, v in zip(keys, values):
        police.producer.send(source, key=k, value=v)
    await asyncio.get_running_loop().run_in_executor(None, police.producer.flush)
    done, pending = 0, []
    while done < n:
        for records in (await consumer.getmany(timeout_ms=100)).values():
            for record in records:
                i = done
                for sink, count, value in plan:
                    for _ in range((i + 1) * count // n - i * count // n):
                        pending.append(await producer.send(sink, value, key=record.key))
                done += 1
        if len(pending) > 5000:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    finished = await follower
    await consumer.stop()
    await producer.stop()
    return n / (finished - start)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (``/proc/<pid>/stat``, Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sla_records_owed(runtime, events) -> int:  # type: ignore[no-untyped-def]
    """How many records the SLA processor writes to ``rb.sla`` for ``events`` (the pure engine, same rules)."""
    engine = runtime.deadline_engine()
    return sum(not isinstance(r, EscalationRaised)
               for e in events for r in engine.on_event(on_log(e, 1, recorded_at=e.envelope.occurred_at)))


async def _subject(servers: str, police: AgencyClient, ingress: str, keys: list[bytes], values: list[bytes],
                   router_target: dict[str, int], sla_target: dict[str, int],
                   before: dict[str, dict[int, int]]) -> tuple[float, float, float]:
    """One subject round: (clock start, router done, router + SLA done)."""
    router_done = asyncio.create_task(_follow(servers, router_target, before, 600))
    sla_done = asyncio.create_task(_follow(servers, sla_target, before, 600))
    await asyncio.sleep(0.5)   # followers assigned before the clock starts
    start = time.perf_counter()
    for k, v in zip(keys, values):
        police.producer.send(ingress, key=k, value=v)
    await asyncio.get_running_loop().run_in_executor(None, police.producer.flush)
    return start, await router_done, await sla_done


@contextmanager
def police_bus(broker: str = "kafka") -> Iterator[tuple[str, Path, Bus, AgencyClient]]:
    """A fresh broker and bus, answering (a school's referral made it through); yields the
    bootstrap servers, the broker's data directory, the bus and the police's client."""
    with local_broker_at(broker) as (servers, data_dir), tempfile.TemporaryDirectory() as tmp:
        bus = start_bus(servers, Path(tmp))
        try:
            bus.wait_ready()
            police = AgencyClient("police-juvenile-almaty", actor_id="bench", runtime=bus.runtime)
            school = AgencyClient("school-almaty", actor_id="bench", runtime=bus.runtime)
            school.publish(referral(school, case_id("WARM")), wait_for_receipt=True, timeout=120)
            school.close()
            try:
                yield servers, data_dir, bus, police
            finally:
                police.close()
        finally:
            bus.stop()


def run(n: int = 2000, broker: str = "kafka",
        rounds: int = 3) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """``rounds`` rounds, each: subject, then both baselines. Figures are medians over the rounds;
    ratios are taken round by round (same minute) and their median reported. Also returns, by topic
    (prefix left off), the records and bytes written per input event."""
    out: dict[str, list[float]] = defaultdict(list)
    with police_bus(broker) as (servers, data_dir, bus, police):
        runtime, cat = bus.runtime, bus.runtime.catalogue
        ingress, receipts = cat.ingress(police.agency.id), cat.receipts(police.agency.id)
        sla_topic = cat.name("sla")
        prefix = runtime.settings.topic_prefix
        admin = KafkaAdminClient(bootstrap_servers=servers)
        bus_topics = [t for t in admin.list_topics() if t.startswith(prefix)]
        admin.close()
        sla_frames = {b"\x00" + runtime.codec.schema_id(c).to_bytes(4, "big") for c in SLA_RECORDS}
        ingress_partitions = len(end_offsets(servers, [ingress])[ingress])
        router_writes = sla_writes = None
        stored_before = segment_bytes(data_dir, prefix)
        for _ in range(rounds):
            events = [removal(police, case_id("BENCH"), hours_ago=1) for _ in range(n)]
            values = [police.validate(e) for e in events]
            keys = [e.envelope.case_id.encode() for e in events]
            owed = sla_records_owed(runtime, events)
            before = end_offsets(servers, bus_topics)
            pids = {service: bus.processes[service].pid for service in ("router", "sla")}
            cpu_before = {service: cpu_seconds(pid) for service, pid in pids.items()}
            start, router_end, sla_end = asyncio.run(_subject(
                servers, police, ingress, keys, values, {receipts: n}, {sla_topic: owed}, before))
            for service, pid in pids.items():
                out[f"{service} CPU ms per event"].append((cpu_seconds(pid) - cpu_before[service]) * 1000 / n)
            out["router (to last receipt) events/s"].append(n / (router_end - start))
            out["router + SLA (to last SLA record) events/s"].append(n / (sla_end - start))
            time.sleep(3)  # let stragglers (checkpoints, inbox copies) land before counting
            if router_writes is None:
                written = {t: o for t, o in end_offsets(servers, bus_topics).items() if t != ingress}
                router_writes, sla_writes = measure_writes(servers, before, written, sla_frames)
            assert sla_writes is not None
            both = router_writes.plus(sla_writes)
            raw_router = asyncio.run(passthrough(servers, police, keys, values, ingress_partitions,
                                                 router_writes, n))
            raw_both = asyncio.run(passthrough(servers, police, keys, values, ingress_partitions, both, n))
            out["raw pass-through, router's writes events/s"].append(raw_router)
            out["raw pass-through, router + SLA writes events/s"].append(raw_both)
            out["ratio router"].append(out["router (to last receipt) events/s"][-1] / raw_router)
            out["ratio router + SLA"].append(out["router + SLA (to last SLA record) events/s"][-1] / raw_both)
        stored = segment_bytes(data_dir, prefix) - stored_before
    assert router_writes is not None and sla_writes is not None
    result = {name: statistics.median(values) for name, values in out.items()}
    result.update({
        "events": float(n), "rounds": float(rounds),
        "router records per event": router_writes.total_records() / n,
        "router bytes per event": router_writes.total_bytes() / n,
        "SLA records per event": sla_writes.total_records() / n,
        "SLA bytes per event": sla_writes.total_bytes() / n,
        # what the broker's segment files grew by, per input event, one replica (input copies included)
        "stored bytes per event (broker segments)": stored / (n * rounds),
    })
    for name in ("ratio router", "ratio router + SLA"):
        result[f"{name} min"], result[f"{name} max"] = min(out[name]), max(out[name])
    both = router_writes.plus(sla_writes)
    by_topic = {topic.removeprefix(prefix): (count / n, both.size[topic] / n) for topic, count in both.records.items()}
    return result, by_topic
