"""The router as a Faust app: a thin shell that feeds ingress records to ``SubmissionHandler`` and writes
its outcome — first the case log (acknowledged), then receipts, inboxes and dead letters.

concurrency=1 on purpose: faust-streaming issue 606 (offset committed past an in-flight message).
Submissions are taken in batches (``take_events`` acks them only after the batch is written), so a
batch costs two broker round trips instead of two per event.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import faust
import structlog

from referral_bus.contracts.base import Event
from referral_bus.contracts.bus_records import (
    CaseHead,
    ChainCheckpoint,
    Receipt,
    ReceiptStatus,
    SigningKeyEnrolled,
    SigningKeyRevoked,
)
from referral_bus.contracts.events import EscalationAcknowledged
from referral_bus.contracts.sla_records import EscalationRaised
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.chain import ChainFollower
from referral_bus.domain.signatures import ROUTER, KeyDirectory, sign_checkpoint
from referral_bus.infra import failpoints, metrics
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.health import OK, stop_for_operator
from referral_bus.infra.kafka.faust_app import (
    AckedPublisher,
    Outgoing,
    make_app,
    to_headers,
)
from referral_bus.infra.kafka.log_reader import TopicFollower, end_offsets, log_holds, read_to_end
from referral_bus.infra.quarantine import Quarantine
from referral_bus.infra.runtime import Runtime
from referral_bus.infra.signing_keys import SigningKeyError, SigningKeyStore
from referral_bus.infra.snapshots import SnapshotStore, restore, save_when_due
from referral_bus.infra.vault import Vault
from referral_bus.router.submissions import Outcome, Recent, Source, Submission, SubmissionHandler

log = structlog.get_logger(__name__)
APP_ID = "referral-bus-router"
#: Submissions taken from the stream at a time, and how long to wait to fill a batch.
BATCH_MAX = 500
BATCH_WITHIN_SECONDS = 0.02
ACKNOWLEDGEMENT = EscalationAcknowledged.__name__
#: How often the router catches up with the signing keys: a revocation applies, and a new key is
#: known, within this many seconds (``keys rotate`` waits ROUTERS_LEARN before switching).
KEYS_EVERY = 0.2
#: Per case-log partition, the appends whose deliveries a snapshot keeps (``recent``): at most one
#: round of one batch per partition can be appended and still owe its receipt when a router dies.
RECENT_KEPT = BATCH_MAX


@dataclass
class RouterSnapshot:
    """What a restarted router needs so as not to fold the case log from the beginning
    (infra/snapshots.py): the handler's per-case state, the chain heads and the positions they were
    folded to, with the digest of each partition's last folded record to check the log against."""

    taken_at: float
    cases: dict[str, CaseState]
    event_cases: dict[bytes, str]
    escalations_waiting: dict[str, list[EscalationRaised]]
    recent: dict[uuid.UUID, Recent]
    chain_heads: dict[str, tuple[int, bytes]]
    positions: dict[int, int]
    digests: dict[int, str]
    escalation_positions: dict[tuple[str, int], int]
    tail: dict[int, deque[uuid.UUID]]


class RouterService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        cat = runtime.catalogue
        settings = runtime.settings
        self.case_log = cat.name("case_log")
        #: ingress topic → the receipts topic of the agency whose it is
        self.receipts = {topic: cat.receipts(agency) for topic, agency in cat.ingress_topics().items()}
        self.dead_letter = cat.name("dead_letter")
        #: the SLA processor's escalations: who may acknowledge which (domain/pathways/escalation.py)
        self.escalations = TopicFollower(runtime.settings, [cat.name("escalations")])
        #: the signing-key directory: complete before the first batch, then caught up every KEYS_EVERY s
        self.signing_keys = KeyDirectory()
        self.key_records = TopicFollower(runtime.settings, [cat.name("signing_keys")])
        self._keys_ready = False   # a catch-up has completed: the directory holds every key enrolled so far
        self._keys_lock = asyncio.Lock()   # the timer and the first batch share one consumer
        #: the key vault (infra/vault.py): made on first start, its ingress public key published for the SDKs
        self.handler = SubmissionHandler.from_runtime(runtime, signing_keys=self.signing_keys,
                                                      vault=Vault.open(settings))
        self.checkpoints = cat.name("checkpoints")
        self.quarantine = Quarantine(runtime, "router")
        #: the router's own key, for its chain checkpoints (domain/signatures.py); read per checkpoint,
        #: so that `keys rotate rb-router` applies without a restart
        self.router_keys = SigningKeyStore(settings.signing_keys)
        try:
            self.router_keys.current(ROUTER)
        except SigningKeyError as exc:
            log.critical("router.no_checkpoint_key", error=str(exc))
            raise SystemExit(f"router: {exc}") from None
        self.stale = True
        #: The case log as folded so far: chain heads, next offset and last record's digest per
        #: partition (``None`` until the first reload), the last RECENT_KEPT event ids per partition
        self.chains = ChainFollower()
        self.positions: dict[int, int] | None = None
        #: the first fold's (``prepare``): whether it came from a snapshot, and the records it read
        self._prepared: tuple[bool, int] = (False, 0)
        self.digests: dict[int, str] = {}
        self.tail: dict[int, deque[uuid.UUID]] = {}
        #: when receipts were last read (epoch s; ``None``: never, read them all). A later reload reads
        #: from a lookback before it: a submission handled but not committed by a process that died is
        #: answered within a session timeout, a rebalance and a poll interval of its death.
        self.receipts_since: float | None = None
        self.receipts_lookback = 2 * (settings.session_timeout_seconds + settings.rebalance_timeout_seconds
                                      + settings.max_poll_interval_seconds)
        self.snapshots = SnapshotStore(settings.data_dir, "router", settings.agencies_file.read_bytes()) \
            if settings.state_snapshot_seconds else None
        #: held while a batch is handled: a snapshot is taken between batches only
        self._between_batches = asyncio.Lock()
        self._saved: tuple[dict[int, int], dict[tuple[str, int], int]] | None = None
        self.app = make_app(settings.topic_prefix + APP_ID, settings, cat.partitions("case_log"))
        self.app.timer(KEYS_EVERY)(self._follow_keys)
        if self.snapshots is not None:
            self.app.timer(settings.state_snapshot_seconds)(self._snapshot_when_due)
        self.publisher = AckedPublisher(runtime.settings, APP_ID, "router")
        self.app.on_before_shutdown.connect(self._stop_publisher)
        ingress = self.app.topic(*cat.ingress_topics(), key_serializer="raw", value_serializer="raw")
        self.app.agent(ingress, name="route", concurrency=1)(self._route)
        self.app.on_partitions_assigned.connect(self._on_assigned)

    async def _stop_publisher(self, *args: object, **kwargs: object) -> None:
        await self.publisher.stop()
        await self.escalations.stop()
        await self.key_records.stop()
        if self.snapshots is not None:
            self.snapshots.close()

    async def _on_assigned(self, *args: object, **kwargs: object) -> None:
        self.stale = True  # another instance may have appended to cases we now own

    async def reload(self) -> None:
        """Bring per-case state up to the case log's true end, and learn which submissions were
        already answered (their receipts are on the agencies' receipts topics).

        The first time, from this process's snapshot when it is valid (``_restore``), else from the
        beginning; after that (a rebalance) from where the last reload or snapshot left off. So a
        restart or a rebalance folds only what was appended since (issue 13 item 1)."""
        started = time.monotonic()
        if self.positions is None:
            await self.prepare()
        restored, count = self._prepared
        self._prepared = (False, 0)
        count += await self._fold_case_log()
        ingress = self.runtime.catalogue.ingress_topics()
        accepted: dict[str, int] = {}   # case → the highest sequence a receipt says was appended
        since = None if self.receipts_since is None else self.receipts_since - self.receipts_lookback
        self.receipts_since = time.time()
        self.handler.answered.clear()
        async for record in read_to_end(self.runtime.settings, sorted(set(self.receipts.values())), since=since):
            receipt = self.quarantine.decode(record, Receipt)
            if isinstance(receipt, Receipt) and receipt.source_topic in ingress:
                self.handler.answered.add((receipt.source_topic, receipt.source_partition, receipt.source_offset))
                if receipt.status is ReceiptStatus.ACCEPTED and receipt.case_id and receipt.sequence:
                    accepted[receipt.case_id] = max(accepted.get(receipt.case_id, 0), receipt.sequence)
        # another process may have appended and answered while the receipts were read: its receipts
        # come after its appends, so catching up once more holds every append a receipt read promises
        count += await self._fold_case_log()
        self._check_log_holds(accepted)
        await self.publisher.publish([Outgoing(*held) for held in self.quarantine.take()])
        escalations = await self._catch_up_escalations()
        self.stale = False
        self.publisher.health.set(OK)   # rebuilt, and the log holds what the receipts promise
        log.info("router.state_rebuilt", escalations=escalations, events=count, cases=len(self.handler.cases),
                 answered=len(self.handler.answered), from_snapshot=restored,
                 seconds=round(time.monotonic() - started, 3))

    async def prepare(self) -> None:
        """The first fold — this process's snapshot when it is valid (``_restore``), else the whole
        case log — run by ``run_worker`` before the process joins its consumer group: a full rebuild
        can outlast the poll interval (613 s at 1M log events against REFERRAL_BUS_MAX_POLL_INTERVAL's
        300 s), and a member that long inside a batch is dropped by the group. The first ``reload``
        then folds only what came meanwhile, and reads the receipts."""
        if self.positions is not None:
            return
        started = time.monotonic()
        restored = await self._restore() is not None
        if not restored:
            self.handler.reset()
            self.chains, self.positions, self.digests, self.tail = ChainFollower(), {}, {}, {}
            await self.escalations.stop()
            self.escalations.start = {}
        folded = await self._fold_case_log(progress=None if restored else "rebuilding router state",
                                           rebuild=not restored)
        self._prepared = (restored, folded)
        log.info("router.first_fold", from_snapshot=restored, events=self._prepared[1], cases=len(self.handler.cases),
                 seconds=round(time.monotonic() - started, 3))

    async def _fold_case_log(self, progress: str | None = None, *, rebuild: bool = False) -> int:
        """Fold the case log from ``positions`` to its true end; returns the records read. A
        ``rebuild`` (the whole log) remembers the deliveries of each partition's last RECENT_KEPT
        appends only (one of them may still owe its receipt: ``recent``) and folds those before
        without routing them again; a catch-up, short, remembers all it reads."""
        assert self.positions is not None
        count = 0
        start = {(self.case_log, p): offset for p, offset in self.positions.items()}
        tail_from: dict[int, int] = {}
        if rebuild:
            ends = await end_offsets(self.runtime.settings, self.case_log)
            tail_from = {p: end - RECENT_KEPT for p, end in ends.items()}
        async for record in read_to_end(self.runtime.settings, [self.case_log], progress=progress, start=start):
            headers = dict(record.headers or ())
            event = self.quarantine.decode(record, Event, self.chains)   # a poison record is set aside, not fatal
            if isinstance(event, Event):
                self.handler.fold(event, source=parse_source(headers.get(SOURCE_HEADER)),
                                  remember=record.offset >= tail_from.get(record.partition, 0))
                self.tail.setdefault(record.partition, deque(maxlen=RECENT_KEPT)).append(event.envelope.event_id)
            self.positions[record.partition] = record.offset + 1
            self.digests[record.partition] = hashlib.sha256(record.value or b"").hexdigest()
            count += 1
        return count

    async def _restore(self) -> RouterSnapshot | None:
        """This process's snapshot, loaded into the handler when the case log still holds the
        records it was folded from; ``None`` (then a full rebuild) otherwise."""
        restored = await restore(self.snapshots, RouterSnapshot, lambda snapshot: log_holds(
            self.runtime.settings, self.case_log, {p: offset - 1 for p, offset in snapshot.positions.items()},
            snapshot.digests, "router"))
        if restored is None:
            return None
        snapshot, path = restored
        handler = self.handler
        handler.reset()
        handler.cases, handler.event_cases = snapshot.cases, snapshot.event_cases
        handler.escalations_waiting = snapshot.escalations_waiting
        handler.recent.update(snapshot.recent)
        self.chains = ChainFollower()
        self.chains.heads = snapshot.chain_heads
        self.positions, self.digests, self.tail = dict(snapshot.positions), dict(snapshot.digests), snapshot.tail
        self.escalations.start = dict(snapshot.escalation_positions)
        self.receipts_since = snapshot.taken_at
        log.info("router.snapshot_loaded", file=str(path), cases=len(snapshot.cases),
                 taken_at=datetime.fromtimestamp(snapshot.taken_at, UTC).isoformat(),
                 positions=sum(snapshot.positions.values()))
        return snapshot

    async def _snapshot_when_due(self) -> None:
        """The timer's turn (every REFERRAL_BUS_STATE_SNAPSHOT_SECONDS)."""
        if self.snapshots is not None:
            await save_when_due(self.snapshots, self._between_batches, self.take_snapshot)

    async def take_snapshot(self) -> None:
        """Catch up with the case log (this process's own appends, and others') and the escalations,
        then save the state with the positions it was folded to. Between batches only: every
        submission handled so far has its receipt, so the snapshot never holds an append that still
        owes one of this process."""
        if self.snapshots is None or self.positions is None or self.stale:
            return
        started = time.monotonic()
        await self._fold_case_log()
        await self.publisher.publish([Outgoing(*held) for held in self.quarantine.take()])
        await self._catch_up_escalations()
        saving = (dict(self.positions), await self.escalations.positions())
        if saving == self._saved:
            return
        kept = {event_id for ids in self.tail.values() for event_id in ids}
        snapshot = RouterSnapshot(
            taken_at=time.time(), cases=self.handler.cases, event_cases=self.handler.event_cases,
            escalations_waiting=self.handler.escalations_waiting,
            recent={k: v for k, v in self.handler.recent.items() if k in kept},
            chain_heads=self.chains.heads, positions=dict(self.positions), digests=dict(self.digests),
            escalation_positions=saving[1], tail=self.tail)
        size = self.snapshots.save(snapshot)
        self.receipts_since, self._saved = snapshot.taken_at, saving
        log.info("router.snapshot_saved", bytes=size, cases=len(snapshot.cases),
                 seconds=round(time.monotonic() - started, 3))

    def _check_log_holds(self, accepted: dict[str, int]) -> None:
        """Divergence (issue 12): receipts promise agencies that their events were appended; a case
        log holding less than they promise lost data (a broker's disks, a restore from an older
        archive). Appending on would reuse sequence numbers already given out: stop for the operator."""
        logged = {case: state.last_sequence if (state := self.handler.cases.get(case)) else 0 for case in accepted}
        behind = {case: sequence for case, sequence in accepted.items() if logged[case] < sequence}
        if behind:
            example = next(iter(behind))
            stop_for_operator(self.runtime.settings.data_dir, "router", (
                f"the receipts say {len(behind):,} case(s) were appended further than the case log holds (e.g. "
                f"case {example}: receipt for sequence {behind[example]}, log ends at "
                f"{logged[example]}): the case log lost data. Restore it from the "
                f"latest archive (`referral-bus restore <archive>`) before starting the router again "
                f"(docs/reliability.md, \"Divergence\")"))

    async def _route(self, stream: faust.StreamT[Any]) -> None:
        # take_events acks a batch only after this loop body has finished with it (faust streams.py)
        async for events in cast(faust.Stream[Any], stream).take_events(BATCH_MAX, within=BATCH_WITHIN_SECONDS):
            async with self._between_batches:
                await self._handle(events)

    async def _handle(self, events: Sequence[faust.EventT[Any]]) -> None:
        """One batch: state fresh, then its outcomes written round by round."""
        if not self._keys_ready:
            await self._catch_up_keys()   # the first batch waits for the whole key directory
        if self.stale:
            await self.reload()
        elif any(self.runtime.codec.record_name(e.message.value or b"") == ACKNOWLEDGEMENT for e in events):
            await self._catch_up_escalations()  # an acknowledgement is checked against every escalation so far
        for outcomes in self.handler.handle_batch([
                Submission(e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value)
                for e in events]):
            await self.publish(outcomes)

    def _checkpoint(self, outcomes: list[Outcome]) -> list[Outgoing]:
        """The signed chain heads of the cases just appended to (none when nothing was): written with
        the deliveries, after the appends are acknowledged, so it never vouches for what is not on
        the log. A crash before it only means those heads wait for the case's next checkpoint."""
        heads = {o.appended.envelope.case_id: CaseHead(case_id=o.appended.envelope.case_id,
                                                       sequence=o.appended.envelope.sequence or 0,
                                                       hash=o.appended.envelope.hash or "")
                 for o in outcomes if o.appended is not None}
        if not heads:
            return []
        checkpoint = sign_checkpoint(ChainCheckpoint(checkpoint_id=uuid.uuid4(), recorded_at=datetime.now(UTC),
                                                     heads=list(heads.values()), signature=b""),
                                     *self.router_keys.current(ROUTER))
        return [Outgoing(self.checkpoints, None, self.runtime.codec.encode(checkpoint))]

    async def _catch_up_keys(self) -> None:
        """Fold what was enrolled or revoked since the last time: before the first batch, then every
        KEYS_EVERY seconds off the submissions' path (asking the broker before every batch cost a
        third of the router's throughput, docs/benchmarks.md)."""
        async with self._keys_lock:
            for record in await self.key_records.catch_up():
                try:
                    key_record = self.runtime.codec.decode(record.value)
                except DecodeError:
                    log.error("router.undecodable_key_record", partition=record.partition, offset=record.offset)
                    continue   # only the administrator writes there (ACLs); a bad record enrols nothing
                if isinstance(key_record, SigningKeyEnrolled | SigningKeyRevoked):
                    self.signing_keys.fold(key_record)
            self._keys_ready = True

    async def _follow_keys(self) -> None:
        """The timer's turn: a broker that does not answer now is asked again at the next one."""
        try:
            await self._catch_up_keys()
        except Exception as exc:  # noqa: BLE001 - keep following; the submissions' path is not blocked
            log.warning("router.signing_keys_not_caught_up", error=type(exc).__name__)

    async def _catch_up_escalations(self) -> int:
        records = await self.escalations.catch_up()
        for record in records:
            try:
                escalation = self.runtime.codec.decode(record.value)
            except DecodeError:
                continue   # only the SLA processor writes there (ACLs); anything else cannot be an escalation
            if isinstance(escalation, EscalationRaised):
                self.handler.note_escalation(escalation)
        return len(records)

    async def publish(self, outcomes: list[Outcome]) -> None:
        """The case log first, then inboxes and dead letters, then receipts — each step acknowledged
        before the next. A crash anywhere in between brings the submissions round again: nothing is
        appended twice (event ids), deliveries are re-sent with the same ids, and a receipt on a
        receipts topic always means the submission was fully handled (it is then skipped)."""
        codec = self.runtime.codec
        appends = [Outgoing(self.case_log, o.appended.envelope.case_id.encode(), codec.encode(o.appended),
                            headers={SOURCE_HEADER: format_source(o.receipt).encode()},
                            timestamp=o.appended.envelope.recorded_at.timestamp()
                            if o.appended.envelope.recorded_at else None)
                   for o in outcomes if o.appended is not None]
        await self.publisher.publish(appends)
        failpoints.hit("router.after_append")  # fault tests: a crash between the append and the receipts
        deliveries: list[Outgoing] = self._checkpoint(outcomes)
        receipts: list[Outgoing] = []
        for outcome in outcomes:
            receipt = outcome.receipt
            metrics.RECEIPTS.labels(receipt.status.value, receipt.reason_code or "").inc()
            receipts.append(Outgoing(self.receipts[receipt.source_topic], outcome.receipt_key, codec.encode(receipt)))
            for delivery, event in outcome.deliveries:
                env = event.envelope
                deliveries.append(Outgoing(
                    self.runtime.catalogue.inbox(delivery.recipient_id), env.case_id.encode(), codec.encode(event),
                    headers=to_headers({"rb-delivery-id": delivery.delivery_id(env.event_id),
                                        "rb-paragraph": delivery.paragraph, "rb-purpose": delivery.purpose,
                                        "rb-redacted": str(delivery.redacted).lower(),
                                        **({"rb-advice": json.dumps(delivery.advice, ensure_ascii=False)}
                                           if delivery.advice else {})})))
            if outcome.dead_letter is not None:
                dead = outcome.dead_letter
                deliveries.append(Outgoing(self.dead_letter, f"{dead.source_topic}:{dead.source_partition}".encode(),
                                           codec.encode(dead)))
        await self.publisher.publish(deliveries)
        failpoints.hit("router.after_deliveries")
        await self.publisher.publish(receipts)


#: Case-log record header naming the submission an event was appended from ("topic:partition:offset").
SOURCE_HEADER = "rb-source"


def format_source(receipt: Receipt) -> str:
    return f"{receipt.source_topic}:{receipt.source_partition}:{receipt.source_offset}"


def parse_source(value: bytes | None) -> Source | None:
    if not value:
        return None
    topic, partition, offset = value.decode().rsplit(":", 2)
    return (topic, int(partition), int(offset))
