"""Do the read models and the log tell the same story? (issue 12: divergence detection)

The projector remembers, per topic partition, the next offset to read and a digest of the last
record it projected. On a healthy bus the log holds at least that many records and the record at
that offset is the same one. When it is not — the brokers lost their disks, the log was restored
from an older archive, the database belongs to another cluster — carrying on would silently skip
every new record up to the old offset (the issue's "verify says OK: 300 events while the read models
hold 3,900"). The projector then stops and says what to do; ``verify --read-models`` runs the same
comparison for an auditor.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from referral_bus.infra.runtime import Runtime
from referral_bus.projections.tables import ConsumerOffset, ProjectedRecord

RECOVERY = ("the read models remember a log this broker does not hold: if the log is right, run "
            "`referral-bus projections rebuild`; if the log lost data, bring it back first with "
            "`referral-bus restore <archive>` (docs/reliability.md, \"Divergence\")")


@dataclass(frozen=True)
class Divergence:
    topic: str
    partition: int
    detail: str

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]: {self.detail}"


def digest(value: bytes | None) -> str:
    return hashlib.sha256(value or b"").hexdigest()


def find_divergence(runtime: Runtime, engine: Engine) -> list[Divergence]:
    """Each partition where the log is shorter than the read models remember, or holds another
    record where the last one projected was."""
    with Session(engine) as session:
        stored = {(o.topic, o.partition): o.next_offset for o in session.scalars(select(ConsumerOffset))
                  if o.next_offset > 0}
        last = {(r.topic, r.partition): (r.offset, r.sha256) for r in session.scalars(select(ProjectedRecord))}
    if not stored:
        return []
    consumer = KafkaConsumer(**runtime.settings.kafka_python(), group_id=None, enable_auto_commit=False)
    try:
        known = consumer.topics()
        found = [Divergence(t, p, f"the read models projected {n:,} record(s) of it; the brokers have no such topic")
                 for (t, p), n in stored.items() if t not in known]
        tps = [TopicPartition(t, p) for (t, p) in stored if t in known]
        ends, begins = consumer.end_offsets(tps), consumer.beginning_offsets(tps)
        to_fetch: dict[TopicPartition, tuple[int, str]] = {}
        for tp in tps:
            remembered = stored[(tp.topic, tp.partition)]
            if remembered > ends[tp]:
                found.append(Divergence(tp.topic, tp.partition,
                                        f"the read models projected it up to offset {remembered:,}; the log "
                                        f"ends at {ends[tp]:,}"))
            elif (tp.topic, tp.partition) in last and last[(tp.topic, tp.partition)][0] >= begins[tp]:
                to_fetch[tp] = last[(tp.topic, tp.partition)]
        found += _compare_records(consumer, to_fetch)
        return found
    finally:
        consumer.close()


def _compare_records(consumer: KafkaConsumer, expected: dict[TopicPartition, tuple[int, str]]) -> list[Divergence]:
    """Read the one record at each remembered offset and compare digests."""
    if not expected:
        return []
    consumer.assign(list(expected))
    for tp, (offset, _) in expected.items():
        consumer.seek(tp, offset)
    seen: dict[TopicPartition, str] = {}
    for _ in range(60):
        for tp, records in consumer.poll(timeout_ms=500).items():
            for r in records:
                if r.offset == expected[tp][0]:
                    seen[tp] = digest(r.value)
            consumer.pause(tp)
        if len(seen) == len(expected):
            break
    return [Divergence(tp.topic, tp.partition,
                       f"the record at offset {offset:,} is not the one the read models projected there"
                       if tp in seen else f"the record at offset {offset:,} could not be read back")
            for tp, (offset, sha) in expected.items() if seen.get(tp) != sha]
