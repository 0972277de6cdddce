"""The projector's consumer loop: manual assignment (no consumer group — the offsets live in the
database), batches applied in one transaction each; ``rebuild`` drops the tables and replays the
log to its true end (the Fetch high watermark)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime

import structlog
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import InterfaceError, OperationalError

from referral_bus.contracts.base import Event
from referral_bus.contracts.sla_records import SLA_RECORD_TYPES, EscalationRaised
from referral_bus.domain.chain import ChainFollower
from referral_bus.infra import metrics
from referral_bus.infra.health import DEGRADED, OK, STOPPED, Health
from referral_bus.infra.progress import ReplayProgress
from referral_bus.infra.quarantine import Quarantine
from referral_bus.infra.runtime import Runtime
from referral_bus.projections.divergence import RECOVERY, Divergence, digest, find_divergence
from referral_bus.projections.projector import Item, Projector
from referral_bus.projections.tables import Base, add_missing_columns

log = structlog.get_logger(__name__)


def make_engine(runtime: Runtime) -> Engine:
    url = runtime.settings.read_model_url
    if url.startswith("sqlite:///"):
        runtime.settings.data_dir.mkdir(parents=True, exist_ok=True)
    return create_engine(url, pool_pre_ping=True)


def make_projector(runtime: Runtime, engine: Engine) -> Projector:
    cat = runtime.catalogue
    inboxes = {cat.inbox(agency_id): agency_id for agency_id in runtime.directory.agencies}
    return Projector(engine, cat.name("case_log"), cat.name("sla"), cat.name("escalations"), inboxes,
                     runtime.directory)


def prime(runtime: Runtime, projector: Projector, stored: dict[tuple[str, int], int],
          quarantine: Quarantine, chains: ChainFollower) -> None:
    """Fold the case-log events projected before this start (below the stored offsets) into the
    projector's case states and ``chains``, so new events are folded onto whole cases."""
    case_log = runtime.catalogue.name("case_log")
    upto = {tp: offset for tp, offset in stored.items() if tp[0] == case_log and offset > 0}
    if not upto:
        return
    consumer = KafkaConsumer(**runtime.settings.kafka_python(), group_id=None,
                             enable_auto_commit=False, fetch_max_bytes=16 * 1024 * 1024)
    tps = [TopicPartition(topic, partition) for topic, partition in upto]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    remaining = set(tps)
    primed = 0
    try:
        with ReplayProgress("rebuilding the projector's case states") as progress:
            while remaining:
                for tp, records in consumer.poll(timeout_ms=500).items():
                    for r in records:
                        if tp in remaining and r.offset < upto[(tp.topic, tp.partition)]:
                            event = quarantine.decode(r, Event, chains)
                            if isinstance(event, Event):
                                projector.prime(event)
                                primed += 1
                    if consumer.position(tp) >= upto[(tp.topic, tp.partition)]:
                        remaining.discard(tp)
                        consumer.pause(tp)
                progress.update(primed, sum(upto.values()))
    finally:
        consumer.close()
    quarantine.take()   # set aside (and written) when first met; not written again
    log.info("projector.primed", events=primed, cases=len(projector.states))


#: What each topic the projector follows may carry; anything else is set aside (infra/quarantine.py).
CARRIES: dict[str, tuple[type, ...]] = {
    "case_log": (Event,), "sla": tuple(SLA_RECORD_TYPES.values()), "escalations": (EscalationRaised,),
    "inbox": (Event, *SLA_RECORD_TYPES.values()),
}

#: What a store that does not answer raises (connection refused or lost, SQLite locked): retried.
#: Anything else (a constraint violated, a bug) is not: the process exits and its supervisor decides.
STORE_AWAY = (OperationalError, InterfaceError)
RETRY_START, RETRY_CEILING = 0.5, 30.0


class LogDiverged(Exception):
    """The read models remember records the log does not hold (projections/divergence.py)."""

    def __init__(self, findings: list[Divergence]) -> None:
        super().__init__("; ".join(map(str, findings)))
        self.findings = findings


def project(runtime: Runtime, engine: Engine, *, until_end: bool, batch: int = 2000,
            stop: Callable[[], bool] | None = None) -> int:
    """Follow the log into the read models; with ``until_end`` return once caught up.

    A store that goes away (PostgreSQL stopped, SQLite locked) is waited for with a back-off from
    0.5 s to 30 s: the uncommitted batch is lost with the connection, and the projector starts over
    from what the store committed, exactly as a restart would — health says ``degraded`` meanwhile.
    A log that diverged from the read models raises LogDiverged (the caller stops)."""
    health = Health(runtime.settings.data_dir, "projector")
    delay, applied = RETRY_START, 0
    while True:
        attempt_started = time.monotonic()
        try:
            applied += _project(runtime, engine, until_end=until_end, batch=batch, stop=stop, health=health)
            return applied
        except STORE_AWAY as exc:
            reason = type(getattr(exc, "orig", None) or exc).__name__
            if time.monotonic() - attempt_started > RETRY_CEILING * 2:
                delay = RETRY_START   # a new outage after a good run: start the back-off afresh
            log.warning("projector.store_unavailable", error=reason, retry_in_seconds=delay)
            metrics.STORE_AVAILABLE.labels("projector").set(0)
            metrics.STORE_RETRIES.labels("projector").inc()
            health.set(DEGRADED, f"read-model store not answering ({reason}); retrying")
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and not (stop is not None and stop()):
                time.sleep(0.1)
            if stop is not None and stop():
                return applied
            delay = min(delay * 2, RETRY_CEILING)
        except LogDiverged as exc:
            health.set(STOPPED, f"{len(exc.findings)} partition(s) diverged from the log; {RECOVERY}")
            raise


def _project(runtime: Runtime, engine: Engine, *, until_end: bool, batch: int, stop: Callable[[], bool] | None,
             health: Health) -> int:
    Base.metadata.create_all(engine)
    for column in add_missing_columns(engine):   # a database made before the column (issue 15: cases.home_city)
        log.info("projector.column_added", column=column)
    projector = make_projector(runtime, engine)
    stored = projector.offsets()
    findings = find_divergence(runtime, engine)
    if findings:
        for finding in findings:
            log.error("projector.log_diverged", topic=finding.topic, partition=finding.partition,
                      detail=finding.detail)
        raise LogDiverged(findings)
    metrics.STORE_AVAILABLE.labels("projector").set(1)
    health.set(OK)
    cat = runtime.catalogue
    topics = {cat.name("case_log"): "case_log", cat.name("sla"): "sla", cat.name("escalations"): "escalations",
              **{topic: "inbox" for topic in projector.inbox_agency}}
    tps = [TopicPartition(topic, p) for topic, topic_id in topics.items() for p in range(cat.partitions(topic_id))]
    quarantine = Quarantine(runtime, "projections")
    chains = ChainFollower()
    prime(runtime, projector, stored, quarantine, chains)
    case_log = cat.name("case_log")
    consumer = KafkaConsumer(**runtime.settings.kafka_python(), group_id=None,
                             enable_auto_commit=False, max_poll_records=batch, fetch_max_bytes=16 * 1024 * 1024)
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, stored.get((tp.topic, tp.partition), 0))
    applied = 0
    with ReplayProgress("projecting the log") if until_end else nullcontext() as progress:
        try:
            while stop is None or not stop():
                polled = consumer.poll(timeout_ms=500)
                items = [Item(r.topic, r.partition, r.offset, r.key,
                              {k: v.decode() for k, v in (r.headers or [])},
                              datetime.fromtimestamp(r.timestamp / 1000, tz=UTC),
                              quarantine.decode(r, CARRIES[topics[r.topic]],   # poison: set aside, offset kept
                                                chains if r.topic == case_log else None),
                              digest(r.value))
                         for records in polled.values() for r in records]
                projector.apply_batch(items)
                quarantine.write()
                applied += len(items)
                behind = sum(max(0, (consumer.highwater(tp) or 0) - consumer.position(tp)) for tp in tps)
                metrics.PROJECTOR_LAG.set(behind)
                if items:
                    metrics.PROJECTOR_BATCHES.inc()
                    metrics.PROJECTOR_RECORDS.inc(len(items))
                if progress is not None:
                    progress.update(applied, applied + behind)
                if until_end and not items and all(consumer.highwater(tp) is not None
                                                   and consumer.position(tp) >= consumer.highwater(tp) for tp in tps):
                    break
        finally:
            consumer.close()
    return applied


def rebuild(runtime: Runtime, engine: Engine | None = None) -> int:
    """Drop every read model and replay the log into fresh tables."""
    engine = engine or make_engine(runtime)
    Base.metadata.drop_all(engine)
    return project(runtime, engine, until_end=True)
