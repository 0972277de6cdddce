"""The router as a Faust app: a thin shell that feeds ingress records to ``SubmissionHandler`` and writes
its outcome — first the case log (acknowledged), then receipts, inboxes and dead letters.

concurrency=1 on purpose: faust-streaming issue 606 (offset committed past an in-flight message).
Submissions are taken in batches (``take_events`` acks them only after the batch is written), so a
batch costs two broker round trips instead of two per event.
"""

from __future__ import annotations

import asyncio
import json
import uuid
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
from referral_bus.infra.kafka.log_reader import TopicFollower, read_to_end
from referral_bus.infra.quarantine import Quarantine
from referral_bus.infra.runtime import Runtime
from referral_bus.infra.signing_keys import SigningKeyError, SigningKeyStore
from referral_bus.infra.vault import Vault
from referral_bus.router.submissions import Outcome, Source, Submission, SubmissionHandler

log = structlog.get_logger(__name__)
APP_ID = "referral-bus-router"
#: Submissions taken from the stream at a time, and how long to wait to fill a batch.
BATCH_MAX = 500
BATCH_WITHIN_SECONDS = 0.02
ACKNOWLEDGEMENT = EscalationAcknowledged.__name__
#: How often the router catches up with the signing keys: a revocation applies, and a new key is
#: known, within this many seconds (``keys rotate`` waits ROUTERS_LEARN before switching).
KEYS_EVERY = 0.2


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
        self.app = make_app(settings.topic_prefix + APP_ID, settings, cat.partitions("case_log"))
        self.app.timer(KEYS_EVERY)(self._follow_keys)
        self.publisher = AckedPublisher(runtime.settings, APP_ID, "router")
        self.app.on_before_shutdown.connect(self._stop_publisher)
        ingress = self.app.topic(*cat.ingress_topics(), key_serializer="raw", value_serializer="raw")
        self.app.agent(ingress, name="route", concurrency=1)(self._route)
        self.app.on_partitions_assigned.connect(self._on_assigned)

    async def _stop_publisher(self, *args: object, **kwargs: object) -> None:
        await self.publisher.stop()
        await self.escalations.stop()
        await self.key_records.stop()

    async def _on_assigned(self, *args: object, **kwargs: object) -> None:
        self.stale = True  # another instance may have appended to cases we now own

    async def reload(self) -> None:
        """Rebuild per-case state from the case log, read to its true end, and learn which
        submissions were already answered (their receipts are on the agencies' receipts topics)."""
        self.handler.reset()
        servers = self.runtime.settings
        count = 0
        chains = ChainFollower()
        async for record in read_to_end(servers, [self.case_log], progress="rebuilding router state"):
            headers = dict(record.headers or ())
            event = self.quarantine.decode(record, Event, chains)   # a poison record is set aside, not fatal
            if isinstance(event, Event):
                self.handler.fold(event, source=parse_source(headers.get(SOURCE_HEADER)))
            count += 1
        ingress = self.runtime.catalogue.ingress_topics()
        accepted: dict[str, int] = {}   # case → the highest sequence a receipt says was appended
        async for record in read_to_end(servers, sorted(set(self.receipts.values()))):
            receipt = self.quarantine.decode(record, Receipt)
            if isinstance(receipt, Receipt) and receipt.source_topic in ingress:
                self.handler.answered.add((receipt.source_topic, receipt.source_partition, receipt.source_offset))
                if receipt.status is ReceiptStatus.ACCEPTED and receipt.case_id and receipt.sequence:
                    accepted[receipt.case_id] = max(accepted.get(receipt.case_id, 0), receipt.sequence)
        self._check_log_holds(accepted)
        await self.publisher.publish([Outgoing(*held) for held in self.quarantine.take()])
        await self.escalations.stop()  # from the beginning again, for the cases now held
        escalations = await self._catch_up_escalations()
        self.stale = False
        self.publisher.health.set(OK)   # rebuilt, and the log holds what the receipts promise
        log.info("router.state_rebuilt", escalations=escalations, events=count, cases=len(self.handler.cases),
                 answered=len(self.handler.answered))

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


def create_app(runtime: Runtime) -> faust.App:
    return RouterService(runtime).app
