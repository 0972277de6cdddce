"""``referral-bus tail escalations``: follow the escalation topic as one line per escalation."""

from __future__ import annotations

import json
from collections.abc import Iterator

import structlog
from kafka import KafkaConsumer, TopicPartition

from referral_bus.contracts.base import Record
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.local_time import localized
from referral_bus.infra.runtime import Runtime

log = structlog.get_logger(__name__)


def follow(runtime: Runtime, topic_id: str = "escalations", from_beginning: bool = False,
           idle_timeout: float | None = None) -> Iterator[Record]:
    topics = runtime.catalogue.names(topic_id)  # e.g. every agency's receipts topic
    consumer = KafkaConsumer(**runtime.settings.kafka_python(), group_id=None,
                             enable_auto_commit=False,
                             consumer_timeout_ms=int(idle_timeout * 1000) if idle_timeout else -1)
    try:
        tps = [TopicPartition(topic, p) for topic in topics for p in range(runtime.catalogue.partitions(topic_id))]
        consumer.assign(tps)
        if from_beginning:
            consumer.seek_to_beginning(*tps)
        else:
            consumer.seek_to_end(*tps)
        for message in consumer:
            try:
                yield runtime.codec.decode(message.value)
            except DecodeError as exc:   # a poison record: named by its coordinates, never fatal
                log.warning("tail.unreadable_record", topic=message.topic, partition=message.partition,
                            offset=message.offset, reason_code=exc.code)
    finally:
        consumer.close()


def format_line(record: Record) -> str:
    """One JSON line per record, its times in Almaty time with the offset (infra/local_time.py)."""
    return json.dumps(localized({"type": type(record).__name__, **record.model_dump(mode="json")}),
                      ensure_ascii=False)
