"""Read topics from the beginning to their true end.

"The end" is the high watermark carried in Fetch responses, never ``end_offsets()``: on the
embedded broker ListOffsets(latest) under-reports (docs/brokers.md), and on Kafka the
Fetch high watermark is the same number, so this is correct on both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import nullcontext
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from kafka.partitioner.default import murmur2

from referral_bus.infra.progress import ReplayProgress
from referral_bus.infra.settings import Settings

#: How old a client's view of partition leaders may get (Kafka's default: 5 minutes). aiokafka's
#: consumer, when resetting the offsets of a partition with nothing committed yet, does not refresh
#: its metadata on NotLeaderForPartition: after a broker failover it asked the old leader again and
#: again, and never fetched those partitions (seen on CI: the router silent on an agency's ingress
#: after a broker was frozen). A refresh every 10 s bounds that to 10 s; it costs one small request.
METADATA_MAX_AGE_MS = 10_000
#: Records handed to the caller between two chances for the event loop to run something else.
YIELD_EVERY = 100


def partition_for_key(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2, as in Java, kafka-python and aiokafka)."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def connection(source: str | Settings) -> dict[str, Any]:
    """aiokafka's connection settings: the settings' servers and credentials, or (an unsecured
    broker) the bootstrap servers alone; metadata refreshed often (METADATA_MAX_AGE_MS)."""
    fresh = {"metadata_max_age_ms": METADATA_MAX_AGE_MS}
    if isinstance(source, str):
        return {"bootstrap_servers": source, **fresh}
    return {"bootstrap_servers": source.bootstrap_servers, **source.kafka_security.aiokafka(), **fresh}


async def started(consumer: AIOKafkaConsumer) -> AIOKafkaConsumer:
    """``consumer`` started — or stopped again when it could not start (no broker answered), so
    the caller's error is the only thing said, not also an "unclosed consumer" warning."""
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()
        raise
    return consumer


async def read_to_end(source: str | Settings, topics: Iterable[str], *,
                      partitions: dict[str, list[int]] | None = None, timeout: float = 60.0,
                      progress: str | None = None) -> AsyncIterator[ConsumerRecord[Any, Any]]:
    """Yield every record of ``topics`` (or the given partitions) in per-partition order, then stop.
    ``source`` is the settings (servers and credentials) or, on an unsecured broker, the bootstrap
    servers alone. ``progress`` names the replay for a progress bar (terminal) or progress log lines."""
    consumer = AIOKafkaConsumer(**connection(source), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_bytes=16 * 1024 * 1024,
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await started(consumer)
    try:
        tps: list[TopicPartition] = []
        for topic in topics:
            wanted = (partitions or {}).get(topic)
            found = consumer.partitions_for_topic(topic)
            if found is None:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - topic may be brand new
                found = consumer.partitions_for_topic(topic) or set()
            tps += [TopicPartition(topic, p) for p in sorted(found) if wanted is None or p in wanted]
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        remaining = set(tps)
        deadline = time.monotonic() + timeout
        done = 0
        with ReplayProgress(progress) if progress else nullcontext() as bar:
            while remaining:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"did not reach the end of {sorted(map(str, remaining))} within {timeout}s")
                batches = await consumer.getmany(*remaining, timeout_ms=200, max_records=1000)
                for records in batches.values():
                    done += len(records)
                    deadline = time.monotonic() + timeout  # the timeout is for a stall, not for a long log
                    for n, record in enumerate(records, start=1):
                        yield record
                        if n % YIELD_EVERY == 0:
                            # the caller folds synchronously; the consumer group's rebalance callbacks
                            # run on this loop and time out if it stays busy (a stream processor
                            # rebuilding its state was dropped from its group, again and again)
                            await asyncio.sleep(0)
                    await asyncio.sleep(0)
                for tp in list(remaining):
                    highwater = consumer.highwater(tp)
                    if highwater is not None and await consumer.position(tp) >= highwater:
                        remaining.discard(tp)
                if bar is not None:
                    bar.update(done, sum(consumer.highwater(tp) or 0 for tp in tps))
    finally:
        await consumer.stop()


class TopicFollower:
    """Every record of ``topics`` from the beginning, then — on each ``catch_up()`` — only what was
    appended since, up to the end at that moment. For a service that must have seen another
    service's records before it decides (the router and the SLA processor's escalations)."""

    def __init__(self, source: str | Settings, topics: Iterable[str]) -> None:
        self.source, self.topics = source, list(topics)
        self._consumer: AIOKafkaConsumer | None = None
        self._tps: list[TopicPartition] = []

    async def catch_up(self, timeout: float = 30.0) -> list[ConsumerRecord[Any, Any]]:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(**connection(self.source), group_id=None, enable_auto_commit=False,
                                        auto_offset_reset="earliest")
            await started(consumer)
            await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh client knows no topics yet
            self._tps = [TopicPartition(t, p) for t in self.topics for p in sorted(consumer.partitions_for_topic(t)
                                                                                   or ())]
            if len(self._tps) < len(self.topics):
                await consumer.stop()
                raise TimeoutError(f"no partitions found for {self.topics} (created? readable by this principal?)")
            consumer.assign(self._tps)
            await consumer.seek_to_beginning(*self._tps)
            self._consumer = consumer
        consumer = self._consumer
        ends = await consumer.end_offsets(self._tps)   # exact on Apache Kafka (docs/brokers.md)
        out: list[ConsumerRecord[Any, Any]] = []
        deadline = time.monotonic() + timeout
        behind = [tp for tp in self._tps if await consumer.position(tp) < ends[tp]]
        while behind:
            if time.monotonic() > deadline:
                raise TimeoutError(f"did not catch up with {sorted(map(str, behind))} within {timeout}s")
            batches = await consumer.getmany(*behind, timeout_ms=200, max_records=1000)
            for records in batches.values():
                out += records
            behind = [tp for tp in behind if await consumer.position(tp) < ends[tp]]
        return out

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


def read_to_end_sync(source: str | Settings, topics: Iterable[str], **kwargs: Any) -> list[ConsumerRecord[Any, Any]]:
    """Blocking convenience for command-line tools."""
    async def collect() -> list[ConsumerRecord[Any, Any]]:
        return [r async for r in read_to_end(source, list(topics), **kwargs)]
    return asyncio.run(collect())
