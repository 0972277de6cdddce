"""Issue 13 item 4: ``history`` from the case index (real Kafka, real PostgreSQL) gives the same
timeline as the full scan, reads the log only after the projector's position, and names every
missing, altered or reordered record instead of skipping it; an index that cannot answer
completely is never used silently."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from sqlalchemy import Engine, create_engine, delete, select, update
from sqlalchemy.orm import Session

from referral_bus.auditor.history import CaseHistory, read_case, rebuild_case, rebuild_case_indexed
from referral_bus.auditor.point_in_time import told_current, told_from_log
from referral_bus.contracts.base import Event
from referral_bus.contracts.sla_records import DeadlineOpened
from referral_bus.domain.chain import GENESIS
from referral_bus.infra.kafka.log_reader import partition_for_key
from referral_bus.infra.runtime import Runtime
from referral_bus.projections.case_index import IndexUnavailable
from referral_bus.projections.service import project
from referral_bus.projections.tables import CaseIndexRow, CaseIndexStart
from tests.builders import T0, case_id, chained_removal_case
from tests.conftest import apply_test_topics, make_runtime

pytestmark = pytest.mark.broker


def chained(runtime: Runtime, case: str, count: int, start: int = 1, previous: str = GENESIS) -> list[Event]:
    """``count`` events of ``case`` stamped and linked as the router stamps them (fictional content)."""
    return chained_removal_case(case, count, first=start, previous=previous)


@dataclass
class Log:
    runtime: Runtime
    engine: Engine
    producer: KafkaProducer

    def append(self, topic_id: str, key: str, value: bytes, headers: list[tuple[str, bytes]] | None = None) -> int:
        sent = self.producer.send(self.runtime.catalogue.name(topic_id) if topic_id != "inbox" else
                                  self.runtime.catalogue.inbox("cam-almaty"), key=key.encode(), value=value,
                                  headers=headers or [])
        return int(sent.get(30).offset)

    def events(self, events: list[Event]) -> list[int]:
        return [self.append("case_log", e.envelope.case_id, self.runtime.codec.encode(e)) for e in events]

    def deadline(self, case: str, trigger: Event) -> int:
        opened = DeadlineOpened(sla_event_id=uuid.uuid4(), deadline_id=uuid.uuid4(), rule_id="4.8-removal-outcome-3h",
                                paragraph="4.8", case_id=case, trigger_event_id=trigger.envelope.event_id,
                                responsible_agency_id="police-juvenile-almaty", opened_at=T0,
                                due_at=T0 + timedelta(hours=3))
        return self.append("sla", case, self.runtime.codec.encode(opened))

    def project(self) -> None:
        project(self.runtime, self.engine, until_end=True)

    def both(self, case: str) -> tuple[CaseHistory, CaseHistory]:
        return (asyncio.run(rebuild_case_indexed(self.runtime, case, engine=self.engine)),
                asyncio.run(rebuild_case(self.runtime, case)))


@pytest.fixture
def log(kafka_bootstrap: str, postgres_database: Callable[[], str], tmp_path: Path) -> Iterator[Log]:
    runtime = make_runtime(kafka_bootstrap, f"idx{uuid.uuid4().hex[:6]}.", tmp_path, postgres_database())
    apply_test_topics(runtime)
    engine = create_engine(runtime.settings.read_model_url)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        yield Log(runtime, engine, producer)
    finally:
        producer.close()
        engine.dispose()


def same(indexed: CaseHistory, scanned: CaseHistory) -> None:
    assert indexed.source == "index" and scanned.source == "log"
    assert indexed.timeline() == scanned.timeline()
    assert indexed.chain_problems == scanned.chain_problems
    assert indexed.state == scanned.state


def test_indexed_history_equals_the_full_scan_and_reads_only_after_the_projector(log: Log) -> None:
    case, neighbour = case_id("IDX"), case_id("IDX")
    first = chained(log.runtime, case, 3)
    log.events(first[:1])
    log.events(chained(log.runtime, neighbour, 2))
    log.events(first[1:])
    log.deadline(case, first[0])
    log.append("case_log", case, b"\x00not avro")   # a poison record of the case: named by both paths
    log.project()

    indexed, scanned = log.both(case)
    same(indexed, scanned)
    assert [e.envelope.sequence for e in indexed.events] == [1, 2, 3]
    assert [r["type"] for r in indexed.timeline() if r["kind"] == "sla"] == ["DeadlineOpened"]
    assert any("unreadable" in p for p in indexed.chain_problems)
    assert "0 record(s) of the case there" in indexed.notes[0]

    # appended after the projector's position: found by reading the partition from there only
    log.events(chained(log.runtime, case, 1, start=4, previous=first[-1].envelope.hash or ""))
    indexed, scanned = log.both(case)
    same(indexed, scanned)
    assert [e.envelope.sequence for e in indexed.events] == [1, 2, 3, 4]
    assert "1 record(s) of the case there" in indexed.notes[0]

    cut = T0 + timedelta(minutes=2, seconds=30)   # --as-of cuts both paths alike
    assert (asyncio.run(rebuild_case_indexed(log.runtime, case, cut, engine=log.engine)).timeline()
            == asyncio.run(rebuild_case(log.runtime, case, cut)).timeline())


def test_a_missing_altered_or_reordered_record_is_named_on_the_indexed_path(log: Log) -> None:
    case = case_id("TAMPER")
    partitions = log.runtime.catalogue.partitions("case_log")
    other = next(c for c in (case_id("TAMPER") for _ in range(1000))   # on the same partition as the case
                 if partition_for_key(c.encode(), partitions) == partition_for_key(case.encode(), partitions))
    events = chained(log.runtime, case, 4)
    offsets = log.events(events)
    foreign = log.events(chained(log.runtime, other, 1))[0]
    log.project()
    assert not log.both(case)[0].chain_problems

    def rows() -> dict[int, CaseIndexRow]:
        with Session(log.engine) as session:
            return {r.sequence: r for r in session.scalars(select(CaseIndexRow).where(CaseIndexRow.case_id == case))
                    if r.sequence is not None}

    def tamper(at: int, **values: object) -> None:
        """Change the index row of sequence ``at``."""
        with log.engine.begin() as conn:
            conn.execute(update(CaseIndexRow).where(CaseIndexRow.case_id == case, CaseIndexRow.sequence == at)
                         .values(**values))

    def problems() -> list[str]:
        return asyncio.run(rebuild_case_indexed(log.runtime, case, engine=log.engine)).chain_problems

    # altered: the log's bytes at that offset are not those the projector indexed
    saved = rows()[2].sha256
    tamper(2, sha256="0" * 64)
    found = problems()
    assert any(f"offset {offsets[1]} (sequence 2): its bytes are not those the projector indexed" in p for p in found)
    assert any("sequence 3 where the case's chain continues at 2" in p for p in found)   # and the chain says so
    tamper(2, sha256=saved)

    # rewritten: the index points sequence 2 at another case's record
    with log.engine.begin() as conn:
        conn.execute(delete(CaseIndexRow).where(CaseIndexRow.case_id == other))
    tamper(2, offset=foreign)
    assert any("the log holds another case's record there" in p for p in problems())
    tamper(2, offset=offsets[1])

    # reordered: the log holds sequences 2 and 3 where the index has 3 and 2
    tamper(2, sequence=99)
    tamper(3, sequence=2)
    tamper(99, sequence=3)
    found = problems()
    assert any(f"offset {offsets[1]}: holds sequence 2 where the index has 3 (reordered)" in p for p in found), found
    tamper(3, sequence=99)
    tamper(2, sequence=3)
    tamper(99, sequence=2)
    assert not problems()

    # an index row moved past the projector's position: the log from there is read anyway, and the
    # chain breaks where the record is not found
    tamper(3, offset=10_000_000)
    assert any("sequence 4 where the case's chain continues at 3" in p for p in problems())
    tamper(3, offset=offsets[2])

    # an index row lost: the chain breaks at the gap and the head disagrees with the read models
    with log.engine.begin() as conn:
        conn.execute(delete(CaseIndexRow).where(CaseIndexRow.case_id == case, CaseIndexRow.sequence == 4))
    assert any("the read models put the case at sequence 4, its index at 3" in p for p in problems())
    with log.engine.begin() as conn:
        conn.execute(delete(CaseIndexRow).where(CaseIndexRow.case_id == case, CaseIndexRow.sequence == 2))
    found = problems()
    assert any("sequence 3 where the case's chain continues at 2" in p for p in found), found
    assert not log.both(case)[1].chain_problems   # the full scan, the verifiable source, is unaffected


def test_records_the_log_lost_are_named_on_the_indexed_path(log: Log) -> None:
    case = case_id("LOST")
    offsets = log.events(chained(log.runtime, case, 3))
    log.project()
    topic = log.runtime.catalogue.name("case_log")
    partition = partition_for_key(case.encode(), log.runtime.catalogue.partitions("case_log"))
    admin = KafkaAdminClient(bootstrap_servers=log.runtime.settings.bootstrap_servers)
    try:   # the log loses its first records (deleted below an offset, as retention or an operator would)
        admin.delete_records({TopicPartition(topic, partition): offsets[1] + 1})
    finally:
        admin.close()
    indexed, scanned = log.both(case)
    assert any(f"offset {offsets[0]} (sequence 1): indexed, but the log does not hold it" in p
               for p in indexed.chain_problems), indexed.chain_problems
    assert any(f"offset {offsets[1]} (sequence 2): indexed, but the log does not hold it" in p
               for p in indexed.chain_problems)
    assert not indexed.events and not scanned.events   # sequence 3 alone is not a chain: set aside by both
    assert any("sequence 3 where the case's chain continues at 1" in p for p in scanned.chain_problems)


def test_an_index_that_cannot_answer_completely_is_not_used(log: Log) -> None:
    case = case_id("OLD")
    log.events(chained(log.runtime, case, 2))
    with pytest.raises(IndexUnavailable, match="read-model database has no case index"):
        asyncio.run(rebuild_case_indexed(log.runtime, case, engine=log.engine))
    log.project()
    # a database made before the index: it gained the index only from the projector's position on
    with log.engine.begin() as conn:
        conn.execute(update(CaseIndexStart).values(from_offset=1))
    with pytest.raises(IndexUnavailable, match=r"covers .*case-log\[\d\] only from offset 1"):
        asyncio.run(rebuild_case_indexed(log.runtime, case, engine=log.engine))
    answered = asyncio.run(read_case(log.runtime, case))   # the command falls back and says why
    assert answered.source == "log" and [e.envelope.sequence for e in answered.events] == [1, 2]
    assert "case index not used" in answered.notes[0] and "full scan" in answered.notes[0]


def test_told_from_the_read_models_and_the_inbox_after_the_projector_equals_the_log(log: Log) -> None:
    case = case_id("TOLD")
    events = chained(log.runtime, case, 2)
    log.events(events)

    def deliver(event: Event) -> None:
        log.append("inbox", case, log.runtime.codec.encode(event),
                   [("rb-delivery-id", str(uuid.uuid4()).encode()), ("rb-paragraph", b"4.8"),
                    ("rb-purpose", b"ACTION_REQUIRED")])

    deliver(events[0])
    log.project()
    deliver(events[1])   # not projected yet
    late = T0 + timedelta(days=3650)
    current, note = told_current(log.runtime, log.engine, "cam-almaty", case, late)
    assert current == told_from_log(log.runtime, "cam-almaty", case, late) and len(current) == 2
    assert "1 delivery(ies) of the case there" in note
