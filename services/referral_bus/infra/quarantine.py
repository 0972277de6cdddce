"""Poison records never stop a consumer: what a service cannot use is set aside — logged with its
coordinates and reason (never its bytes), counted (``referral_bus_quarantined``), and written to
``rb.quarantine`` — and processing goes on (docs/reliability.md).

On a secured bus only the router writes the case log, but the consumers do not depend on that: a
broker administrator's mistake, a bug in a future router or a disk fault must not take the bus
down with it. ``verify`` lists undecodable case-log records too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

import structlog

from referral_bus.contracts.base import Event, Record
from referral_bus.contracts.bus_records import Quarantined
from referral_bus.domain.chain import ChainFollower
from referral_bus.infra import metrics
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.runtime import Runtime

log = structlog.get_logger(__name__)
_NAMESPACE = UUID("6b1f3c1e-2f57-4a43-9d57-3f1e8e0c5a11")


class Quarantine:
    """One consumer's quarantine: ``decode`` a record or set it aside; ``take`` what to write."""

    def __init__(self, runtime: Runtime, consumer: str) -> None:
        self.runtime, self.consumer = runtime, consumer
        self._held: list[Quarantined] = []

    def decode(self, record: Any, expected: type | tuple[type, ...] | None = None,
               chains: ChainFollower | None = None) -> Record | None:
        """The record's value decoded, or ``None`` when it is set aside: it does not decode, is
        not of the ``expected`` type(s) the topic carries, or (given the case log's ``chains``) is an
        event that does not extend its case's hash chain. ``record`` has topic, partition, offset
        and value (a Kafka consumer record of aiokafka or kafka-python)."""
        try:
            decoded = self.runtime.codec.decode(record.value or b"")
        except DecodeError as exc:
            self.hold(record, exc.code, exc.message)
            return None
        if expected is not None and not isinstance(decoded, expected):
            names = expected.__name__ if isinstance(expected, type) else "/".join(t.__name__ for t in expected)
            self.hold(record, "UNEXPECTED_RECORD", f"{type(decoded).__name__} where {names} belongs")
            return None
        if chains is not None and isinstance(decoded, Event) and (refused := chains.refuse(decoded)) is not None:
            self.hold(record, *refused)
            return None
        return decoded

    def hold(self, record: Any, code: str, reason: str) -> None:
        where = f"{self.consumer}|{record.topic}|{record.partition}|{record.offset}"
        log.error("record.quarantined", consumer=self.consumer, topic=record.topic, partition=record.partition,
                  offset=record.offset, reason_code=code)
        metrics.QUARANTINED.labels(self.consumer, record.topic).inc()
        self._held.append(Quarantined(quarantine_id=uuid5(_NAMESPACE, where), consumer=self.consumer,
                                      source_topic=record.topic, source_partition=record.partition,
                                      source_offset=record.offset, reason_code=code, reason=reason,
                                      recorded_at=datetime.now(UTC)))

    def take(self) -> list[tuple[str, bytes, bytes]]:
        """(topic, key, value) of each record set aside since the last call, to be written."""
        held, self._held = self._held, []
        topic = self.runtime.catalogue.name("quarantine")
        return [(topic, f"{q.source_topic}:{q.source_partition}:{q.source_offset}".encode(),
                 self.runtime.codec.encode(q)) for q in held]

    def write(self) -> None:
        """Write what was set aside now, blocking (the projector; the stream processors publish
        ``take()`` with their own producer)."""
        pending = self.take()
        if not pending:
            return
        from kafka import KafkaProducer
        producer = KafkaProducer(**self.runtime.settings.kafka_python(), acks="all")
        try:
            for topic, key, value in pending:
                producer.send(topic, key=key, value=value).get(timeout=30)
        finally:
            producer.close()


def decoded_or_none(runtime: Runtime, record: Any, tool: str) -> Record | None:
    """For read-only tools (reports, auditors): the record decoded, or ``None`` for a poison record,
    named by its coordinates in a warning (the services quarantine it; ``verify`` lists it)."""
    try:
        return runtime.codec.decode(record.value or b"")
    except DecodeError as exc:
        log.warning("record.unreadable", tool=tool, topic=record.topic, partition=record.partition,
                    offset=record.offset, reason_code=exc.code)
        return None
