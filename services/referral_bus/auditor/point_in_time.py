"""A case as of time T, and what an agency had been told about it by T — from the log (the
evidence) and from the read models (fast); the two must agree."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from referral_bus.auditor.history import rebuild_case_sync
from referral_bus.contracts.base import Event
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.kafka.log_reader import partition_for_key, read_to_end
from referral_bus.infra.runtime import Runtime
from referral_bus.projections.tables import DeliveryRow, TimelineRow

log = structlog.get_logger(__name__)


@dataclass(frozen=True, order=True)
class Told:
    delivered_at: datetime
    delivery_id: str
    record_type: str
    event_id: str | None
    paragraph: str | None
    purpose: str | None


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite drops the zone


def told_from_log(runtime: Runtime, agency_id: str, case_id: str, as_of: datetime) -> list[Told]:
    topic = runtime.catalogue.inbox(agency_id)
    key = case_id.encode()
    part = partition_for_key(key, runtime.catalogue.partitions("inbox"))

    async def collect() -> list[Told]:
        out = []
        async for r in read_to_end(runtime.settings, [topic], partitions={topic: [part]}):
            at = datetime.fromtimestamp(r.timestamp / 1000, tz=UTC)
            headers = {k: v.decode() for k, v in (r.headers or [])}
            if r.key != key or at > as_of or headers.get("rb-delivery-id") is None:
                continue
            try:
                record = runtime.codec.decode(r.value)
            except DecodeError:   # a poison record in the inbox: it told the agency nothing it could read
                log.warning("told.unreadable_delivery", topic=r.topic, partition=r.partition, offset=r.offset)
                continue
            out.append(Told(at, headers["rb-delivery-id"], type(record).__name__,
                            str(record.envelope.event_id) if isinstance(record, Event) else None,
                            headers.get("rb-paragraph"), headers.get("rb-purpose")))
        unique = {t.delivery_id: t for t in sorted(out, reverse=True)}  # a re-sent delivery counts once, first time
        return sorted(unique.values())

    return asyncio.run(collect())


def told_from_read_models(engine: Engine, agency_id: str, case_id: str, as_of: datetime) -> list[Told]:
    with Session(engine) as session:
        rows = session.scalars(select(DeliveryRow).where(
            DeliveryRow.agency_id == agency_id, DeliveryRow.case_id == case_id, DeliveryRow.delivered_at <= as_of))
        return sorted(Told(_utc(r.delivered_at), r.delivery_id, r.record_type, r.event_id, r.paragraph, r.purpose)
                      for r in rows)


def case_from_log(runtime: Runtime, case_id: str, as_of: datetime) -> list[tuple[int, str, str]]:
    return [(e.envelope.sequence or 0, e.event_type(), str(e.envelope.event_id))
            for e in rebuild_case_sync(runtime, case_id, as_of).events]


def case_from_read_models(engine: Engine, case_id: str, as_of: datetime) -> list[tuple[int, str, str]]:
    with Session(engine) as session:
        rows = session.scalars(select(TimelineRow).where(TimelineRow.case_id == case_id,
                                                         TimelineRow.recorded_at <= as_of)
                               .order_by(TimelineRow.sequence))
        return [(r.sequence, r.event_type, r.event_id) for r in rows]
