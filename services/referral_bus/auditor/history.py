"""Rebuild one case's timeline and state from the case log, as of any moment.

Two ways to the same records (issue 13 item 4), folded by the same code:

- **indexed** (``rebuild_case_indexed``, the default of ``referral-bus history``): the read-model
  database's case index (projections/case_index.py) says at which offsets of the case log, rb.sla
  and rb.escalations the case's records lie; exactly those are fetched, their bytes checked against
  the SHA-256 the projector saw, and the records after the projector's position read from the log
  (bounded by its lag). The cost follows the case, not the log.
- **full scan** (``rebuild_case``, ``history --from-log``): the case's partitions read to their true
  end — the verifiable source on request, and the fallback when the index cannot answer.

Either way the events are folded into the case state up to ``as_of`` with the hash chain checked
from the first event (domain/chain.py), so a missing, altered or reordered record is named, never
silently skipped. The SLA records of the case are merged into the timeline by their log time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError
from aiokafka.structs import ConsumerRecord
from sqlalchemy import Engine

from referral_bus.contracts.base import Event, Record, personal_text_fields
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.chain import ChainFollower
from referral_bus.domain.decisions import fold
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.kafka.log_reader import connection, partition_for_key, read_to_end, started
from referral_bus.infra.runtime import Runtime
from referral_bus.projections.case_index import (
    REBUILD_HINT,
    IndexUnavailable,
    Location,
    lookup,
    open_engine,
)
from referral_bus.projections.divergence import digest


@dataclass
class CaseHistory:
    case_id: str
    as_of: datetime | None
    events: list[Event] = field(default_factory=list)
    sla: list[tuple[datetime, Record]] = field(default_factory=list)
    state: CaseState | None = None
    chain_problems: list[str] = field(default_factory=list)
    #: "index" (read-model case index + the log after the projector's position) or "log" (full scan)
    source: str = "log"
    #: how the answer was found: why the index was not used, how many records came from the log's tail
    notes: list[str] = field(default_factory=list)

    def timeline(self) -> list[dict[str, Any]]:
        """One row per event and SLA record, in time order, without personal data (nor free text that
        may name a person)."""
        rows: list[dict[str, Any]] = []
        for event in self.events:
            env = event.envelope
            rows.append({
                "at": env.recorded_at.isoformat() if env.recorded_at else None,
                "kind": "event", "sequence": env.sequence, "type": event.event_type(),
                "occurred_at": env.occurred_at.isoformat(), "producer": env.producer.agency_id,
                "event_id": str(env.event_id),
                "fields": _fields(event),
                "personal_data": "withheld" if event.personal_data or event.sealed else None})
        for at, record in self.sla:
            rows.append({"at": at.isoformat(), "kind": "sla", "type": type(record).__name__,
                         "fields": record.model_dump(mode="json")})
        return causal_order(rows)


def _moment(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row["at"]) if row["at"] else datetime.min.replace(tzinfo=UTC)


def causal_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows in time order, except that what was caused never comes before its cause: a
    deadline's escalation levels after its breach and in ladder order (1, 2, 3), an
    ``EscalationAcknowledged`` after the levels up to the one it acknowledges. Log times alone do not
    ensure it: the breach (rb.sla) and the levels (rb.escalations) are written to two topics, and
    after a restart the SLA processor writes a whole ladder within a millisecond. At one moment an
    event comes before the SLA records (which events cause). Each row's own
    ``at`` is kept; only its place moves, to just after its cause."""
    def deadline(row: dict[str, Any]) -> str | None:
        return row["fields"].get("deadline_id") if isinstance(row.get("fields"), dict) else None

    breach: dict[str, datetime] = {}
    levels: dict[str, dict[int, datetime]] = {}
    for row in rows:
        if row["kind"] == "sla" and row["type"] == "DeadlineBreached" and deadline(row):
            breach[deadline(row) or ""] = _moment(row)
    raised = sorted((r for r in rows if r["kind"] == "sla" and r["type"] == "EscalationRaised" and deadline(r)),
                    key=lambda r: int(r["fields"].get("level") or 0))
    keys: dict[int, tuple[datetime, int]] = {}
    for row in raised:   # level n no earlier than the breach and level n-1 of the same deadline
        of = deadline(row) or ""
        level = int(row["fields"].get("level") or 0)
        earlier = [breach[of]] if of in breach else []
        earlier += [at for lv, at in levels.get(of, {}).items() if lv < level]
        effective = max([_moment(row), *earlier])
        levels.setdefault(of, {})[level] = effective
        keys[id(row)] = (effective, 1 + level)
    for row in rows:
        if row["kind"] == "event" and row["type"] == "EscalationAcknowledged" and deadline(row):
            level = int(row["fields"].get("level") or 0)
            acknowledged = [at for lv, at in levels.get(deadline(row) or "", {}).items() if lv <= level]
            keys[id(row)] = (max([_moment(row), *acknowledged]), 100 + level)
    indexed = list(enumerate(rows))
    # at one moment an event comes before the SLA records it caused (rank 0, then 1)
    indexed.sort(key=lambda ir: (*keys.get(id(ir[1]), (_moment(ir[1]), 0 if ir[1]["kind"] == "event" else 1)),
                                 ir[1].get("sequence") or 0, ir[0]))
    return [row for _, row in indexed]


def _fields(event: Event) -> dict[str, Any]:
    """The event's fields without personal data: a free-text field that may name a person shows
    only that it was filled in ("withheld"), as ``personal_data`` does."""
    fields: dict[str, Any] = event.model_dump(mode="json", exclude={"envelope", *event.personal_fields()})
    for name in sorted(personal_text_fields(type(event))):
        fields[name] = "withheld" if getattr(event, name) not in (None, []) else getattr(event, name)
    return fields


def _partitions(runtime: Runtime, key: bytes) -> dict[str, tuple[str, int]]:
    """The case's partition of each topic that holds its records (same key → same partition)."""
    cat = runtime.catalogue
    return {tid: (cat.name(tid), partition_for_key(key, cat.partitions(tid)))
            for tid in ("case_log", "sla", "escalations")}


def _fold_events(runtime: Runtime, history: CaseHistory, records: Iterable[ConsumerRecord[Any, Any]],
                 key: bytes, state: CaseState, chains: ChainFollower,
                 indexed: dict[int, int | None] | None = None) -> None:
    """Fold the case's case-log records (in log order) up to ``as_of``: what the services fold, and
    nothing else (domain/chain.py); a break is named and set aside. Both paths use this; the indexed
    one passes the sequence the index has at each offset, and a record holding another is named."""
    for record in records:
        if record.key != key:
            continue
        try:
            event = runtime.codec.decode(record.value)
        except DecodeError as exc:   # a poison record: named, never fatal (verify lists it too)
            history.chain_problems.append(f"offset {record.offset}: unreadable ({exc.code}), set aside")
            continue
        if not isinstance(event, Event):  # only case events belong on the case log; verify reports others
            continue
        env = event.envelope
        if indexed is not None and indexed.get(record.offset) not in (None, env.sequence):
            history.chain_problems.append(f"offset {record.offset}: holds sequence {env.sequence} where the index "
                                          f"has {indexed[record.offset]} (reordered); set aside")
            continue
        if history.as_of is not None and env.recorded_at and env.recorded_at > history.as_of:
            continue
        refused = chains.refuse(event)
        if refused is not None:
            history.chain_problems.append(f"offset {record.offset}: {refused[0]}: {refused[1]}; set aside, as the "
                                          "services do")
            continue
        fold(state, event, runtime.directory)
        history.events.append(event)


def _fold_sla(runtime: Runtime, history: CaseHistory, records: Iterable[ConsumerRecord[Any, Any]], key: bytes) -> None:
    for record in records:
        if record.key != key:
            continue
        at = datetime.fromtimestamp(record.timestamp / 1000, tz=UTC)
        if history.as_of is None or at <= history.as_of:
            try:
                history.sla.append((at, runtime.codec.decode(record.value)))
            except DecodeError as exc:
                history.chain_problems.append(f"{record.topic} offset {record.offset}: unreadable ({exc.code}), "
                                              "set aside")


async def _collect(records: AsyncIterator[ConsumerRecord[Any, Any]]) -> list[ConsumerRecord[Any, Any]]:
    return [r async for r in records]


async def rebuild_case(runtime: Runtime, case_id: str, as_of: datetime | None = None) -> CaseHistory:
    """The full scan: the case's partitions read from their start to their true end."""
    key = case_id.encode()
    history = CaseHistory(case_id, as_of)
    state, chains = CaseState(case_id), ChainFollower()
    parts = _partitions(runtime, key)
    case_log, case_part = parts["case_log"]
    _fold_events(runtime, history, await _collect(read_to_end(runtime.settings, [case_log],
                                                              partitions={case_log: [case_part]})),
                 key, state, chains)
    history.state = state
    sla = {parts[t][0]: [parts[t][1]] for t in ("sla", "escalations")}
    _fold_sla(runtime, history, await _collect(read_to_end(runtime.settings, list(sla), partitions=sla)), key)
    return history


#: How long a fetch at an indexed offset may stall before the read gives up (a broker not answering).
FETCH_STALL_SECONDS = 30.0
#: A Fetch at the log's end waits this long for data (Kafka's fetch.max.wait.ms; default 500 ms, which
#: a read that only needs the high watermark would pay per partition), and getmany polls this often.
FETCH_MAX_WAIT_MS, FETCH_POLL_MS = 5, 10


def _consumer(runtime: Runtime) -> AIOKafkaConsumer:
    """A consumer for reads at chosen offsets: no group, no offset reset (an offset the log does
    not hold is named, never silently replaced by the log's start), short waits at the log's end."""
    return AIOKafkaConsumer(**connection(runtime.settings), group_id=None, enable_auto_commit=False,
                            auto_offset_reset="none", fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
                            max_partition_fetch_bytes=256 * 1024)


Fetched = dict[tuple[str, int], tuple[list[ConsumerRecord[Any, Any]], list[ConsumerRecord[Any, Any]]]]


async def _read_at(runtime: Runtime, wanted: dict[tuple[str, int], list[int]],
                   read_from: dict[tuple[str, int], int]) -> Fetched:
    consumer = await started(_consumer(runtime))
    try:
        return await _read_with(consumer, wanted, read_from)
    finally:
        await consumer.stop()


async def _read_with(consumer: AIOKafkaConsumer, wanted: dict[tuple[str, int], list[int]],
                     read_from: dict[tuple[str, int], int]) -> Fetched:
    """Per partition: the records at the ``wanted`` offsets (sorted), then every record from
    ``read_from`` to the true end (the Fetch high watermark, as infra/kafka/log_reader.py reads).
    All partitions move in the same Fetch requests, one seek per wanted offset not already fetched
    with the one before; an offset the log does not hold is left out (the caller names it)."""
    tps = {TopicPartition(*tp): tp for tp in wanted}
    todo = {tp: list(wanted[key]) for tp, key in tps.items()}
    got: dict[TopicPartition, tuple[list[ConsumerRecord[Any, Any]], list[ConsumerRecord[Any, Any]]]] = {
        tp: ([], []) for tp in tps}
    position: dict[TopicPartition, int] = {}
    tailing: set[TopicPartition] = set()
    consumer.assign(list(tps))

    def aim(tp: TopicPartition) -> None:
        """Seek to the next wanted offset, else to the tail (no await between: no stale prefetch)."""
        if todo[tp]:
            position[tp] = todo[tp][0]
        else:
            tailing.add(tp)
            position[tp] = read_from[tps[tp]]
        consumer.seek(tp, position[tp])

    for tp in tps:
        aim(tp)
    active, stall = set(tps), time.monotonic() + FETCH_STALL_SECONDS
    while active:
        for tp in list(active):
            highwater = consumer.highwater(tp)   # of the last Fetch answer; None before the first
            if highwater is None or position[tp] < highwater:
                continue
            if tp in tailing:
                active.discard(tp)   # read to the end
            else:
                todo[tp] = []        # the wanted offsets lie past the log's end
                aim(tp)
        if not active:
            break
        try:
            batches = await consumer.getmany(*active, timeout_ms=FETCH_POLL_MS)
        except OffsetOutOfRangeError as exc:   # below the log's start (deleted) or past its end
            for tp in (exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}):
                if tp in tailing:
                    active.discard(tp)
                elif tp in todo:
                    todo[tp] = todo[tp][1:]
                    aim(tp)
            continue
        for tp, records in batches.items():
            if not records:
                continue
            stall = time.monotonic() + FETCH_STALL_SECONDS
            if tp in tailing:
                got[tp][1].extend(records)
                position[tp] = records[-1].offset + 1
                continue
            last = records[-1].offset
            held = {r.offset: r for r in records}
            got[tp][0].extend(held[o] for o in todo[tp] if o in held)
            remaining = [o for o in todo[tp] if o > last]
            if todo[tp] and remaining and remaining[0] == todo[tp][0]:
                position[tp] = last + 1   # not there yet (a batch before it): read on
                continue
            todo[tp] = remaining
            aim(tp)
        if time.monotonic() > stall:
            raise TimeoutError(f"no answer reading {sorted(map(str, active))} within {FETCH_STALL_SECONDS:.0f}s")
    return {tps[tp]: records for tp, records in got.items()}


async def read_after(runtime: Runtime, topic: str, partition: int, start: int) -> list[ConsumerRecord[Any, Any]]:
    """One partition from ``start`` (a projector's position) to its true end: what the read models
    have not seen yet."""
    return (await _read_at(runtime, {(topic, partition): []}, {(topic, partition): start}))[(topic, partition)][1]


def _checked(history: CaseHistory, topic_label: str, locations: list[Location],
             fetched: list[ConsumerRecord[Any, Any]], key: bytes) -> list[ConsumerRecord[Any, Any]]:
    """The fetched records that are the very ones indexed; every other difference is named: an indexed
    offset the log does not hold (missing), other bytes than the projector saw (altered), another
    case's record or another sequence at that offset (reordered or rewritten)."""
    by_offset = {r.offset: r for r in fetched}
    good: list[ConsumerRecord[Any, Any]] = []
    for loc in locations:
        what = f"{topic_label} offset {loc.offset}" + (f" (sequence {loc.sequence})" if loc.sequence else "")
        record = by_offset.get(loc.offset)
        if record is None:
            history.chain_problems.append(f"{what}: indexed, but the log does not hold it (deleted or truncated)")
        elif record.key != key:
            history.chain_problems.append(f"{what}: the log holds another case's record there; set aside")
        elif digest(record.value) != loc.sha256:
            history.chain_problems.append(f"{what}: its bytes are not those the projector indexed (altered); "
                                          "set aside")
        else:
            good.append(record)
    return good


async def rebuild_case_indexed(runtime: Runtime, case_id: str, as_of: datetime | None = None,
                               engine: Engine | None = None) -> CaseHistory:
    """The case from the read models' case index and the log after the projector's position;
    IndexUnavailable when the index cannot answer completely (the caller scans the log instead)."""
    key = case_id.encode()
    parts = _partitions(runtime, key)
    own = engine is None
    engine = engine or open_engine(runtime.settings)
    consumer = _consumer(runtime)
    try:   # the consumer connects while the database answers: the two waits overlap
        looked_up = asyncio.ensure_future(asyncio.to_thread(lookup, engine, case_id, list(parts.values())))
        try:
            await started(consumer)
        finally:
            located = await looked_up   # both done before either raises (IndexUnavailable: the caller scans)
        fetched = await _read_with(consumer, {tp: [loc.offset for loc in locs] for tp, locs in located.records.items()},
                                   located.read_from)
    finally:
        await consumer.stop()
        if own:
            engine.dispose()
    history = CaseHistory(case_id, as_of, source="index")
    state, chains = CaseState(case_id), ChainFollower()
    tails = 0
    for tid in ("case_log", "sla", "escalations"):
        tp = parts[tid]
        indexed, tail = fetched[tp]
        records = _checked(history, tp[0] if tid != "case_log" else "case log", located.records[tp], indexed, key)
        tail = [r for r in tail if r.key == key]
        tails += len(tail)
        if tid == "case_log":
            _fold_events(runtime, history, [*records, *tail], key, state, chains,
                         {loc.offset: loc.sequence for loc in located.records[tp]})
            last = max((loc.sequence or 0 for loc in located.records[tp]), default=0)
            if located.head is not None and located.head != last:   # the index's own head, against the read models'
                history.chain_problems.append(f"the read models put the case at sequence {located.head}, its index "
                                              f"at {last}: the index lacks records")
        else:
            _fold_sla(runtime, history, [*records, *tail], key)
    history.state = state
    behind = {f"{t}[{p}]": f for (t, p), f in located.read_from.items()}
    history.notes.append(f"from the case index, with the log read after the projector's position "
                         f"({', '.join(f'{k}@{v}' for k, v in behind.items())}): {tails} record(s) of the case there")
    return history


async def read_case(runtime: Runtime, case_id: str, as_of: datetime | None = None, *,
                    from_log: bool = False) -> CaseHistory:
    """``referral-bus history``: from the index, or — on request, or when the index cannot answer
    completely (said in ``notes``) — from a full scan of the log."""
    if not from_log:
        try:
            return await rebuild_case_indexed(runtime, case_id, as_of)
        except IndexUnavailable as exc:
            history = await rebuild_case(runtime, case_id, as_of)
            history.notes.append(f"case index not used: {exc}; answered from a full scan of the log "
                                 f"({REBUILD_HINT})")
            return history
    history = await rebuild_case(runtime, case_id, as_of)
    history.notes.append("from a full scan of the log (--from-log)")
    return history


def read_case_sync(runtime: Runtime, case_id: str, as_of: datetime | None = None, *,
                   from_log: bool = False) -> CaseHistory:
    return asyncio.run(read_case(runtime, case_id, as_of, from_log=from_log))


def rebuild_case_sync(runtime: Runtime, case_id: str, as_of: datetime | None = None) -> CaseHistory:
    return asyncio.run(rebuild_case(runtime, case_id, as_of))
