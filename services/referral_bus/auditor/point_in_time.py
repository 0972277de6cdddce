"""A case as of time T, and what an agency had been told about it by T — from the log (the
evidence) and from the read models (fast); the two must agree.

``referral-bus told`` answers from the read models by default (``told_current``): the deliveries
the projector recorded, plus the agency's inbox partition read from the projector's position on
(bounded by its lag), so a delivery not yet projected is not left out. ``--source log`` scans the
inbox partition from its start (``told_from_log``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka.structs import ConsumerRecord
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from referral_bus.auditor.history import read_after, rebuild_case_sync
from referral_bus.contracts.base import Event
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.kafka.log_reader import partition_for_key, read_to_end
from referral_bus.infra.runtime import Runtime
from referral_bus.projections.case_index import IndexUnavailable
from referral_bus.projections.tables import ConsumerOffset, DeliveryRow, TimelineRow

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


def _told(runtime: Runtime, records: Iterable[ConsumerRecord[Any, Any]], key: bytes, as_of: datetime) -> list[Told]:
    """The deliveries among an inbox partition's records, as the agency was told them."""
    out = []
    for r in records:
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
    return out


def _first_of_each(told: Iterable[Told]) -> list[Told]:
    unique = {t.delivery_id: t for t in sorted(told, reverse=True)}  # a re-sent delivery counts once, first time
    return sorted(unique.values())


def told_from_log(runtime: Runtime, agency_id: str, case_id: str, as_of: datetime) -> list[Told]:
    """The full scan of the agency's inbox partition for the case: the evidence."""
    topic = runtime.catalogue.inbox(agency_id)
    key = case_id.encode()
    part = partition_for_key(key, runtime.catalogue.partitions("inbox"))

    async def collect() -> list[Told]:
        return _told(runtime, [r async for r in read_to_end(runtime.settings, [topic], partitions={topic: [part]})],
                     key, as_of)

    return _first_of_each(asyncio.run(collect()))


def told_current(runtime: Runtime, engine: Engine, agency_id: str, case_id: str,
                 as_of: datetime) -> tuple[list[Told], str]:
    """The read models' deliveries and the inbox partition after the projector's position, with a
    note saying so; IndexUnavailable when the read models cannot answer (the caller reads the log)."""
    topic = runtime.catalogue.inbox(agency_id)
    key = case_id.encode()
    part = partition_for_key(key, runtime.catalogue.partitions("inbox"))
    try:
        if not {DeliveryRow.__tablename__, ConsumerOffset.__tablename__} <= set(inspect(engine).get_table_names()):
            raise IndexUnavailable("the read-model database has no deliveries table (no projector has run)")
        with Session(engine) as session:
            stored = session.get(ConsumerOffset, (topic, part))
            position = stored.next_offset if stored is not None else 0
        projected = told_from_read_models(engine, agency_id, case_id, as_of)
    except SQLAlchemyError as exc:
        reason = type(getattr(exc, "orig", None) or exc).__name__
        raise IndexUnavailable(f"the read-model database did not answer ({reason})") from exc
    tail = _told(runtime, asyncio.run(read_after(runtime, topic, part, position)), key, as_of)
    return (_first_of_each([*projected, *tail]),
            f"from the read models, with {topic}[{part}] read from the projector's position {position}: "
            f"{len(tail)} delivery(ies) of the case there")


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
