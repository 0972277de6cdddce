"""The SLA processor as a Faust app around the pure ``DeadlineEngine``.

Exactly-once effects without transactions: the engine's output is a deterministic function of the
case log and the clock, and every record has a deterministic id. Before joining its group the
service folds the case log (from its snapshot, or the whole log) and reads what was already emitted
(rb.sla, rb.escalations); after each rebalance it catches up from where it is. Anything the engine
owes that is not there yet is emitted, nothing already there is emitted again. Its timer fires only
for the cases of its own partitions (decision 76).
Warnings and escalations go to the agencies' inboxes first and to rb.sla / rb.escalations last, so
a crash in between re-delivers (consumers dedupe by rb-delivery-id) rather than loses.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import faust
import structlog
from faust.types import TP

from referral_bus.contracts.base import Event, Record
from referral_bus.contracts.sla_records import SLA_RECORD_TYPES, DeadlineOpened, EscalationRaised
from referral_bus.domain.chain import ChainFollower
from referral_bus.domain.deadlines.calendar import WorkingCalendar
from referral_bus.domain.deadlines.engine import DeadlineEngine
from referral_bus.domain.deadlines.notifications import sla_deliveries
from referral_bus.domain.deadlines.rule_table import RULES
from referral_bus.infra import failpoints, metrics
from referral_bus.infra.health import OK, stop_for_operator
from referral_bus.infra.kafka.faust_app import (
    AckedPublisher,
    Outgoing,
    make_app,
    to_headers,
)
from referral_bus.infra.kafka.log_reader import log_holds, partition_for_key, read_to_end
from referral_bus.infra.quarantine import Quarantine
from referral_bus.infra.runtime import Runtime
from referral_bus.infra.snapshots import SnapshotStore, restore, save_when_due
from referral_bus.router.submissions import utc_now

log = structlog.get_logger(__name__)
APP_ID = "referral-bus-sla"


def report_unconfigured_years(calendar: WorkingCalendar, reported: dict[int, int]) -> list[int]:
    """Issue 15: the years the calendar counted working-day due times through without their day-off
    transfers (``WorkingCalendar.lacking``) — a warning in the log the first time a year is seen
    (the year and how many due times: no case, no personal data), the gauge set for the year and the
    counter advanced by the due times computed since the last call. ``reported`` (year → due times
    already counted) is the caller's memory. Returns the years newly warned of."""
    new: list[int] = []
    for year, count in sorted(calendar.lacking.items()):
        before = reported.get(year, 0)
        if count <= before:
            continue
        if year not in reported:
            new.append(year)
            log.warning("sla.calendar_transfers_unconfigured", year=year, due_times=count,
                        fix=f"enter {year}'s day-off transfers in calendar.yaml and list {year} under "
                            "transfers_configured; working-day due times in it may be off until then")
        metrics.UNCONFIGURED_CALENDAR_YEARS.labels(str(year)).set(1)
        metrics.DUE_TIMES_IN_UNCONFIGURED_YEARS.labels(str(year)).inc(count - before)
        reported[year] = count
    return new


@dataclass
class SlaSnapshot:
    """What a restarted SLA processor needs so as not to fold the case log from the beginning
    (infra/snapshots.py): the engine's open deadlines, what was emitted, and the positions of both."""

    taken_at: float
    engine: DeadlineEngine
    chain_heads: dict[str, tuple[int, bytes]]
    folded: dict[int, int]
    digests: dict[int, str]
    emitted: set[bytes]
    emitted_positions: dict[tuple[str, int], int]


#: Seconds between the timer's looks at whether a ladder step fell due (plus the grace): an
#: end-of-day burst is raised within this of its instant, not within a whole tick (issue 13).
WAKE_SECONDS = 0.1
#: An emit's records go out this many at a time, each lot's inbox copies acknowledged before its
#: rb.sla / rb.escalations records are sent: a burst's first escalations need not wait for its last.
EMIT_LOT = 2500
#: Deadlines the engine drafts, and their records encoded, at a time during the grace (``_prepare``:
#: ~0.05 s of work), and the seconds of each WAKE_SECONDS turn spent so; 100,000 deadlines due at
#: once are drafted within the 10 s grace, and events go on being folded between lots.
PREPARE_LOT = 1000
PREPARE_SECONDS = 0.08

#: Seconds between counts of the open deadlines of this process's own cases, when it shares the
#: partitions with others (a pass over every case; a process holding them all reads its counter).
OPEN_COUNT_EVERY = 15.0


def record_id(record: Record) -> bytes:
    """The deterministic id of an SLA record (escalations have their own), as its 16 bytes: one is
    kept per record ever emitted (``emitted``), 49 bytes of memory against 85 for its text."""
    found = record.escalation_id if isinstance(record, EscalationRaised) else getattr(record, "sla_event_id", None)
    assert isinstance(found, UUID), f"{type(record).__name__} has no SLA record id"
    return found.bytes


class SlaService:
    def __init__(self, runtime: Runtime, clock: Callable[[], datetime] = utc_now) -> None:
        self.runtime = runtime
        self.clock = clock
        cat = runtime.catalogue
        self.case_log = cat.name("case_log")
        self.sla_topic = cat.name("sla")
        self.escalations = cat.name("escalations")
        self.engine = self._new_engine()
        self.emitted: set[bytes] = set()
        #: id() of a record the engine drafted during the grace → (it, its encoded messages): kept
        #: with the record itself, so the id cannot be another object's
        self._ready: dict[int, tuple[Record, tuple[list[Outgoing], Outgoing]]] = {}
        #: year → working-day due times counted through it without its transfers, already reported
        self.calendar_reported: dict[int, int] = {}
        #: each case's chain head, and the last case-log offset per partition folded (by a catch-up
        #: or by this process's stream), with the SHA-256 of that record (a snapshot's check)
        self.chains = ChainFollower()
        self.folded: dict[int, int] = {}
        self.digests: dict[int, str] = {}
        #: the next offset per partition of rb.sla and rb.escalations read into ``emitted``
        self.emitted_positions: dict[tuple[str, int], int] = {}
        self.stale = True
        self._first = True
        #: the case-log partitions assigned to this process (``_on_assigned``), and how many there are
        self.owned: set[int] = set()
        #: when the open-deadlines gauge was last counted over this process's own cases (monotonic)
        self._counted_at = -OPEN_COUNT_EVERY
        self.partitions = cat.partitions("case_log")
        #: the first fold's (``prepare``): whether it came from a snapshot, what it owes and the
        #: cases the SLA topics name that it did not hold, for the first ``ensure_fresh``
        self._restored = False
        self._owed: list[Record] = []
        self._unknown: set[str] = set()
        self._lock = asyncio.Lock()
        #: held while events are folded and what they owe is emitted, and by a snapshot: a snapshot
        #: never holds a folded event whose records were not emitted yet
        self._busy = asyncio.Lock()
        settings = runtime.settings
        configuration = b"\0".join([*(f.read_bytes() for f in (settings.agencies_file, settings.calendar_file,
                                                                settings.policy_file)),
                                     repr(settings.sla_grace_seconds).encode()])
        self.snapshots = SnapshotStore(settings.data_dir, "sla", configuration) \
            if settings.state_snapshot_seconds else None
        self._saved: tuple[dict[int, int], dict[tuple[str, int], int]] | None = None
        self.app = make_app(runtime.settings.topic_prefix + APP_ID, runtime.settings, cat.partitions("case_log"))
        self.publisher = AckedPublisher(runtime.settings, APP_ID, "sla")
        self.quarantine = Quarantine(runtime, "sla")
        self.app.on_before_shutdown.connect(self._stop_publisher)
        case_log = self.app.topic(self.case_log, key_serializer="raw", value_serializer="raw")
        self.app.agent(case_log, name="deadlines", concurrency=1)(self._consume)
        self._ticked_at = -runtime.settings.sla_tick_seconds
        self.app.timer(interval=min(WAKE_SECONDS, runtime.settings.sla_tick_seconds))(self._tick)
        self.app.on_partitions_assigned.connect(self._on_assigned)
        self.app.on_partitions_revoked.connect(self._on_revoked)
        if self.snapshots is not None:
            self.app.timer(runtime.settings.state_snapshot_seconds)(self._snapshot_when_due)

    def _new_engine(self) -> DeadlineEngine:
        return self.runtime.deadline_engine()

    async def _stop_publisher(self, *args: object, **kwargs: object) -> None:
        await self.publisher.stop()
        if self.snapshots is not None:
            self.snapshots.close()

    async def _on_assigned(self, *args: Any, **kwargs: Any) -> None:
        """Faust's whole new assignment: the case-log partitions whose events this process folds
        as they come; the rest of its engine is current only as of its last catch-up."""
        assigned: set[TP] = args[1]   # (sender, assigned)
        self.owned = {tp.partition for tp in assigned if tp.topic == self.case_log}
        self.stale = True

    async def _on_revoked(self, *args: object, **kwargs: object) -> None:
        self.owned = set()   # until the next assignment, another process may fold any partition

    def owns(self, case_id: str) -> bool:
        """Whether this process folds ``case_id``'s events as they come (its case-log partition is ours)."""
        return partition_for_key(case_id.encode(), self.partitions) in self.owned

    def _owns_some(self) -> Callable[[str], bool] | None:
        """``owns`` when this process shares the partitions with others, else None (it holds them
        all: nothing to ask per case, an end-of-day burst's hot path)."""
        return None if len(self.owned) == self.partitions else self.owns

    async def ensure_fresh(self) -> None:
        """Bring the engine up to the case log's true end and learn what was already emitted; emit
        what is owed and not there. The first time from this process's snapshot when it is valid
        (``_restore``), else from the beginning; after a rebalance from where it left off. So a
        restart or a rebalance folds only what the log gained since (issue 13 item 1)."""
        async with self._lock:
            if not self.stale:
                return
            started = time.monotonic()
            if self._first:
                await self._first_fold()
            owed, self._owed = self._owed, []
            restored, self._restored = self._restored, False
            owed += await self._fold_case_log()
            owed += self.engine.advance(self.clock())
            unknown_cases = self._unknown | await self._catch_up_emitted()
            self._unknown = set()
            if unknown_cases:
                # another process may have emitted for cases appended after the fold: catch up once more
                owed += await self._fold_case_log()
                owed += self.engine.advance(self.clock())
                self._stop_if_unknown(unknown_cases - self.chains.heads.keys())
            await self.publisher.publish([Outgoing(*held) for held in self.quarantine.take()])
            self.stale = False
            self.publisher.health.set(OK)   # rebuilt, and the log holds every case the SLA topics know
            missing = [r for r in owed if record_id(r) not in self.emitted]
            report_unconfigured_years(self.engine.context.calendar, self.calendar_reported)
            log.info("sla.state_rebuilt", open_deadlines=len(self.engine.open), emitted=len(self.emitted),
                     missing=len(missing), from_snapshot=restored, seconds=round(time.monotonic() - started, 3))
            await self.emit(missing)

    async def prepare(self) -> None:
        """The first fold, run by ``run_worker`` before the process joins its consumer group: a full
        rebuild can outlast the poll interval (REFERRAL_BUS_MAX_POLL_INTERVAL, 300 s; 315 s at 1M log
        events), and a member that long inside ``ensure_fresh`` was dropped by the group and its
        stream never resumed. The first ``ensure_fresh`` then folds only what came meanwhile."""
        async with self._lock:
            if self._first:
                await self._first_fold()

    async def _first_fold(self) -> None:
        """This process's snapshot when it is valid (``_restore``), else the whole case log; then
        what was emitted. What it owes is kept for the first ``ensure_fresh`` to emit."""
        started = time.monotonic()
        self._restored = await self._restore()
        if not self._restored:
            self.engine, self.chains, self.folded, self.digests = self._new_engine(), ChainFollower(), {}, {}
            self.emitted, self.emitted_positions = set(), {}
            self._owed = await self._fold_case_log(progress="rebuilding deadlines")
        self._unknown = await self._catch_up_emitted()
        self._first = False
        log.info("sla.first_fold", from_snapshot=self._restored, open_deadlines=len(self.engine.open),
                 emitted=len(self.emitted), seconds=round(time.monotonic() - started, 3))

    async def _fold_case_log(self, progress: str | None = None) -> list[Record]:
        """Fold the case log from the positions folded so far to its true end; returns what it owes."""
        owed: list[Record] = []
        start = {(self.case_log, p): offset + 1 for p, offset in self.folded.items()}
        async for record in read_to_end(self.runtime.settings, [self.case_log], progress=progress, start=start):
            owed += self._fold(record)
        return owed

    def _fold(self, record: Any) -> list[Record]:
        """One case-log record (from a catch-up or the stream): folded once, a poison record set aside."""
        self.folded[record.partition] = record.offset
        self.digests[record.partition] = hashlib.sha256(record.value or b"").hexdigest()
        event = self.quarantine.decode(record, Event, self.chains)   # a poison record is set aside, not fatal
        return self.engine.on_event(event) if isinstance(event, Event) else []

    async def _catch_up_emitted(self) -> set[str]:
        """Read rb.sla and rb.escalations on from ``emitted_positions`` into ``emitted``; returns the
        cases they name that the case log, as folded so far, does not hold."""
        unknown_cases: set[str] = set()
        async for record in read_to_end(self.runtime.settings, [self.sla_topic, self.escalations],
                                        start=self.emitted_positions):
            self.emitted_positions[(record.topic, record.partition)] = record.offset + 1
            sla_record = self.quarantine.decode(record, tuple(SLA_RECORD_TYPES.values()))
            if sla_record is not None:
                self.emitted.add(record_id(sla_record))
                if sla_record.case_id not in self.chains.heads:  # type: ignore[attr-defined]
                    unknown_cases.add(sla_record.case_id)  # type: ignore[attr-defined]
        return unknown_cases

    def _stop_if_unknown(self, unknown_cases: set[str]) -> None:
        """A record of a case the case log does not hold means the case log lost data: stop for the operator."""
        if unknown_cases:
            # Divergence (issue 12): deadlines were timed on events the case log no longer holds
            stop_for_operator(self.runtime.settings.data_dir, "sla", (
                f"the SLA and escalation topics hold records of {len(unknown_cases):,} case(s) the case log "
                f"does not hold: the case log lost data. Restore it from the latest archive (`referral-bus "
                f"restore <archive>`) before starting the SLA processor again (docs/reliability.md, "
                f"\"Divergence\")"))

    async def _restore(self) -> bool:
        """This process's snapshot, when there is one and the case log still holds, at each
        partition's last folded offset, the very record the snapshot was folded from."""
        restored = await restore(self.snapshots, SlaSnapshot, lambda snapshot: log_holds(
            self.runtime.settings, self.case_log, snapshot.folded, snapshot.digests, "sla"))
        if restored is None:
            return False
        snapshot, path = restored
        self.engine = snapshot.engine   # with its rules, directory and calendar: this process's (its configuration)
        self.chains = ChainFollower()
        self.chains.heads = snapshot.chain_heads
        self.folded, self.digests = dict(snapshot.folded), dict(snapshot.digests)
        self.emitted, self.emitted_positions = snapshot.emitted, dict(snapshot.emitted_positions)
        log.info("sla.snapshot_loaded", file=str(path), open_deadlines=len(self.engine.open),
                 taken_at=datetime.fromtimestamp(snapshot.taken_at, UTC).isoformat())
        return True

    async def _snapshot_when_due(self) -> None:
        """The timer's turn (every REFERRAL_BUS_STATE_SNAPSHOT_SECONDS)."""
        if self.snapshots is not None:
            await save_when_due(self.snapshots, self._busy, self.take_snapshot)

    async def take_snapshot(self) -> None:
        """Save the engine with the positions it was folded to (after reading what others emitted)."""
        if self.snapshots is None or self.stale or self._first:
            return
        started = time.monotonic()
        await self._catch_up_emitted()
        saving = (dict(self.folded), dict(self.emitted_positions))
        if saving == self._saved:
            return
        snapshot = SlaSnapshot(taken_at=time.time(), engine=self.engine, chain_heads=self.chains.heads,
                               folded=saving[0], digests=dict(self.digests), emitted=self.emitted,
                               emitted_positions=saving[1])
        size = self.snapshots.save(snapshot)
        self._saved = saving
        log.info("sla.snapshot_saved", bytes=size, open_deadlines=len(self.engine.open),
                 seconds=round(time.monotonic() - started, 3))

    async def _consume(self, stream: faust.StreamT[Any]) -> None:
        # take_events acks a batch only after emit() below has been acknowledged by the broker
        async for events in cast(faust.Stream[Any], stream).take_events(500, within=0.02):
            async with self._busy:
                await self.ensure_fresh()
                owed: list[Record] = []
                for event in events:
                    if event.message.offset <= self.folded.get(event.message.partition, -1):
                        continue   # folded by a catch-up already
                    owed += self._fold(event.message)
                await self.publisher.publish([Outgoing(*held) for held in self.quarantine.take()])
                report_unconfigured_years(self.engine.context.calendar, self.calendar_reported)
                await self.emit(owed)

    async def _tick(self) -> None:
        """Every REFERRAL_BUS_SLA_TICK, and as soon as a ladder step's time plus the grace has come
        (the timer looks every WAKE_SECONDS): the steps due, then the gauges."""
        due, now = self.engine.next_step_at(), self.clock()
        if time.monotonic() - self._ticked_at < self.runtime.settings.sla_tick_seconds and (due is None or due > now):
            if due is not None and due - self.engine.grace <= now:
                await self._prepare()   # a step's time has come, its grace not yet
            return
        self._ticked_at = time.monotonic()
        async with self._busy:
            await self.ensure_fresh()
            # only this process's partitions: another process may have folded the event that met a
            # deadline of its own cases since this one caught up (a false escalation otherwise); a
            # process holding every partition asks nothing per case (an end-of-day burst's hot path)
            owns = self._owns_some()
            await self.emit(self.engine.advance(self.clock(), owns=owns))
        report_unconfigured_years(self.engine.context.calendar, self.calendar_reported)
        # encodings of drafts that no longer hold (the deadline changed, or was closed, meanwhile)
        self._ready = {k: v for k, v in self._ready.items() if v[0].deadline_id in self.engine.drafts}  # type: ignore[attr-defined]
        if owns is None or time.monotonic() - self._counted_at >= OPEN_COUNT_EVERY:
            self._counted_at = time.monotonic()
            counts = self.engine.open_counts(owns)
            for rule in RULES:
                metrics.OPEN_DEADLINES.labels(rule.rule_id).set(counts[rule.rule_id])

    async def emit(self, records: list[Record]) -> None:
        """Send what the engine owes and is not on the log yet, EMIT_LOT records at a time: a lot's
        inbox copies first, its rb.sla / rb.escalations records once they are acknowledged, and it is
        remembered as emitted once those are. Lots overlap by one: a lot's inbox copies go out while
        the lot before's records are on their way; each topic's messages still go in order."""
        fresh = [r for r in records if record_id(r) not in self.emitted]
        #: deadlines the bus learns of only now, already past due (5.2, 7.10: the trigger completes them late):
        #: their escalations could not have fired earlier, so they are not the processor's lateness
        opened_now = {r.deadline_id for r in fresh if isinstance(r, DeadlineOpened)}
        before: tuple[list[Record], Awaitable[None]] | None = None
        for start in range(0, len(fresh), EMIT_LOT):
            lot = fresh[start:start + EMIT_LOT]
            inbox, final = self._outgoing(lot, opened_now)
            copies_acknowledged = await self.publisher.send(inbox)
            if before is not None:
                await self._remember(*before)
            await copies_acknowledged
            # fault tests: a crash between the inbox copies and rb.sla / rb.escalations
            failpoints.hit("sla.after_inbox")
            before = (lot, await self.publisher.send(final))
        if before is not None:
            await self._remember(*before)

    async def _remember(self, lot: list[Record], acknowledged: Awaitable[None]) -> None:
        await acknowledged
        failpoints.hit("sla.after_emit")  # fault tests: a crash after both, before they are remembered as emitted
        self.emitted.update(record_id(r) for r in lot)
        for (kind, rule_id), count in Counter((type(r).__name__, getattr(r, "rule_id", "")) for r in lot).items():
            metrics.SLA_RECORDS.labels(kind, rule_id).inc(count)

    def _outgoing(self, lot: list[Record], opened_now: set[UUID]) -> tuple[list[Outgoing], list[Outgoing]]:
        """A lot's inbox copies and its rb.sla / rb.escalations records (encoded ahead when they were
        drafted during the grace, ``_prepare``)."""
        inbox: list[Outgoing] = []
        final: list[Outgoing] = []
        escalations: list[tuple[EscalationRaised, float]] = []
        now = self.clock()
        for record in lot:
            ready = self._ready.pop(id(record), None)
            copies, last = ready[1] if ready is not None and ready[0] is record else self._encode(record)
            inbox += copies
            final.append(last)
            if isinstance(record, EscalationRaised):
                fired_late = (now - record.raised_for).total_seconds()
                if record.deadline_id not in opened_now:
                    metrics.ESCALATION_FIRING_LATENESS.observe(max(0.0, fired_late))
                escalations.append((record, fired_late))
        log_escalations(escalations)
        return inbox, final

    def _encode(self, record: Record) -> tuple[list[Outgoing], Outgoing]:
        """A record's inbox copies and its rb.sla / rb.escalations record: the same bytes, encoded once."""
        key = record.case_id.encode()  # type: ignore[attr-defined]
        value = self.runtime.codec.encode(record)
        copies = [Outgoing(self.runtime.catalogue.inbox(delivery.agency_id), key, value, to_headers({
            "rb-delivery-id": delivery.delivery_id, "rb-paragraph": delivery.paragraph,
            "rb-purpose": delivery.purpose, "rb-redacted": "true"})) for delivery in sla_deliveries(record)]
        return copies, Outgoing(self.escalations if isinstance(record, EscalationRaised) else self.sla_topic,
                                key, value)

    async def _prepare(self) -> None:
        """During the grace: the steps whose time has come drafted by the engine (``prepare``) and
        encoded, PREPARE_LOT deadlines at a time for at most PREPARE_SECONDS a turn, events folded
        between lots; so that when the grace has passed ``emit`` only sends."""
        started = time.monotonic()
        while time.monotonic() - started < PREPARE_SECONDS:
            async with self._busy:
                if self.stale:
                    return
                owns = self._owns_some()
                drafted = self.engine.prepare(self.clock(), owns=owns, limit=PREPARE_LOT)
                for record in drafted:
                    self._ready[id(record)] = (record, self._encode(record))
            if not drafted:
                return
            await asyncio.sleep(0)   # the stream's turn: events go on being folded


#: Escalations of one emit logged one line each up to this many; beyond it (an end-of-day burst,
#: when thousands of working-day deadlines fall due together) one summary line, so that logging
#: does not delay the escalations themselves (issue 13); each is on rb.escalations and the console.
ESCALATION_LINES = 20


def log_escalations(escalations: list[tuple[EscalationRaised, float]]) -> None:
    if len(escalations) > ESCALATION_LINES:
        log.warning("sla.escalations", count=len(escalations),
                    rules=sorted({r.rule_id for r, _ in escalations}),
                    max_fired_late_seconds=round(max(late for _, late in escalations), 3))
        return
    for record, fired_late in escalations:
        log.warning("sla.escalation", escalation_id=str(record.escalation_id), case_id=record.case_id,
                    rule_id=record.rule_id, paragraph=record.paragraph,
                    escalated_to=record.escalated_to_agency_id, fired_late_seconds=round(fired_late, 3))
