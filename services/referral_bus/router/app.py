"""The router as a Faust app: a thin shell that feeds ingress records to ``RouterCore`` and writes
its outcome — first the case log (acknowledged), then receipts, inboxes and dead letters.

concurrency=1 on purpose: faust-streaming issue 606 (offset committed past an in-flight message).
Submissions are taken in batches (``take_events`` acks them only after the batch is written), so a
batch costs two broker round trips instead of two per event.
"""

from __future__ import annotations

import json

from datetime import timedelta

import faust
import structlog

from ..core import metrics
from ..core.kafka.faust_app import Outgoing, make_app, publish_acked, to_headers
from ..core.kafka.log_reader import read_to_end
from ..core.runtime import Runtime
from .core import Outcome, RouterCore, Submission

log = structlog.get_logger(__name__)
APP_ID = "referral-bus-router"
#: Submissions taken from the stream at a time, and how long to wait to fill a batch.
BATCH_MAX = 500
BATCH_WITHIN_SECONDS = 0.02


class RouterService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        cat = runtime.catalogue
        settings = runtime.settings
        self.case_log = cat.name("case_log")
        self.receipts = cat.name("receipts")
        self.dead_letter = cat.name("dead_letter")
        self.core = RouterCore(runtime.codec, runtime.directory, cat.ingress_topics(),
                               max_event_bytes=settings.max_event_bytes,
                               max_clock_skew=timedelta(seconds=settings.max_clock_skew_seconds))
        self.stale = True
        self.app = make_app(settings.topic_prefix + APP_ID, settings, cat.partitions("case_log"))
        ingress = self.app.topic(*cat.ingress_topics(), key_serializer="raw", value_serializer="raw")
        self.app.agent(ingress, name="route", concurrency=1)(self._route)
        self.app.on_partitions_assigned.connect(self._on_assigned)

    async def _on_assigned(self, *args: object, **kwargs: object) -> None:
        self.stale = True  # another instance may have appended to cases we now own

    async def reload(self) -> None:
        """Rebuild per-case state from the case log, read to its true end."""
        self.core.reset()
        count = 0
        async for record in read_to_end(self.runtime.settings.bootstrap_servers, [self.case_log],
                                        progress="rebuilding router state"):
            self.core.fold(self.runtime.codec.decode(record.value))  # type: ignore[arg-type]
            count += 1
        self.stale = False
        log.info("router.state_rebuilt", events=count, cases=len(self.core.cases))

    async def _route(self, stream: faust.StreamT) -> None:
        # take_events acks a batch only after this loop body has finished with it (faust streams.py)
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_SECONDS):
            if self.stale:
                await self.reload()
            for outcomes in self.core.handle_batch([
                    Submission(e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value)
                    for e in events]):
                await self.publish(outcomes)

    async def publish(self, outcomes: list[Outcome]) -> None:
        """The case log first (acknowledged), then receipts, inboxes and dead letters."""
        codec = self.runtime.codec
        appends = [Outgoing(self.case_log, o.appended.envelope.case_id.encode(), codec.encode(o.appended),
                            timestamp=o.appended.envelope.recorded_at.timestamp()
                            if o.appended.envelope.recorded_at else None)
                   for o in outcomes if o.appended is not None]
        await publish_acked(self.app, appends)
        later: list[Outgoing] = []
        for outcome in outcomes:
            receipt = outcome.receipt
            metrics.RECEIPTS.labels(receipt.status.value, receipt.reason_code or "").inc()
            later.append(Outgoing(self.receipts, str(receipt.event_id or receipt.receipt_id).encode(),
                                  codec.encode(receipt)))
            for delivery, event in outcome.deliveries:
                env = event.envelope
                later.append(Outgoing(
                    self.runtime.catalogue.inbox(delivery.recipient_id), env.case_id.encode(), codec.encode(event),
                    headers=to_headers({"rb-delivery-id": delivery.delivery_id(env.event_id),
                                        "rb-paragraph": delivery.paragraph, "rb-purpose": delivery.purpose,
                                        "rb-redacted": str(delivery.redacted).lower(),
                                        **({"rb-advice": json.dumps(delivery.advice, ensure_ascii=False)}
                                           if delivery.advice else {})})))
            if outcome.dead_letter is not None:
                dead = outcome.dead_letter
                later.append(Outgoing(self.dead_letter, f"{dead.source_topic}:{dead.source_partition}".encode(),
                                      codec.encode(dead)))
        await publish_acked(self.app, later)


def create_app(runtime: Runtime) -> faust.App:
    return RouterService(runtime).app
