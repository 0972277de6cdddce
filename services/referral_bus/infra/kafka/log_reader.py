"""Read topics from the beginning to their true end.

"The end" is the high watermark carried in Fetch responses, never ``end_offsets()``: on the
embedded broker ListOffsets(latest) under-reports (docs/brokers.md), and on Kafka the
Fetch high watermark is the same number, so this is correct on both.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import nullcontext
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from kafka.partitioner.default import murmur2

from referral_bus.infra.progress import ReplayProgress
from referral_bus.infra.settings import Settings

log = structlog.get_logger(__name__)
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
                      progress: str | None = None, start: dict[tuple[str, int], int] | None = None,
                      since: float | None = None) -> AsyncIterator[ConsumerRecord[Any, Any]]:
    """Yield every record of ``topics`` (or the given partitions) in per-partition order, then stop.
    ``source`` is the settings (servers and credentials) or, on an unsecured broker, the bootstrap
    servers alone. ``progress`` names the replay for a progress bar (terminal) or progress log lines.
    ``start`` ((topic, partition) → offset) resumes those partitions at a snapshot's positions;
    ``since`` (epoch seconds) begins every partition at its first record written at or after then."""
    consumer = AIOKafkaConsumer(**connection(source), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_bytes=16 * 1024 * 1024,
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await started(consumer)
    try:
        tps: list[TopicPartition] = []
        for topic in topics:
            wanted = (partitions or {}).get(topic)
            tps += [TopicPartition(topic, p) for p in await _partitions(consumer, topic)
                    if wanted is None or p in wanted]
        if not tps:
            return
        consumer.assign(tps)
        await _seek(consumer, tps, start or {}, since)
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


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    """The partitions of ``topic``, in order; metadata fetched again once if it is not known yet."""
    found = consumer.partitions_for_topic(topic)
    if found is None:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - topic may be brand new
        found = consumer.partitions_for_topic(topic) or set()
    return sorted(found)


async def _seek(consumer: AIOKafkaConsumer, tps: list[TopicPartition], start: dict[tuple[str, int], int],
                since: float | None) -> None:
    """Place each partition at its ``start`` offset, else at its first record since ``since``, else
    at its beginning (a start below the partition's first offset is its first offset)."""
    await consumer.seek_to_beginning(*tps)
    if since is not None:
        found = await consumer.offsets_for_times({tp: int(since * 1000) for tp in tps})
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            at = found.get(tp)
            consumer.seek(tp, at.offset if at is not None else ends[tp])
    firsts = await consumer.beginning_offsets([tp for tp in tps if (tp.topic, tp.partition) in start])
    for tp, first in firsts.items():
        consumer.seek(tp, max(first, start[(tp.topic, tp.partition)]))


class TopicFollower:
    """Every record of ``topics`` from the beginning, then — on each ``catch_up()`` — only what was
    appended since, up to the end at that moment. For a service that must have seen another
    service's records before it decides (the router and the SLA processor's escalations)."""

    def __init__(self, source: str | Settings, topics: Iterable[str]) -> None:
        self.source, self.topics = source, list(topics)
        self._consumer: AIOKafkaConsumer | None = None
        self._tps: list[TopicPartition] = []
        #: where the next fresh consumer begins: (topic, partition) → offset (a snapshot's positions);
        #: partitions not named begin at their first record
        self.start: dict[tuple[str, int], int] = {}

    async def positions(self) -> dict[tuple[str, int], int]:
        """The next offset ``catch_up`` reads from, per partition (for a snapshot)."""
        if self._consumer is None:
            return dict(self.start)
        return {(tp.topic, tp.partition): await self._consumer.position(tp) for tp in self._tps}

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
            await _seek(consumer, self._tps, self.start, None)
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


async def values_at(source: str | Settings, offsets: dict[tuple[str, int], int],
                    timeout: float = 30.0) -> dict[tuple[str, int], bytes | None]:
    """The value of the record at each (topic, partition) → offset; ``None`` where the partition
    no longer holds that offset (deleted, truncated, or not yet written). For a snapshot's check
    that the log still holds the records it was folded from."""
    wanted = {TopicPartition(t, p): offset for (t, p), offset in offsets.items() if offset >= 0}
    out: dict[tuple[str, int], bytes | None] = {key: None for key in offsets}
    if not wanted:
        return out
    consumer = AIOKafkaConsumer(**connection(source), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="none")
    await started(consumer)
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh client knows no topics yet
        known = {tp for tp in wanted if tp.partition in (consumer.partitions_for_topic(tp.topic) or ())}
        if not known:
            return out
        consumer.assign(list(known))
        firsts = await consumer.beginning_offsets(list(known))
        ends = await consumer.end_offsets(list(known))
        pending = {tp for tp in known if firsts[tp] <= wanted[tp] < ends[tp]}
        for tp in pending:
            consumer.seek(tp, wanted[tp])
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"did not read {sorted(map(str, pending))} within {timeout}s")
            batches = await consumer.getmany(*pending, timeout_ms=200, max_records=1)
            for tp, records in batches.items():
                for record in records:
                    if record.offset == wanted[tp]:
                        out[(tp.topic, tp.partition)] = record.value
                    pending.discard(tp)   # a compacted or aborted offset: the next record is past it
        return out
    finally:
        await consumer.stop()


async def end_offsets(source: str | Settings, topic: str) -> dict[int, int]:
    """Each partition of ``topic`` → the offset its next record will get (its end, now)."""
    consumer = await started(AIOKafkaConsumer(**connection(source), group_id=None, enable_auto_commit=False))
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in await _partitions(consumer, topic)])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def log_holds(source: str | Settings, topic: str, last: dict[int, int], digests: dict[int, str],
                    service: str) -> bool:
    """Whether ``topic`` still holds, at each partition's ``last`` folded offset, the record whose
    SHA-256 is in ``digests`` — a snapshot's check that the log is the one it was folded from (not
    so after a restore from an archive, or a topic made anew). Logged with the partitions when not."""
    found = await values_at(source, {(topic, p): offset for p, offset in last.items()})
    changed = sorted(p for (_, p), value in found.items()
                     if value is None or hashlib.sha256(value).hexdigest() != digests.get(p))
    if changed:
        log.warning("snapshot.not_used", service=service, then="a full rebuild from the log",
                    reason=f"the case log no longer holds the records it was folded from (partitions {changed})")
    return not changed
