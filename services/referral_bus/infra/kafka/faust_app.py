"""What every Faust service shares: app settings that hold on Kafka and on the embedded broker,
acknowledged publishing, and the worker entry point."""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NoReturn, TypeVar

import faust
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner

from referral_bus.infra.health import DEGRADED, OK, Health
from referral_bus.infra.kafka.log_reader import METADATA_MAX_AGE_MS, partition_for_key
from referral_bus.infra.settings import Settings

log = structlog.get_logger(__name__)

#: Exit status when a write to the broker failed: in-memory state may be ahead of the log, so
#: the process stops and its supervisor restarts it, rebuilding state from the log.
EXIT_PUBLISH_FAILED = 70


#: Seconds between moving what survived into the collector's permanent generation (``_freezer``).
FREEZE_EVERY = 10.0
#: Every so many turns (an hour), a full collection of the frozen objects too.
FULL_COLLECTION_TURNS = 360


def make_app(app_id: str, settings: Settings, partitions: int) -> faust.App:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    brokers = ";".join(f"kafka://{server}" for server in settings.bootstrap_servers.split(","))
    app = faust.App(
        app_id,
        broker=brokers,
        broker_credentials=settings.kafka_security.faust(),
        store="memory://",                    # state is rebuilt from the case log, not from Faust tables
        topic_partitions=partitions,
        topic_allow_declare=False,            # topics come from topics.yaml only
        consumer_auto_offset_reset="earliest",
        broker_rebalance_timeout=settings.rebalance_timeout_seconds,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=settings.heartbeat_interval_seconds,
        broker_max_poll_interval=max(settings.max_poll_interval_seconds, settings.rebalance_timeout_seconds),
        producer_acks=-1,
        consumer_metadata_max_age_ms=METADATA_MAX_AGE_MS,
        producer_metadata_max_age_ms=METADATA_MAX_AGE_MS,
        web_enabled=False,
        datadir=str(settings.data_dir / app_id),
    )
    app.timer(FREEZE_EVERY, name="gc-freeze")(_freezer())
    return app


def _freezer() -> Callable[[], Coroutine[Any, Any, None]]:
    """A timer that keeps a service's growing state out of the cyclic garbage collector's way.

    Python collects the oldest generation again each time it grew by a quarter, walking all of
    it: as the router's state grows (a few hundred objects per event: case states, recent
    deliveries), those walks took 50–190 ms each, ~7 % of its CPU under load. Every FREEZE_EVERY
    seconds this collects what is garbage and moves the survivors into the permanent generation
    (``gc.freeze``): each object is walked about once, and a full collection only ever walks the
    last few seconds' objects. Reference counting still frees frozen objects; only a reference
    cycle that dies after being frozen waits, for the hourly collection of everything."""
    turns = itertools.count(1)

    async def freeze() -> None:
        if next(turns) % FULL_COLLECTION_TURNS == 0:
            gc.unfreeze()
        gc.collect()
        gc.freeze()
    return freeze


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, bytes] | None = None
    timestamp: float | None = None


#: The producer's default partitioner, for a keyless message (any partition with a leader); a keyed
#: one goes where ``partition_for_key`` (murmur2, as Java's) says, as the producer's ``send`` would.
_PARTITIONER = DefaultPartitioner()
_T = TypeVar("_T")


async def _nothing() -> None:
    return None


def _batches(producer: AIOKafkaProducer, messages: list[Outgoing]) -> Iterator[Any]:
    """One partition's messages as whole record batches, in order, each as large as the producer's
    batch size allows (a larger message alone in one). Handing the producer batches rather than
    messages spares it a future, a metadata check and a partitioner call per message: an
    end-of-day burst of escalations is ~40,000 messages at once (issue 13)."""
    batch = producer.create_batch()
    for m in messages:
        timestamp_ms = int(m.timestamp * 1000) if m.timestamp is not None else None
        headers = list(m.headers.items()) if m.headers else []
        if batch.append(timestamp=timestamp_ms, key=m.key, value=m.value, headers=headers) is None:
            yield batch   # full (and closed by the producer)
            batch = producer.create_batch()
            batch.append(timestamp=timestamp_ms, key=m.key, value=m.value, headers=headers)
    # left open, so the producer lingers on it (linger_ms) as on its own batches: a closed batch is
    # sent at once, and the services' many small writes then made more, smaller requests
    yield batch


class AckedPublisher:
    """The service's own idempotent producer (``acks=all``, ``enable_idempotence``).

    Not Faust's producer: that one is not idempotent, so a send retried after a broker failover
    could write an event twice to the case log. With idempotence the broker drops a retried batch
    it already has, and aiokafka retries a sent batch until it is written (with idempotence it never
    expires one); a message the producer could not even take in (``_enqueue``) is handed over
    again. So a broker outage makes the service wait, not lose or duplicate. A batch that still
    fails (e.g. its partition had no leader for ``request_timeout_ms`` before it was ever sent)
    stops the process: its supervisor restarts it from the log."""

    def __init__(self, settings: Settings, client_id: str, service: str) -> None:
        self.settings = settings
        self.client_id = client_id
        #: ``degraded`` while the brokers do not take messages, ``ok`` once they do again
        self.health = Health(settings.data_dir, service)
        self._producer: AIOKafkaProducer | None = None

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.settings.bootstrap_servers, client_id=self.client_id,
                                        acks="all", enable_idempotence=self.settings.producer_idempotence,
                                        linger_ms=5, metadata_max_age_ms=METADATA_MAX_AGE_MS,
                                        max_batch_size=1024 * 1024, request_timeout_ms=20000,
                                        **self.settings.kafka_security.aiokafka())
            await producer.start()
            self._producer = producer
        return self._producer

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        """Send ``messages`` and wait until the broker acknowledged every one; on failure stop the
        process (never carry on with state the log does not have). Each partition's messages keep
        their order."""
        await (await self.send(messages))

    async def send(self, messages: Sequence[Outgoing]) -> Awaitable[None]:
        """Hand ``messages`` to the producer, in order, and return what to await for the broker's
        acknowledgement of every one (as ``publish``): what is sent next on the same partitions goes
        after them, without waiting for it."""
        if not messages:
            return _nothing()
        try:
            producer = await self._started()
            futures = []
            for (topic, partition), group in (await self._by_partition(producer, messages)).items():
                for batch in _batches(producer, group):
                    futures.append(await self._enqueue(producer, topic, partition, batch))
        except Exception as exc:  # noqa: BLE001 - any failure means the log may lack what we hold
            self._failed(exc, messages)
        return self._acknowledged(futures, messages)

    async def _acknowledged(self, futures: list[asyncio.Future[Any]], messages: Sequence[Outgoing]) -> None:
        try:
            await asyncio.gather(*futures)
        except Exception as exc:  # noqa: BLE001 - any failure means the log may lack what we hold
            self._failed(exc, messages)
        self.health.set(OK)

    @staticmethod
    def _failed(exc: Exception, messages: Sequence[Outgoing]) -> NoReturn:
        log.critical("publish.failed", error=type(exc).__name__, topics=sorted({m.topic for m in messages}))
        os._exit(EXIT_PUBLISH_FAILED)

    async def _by_partition(self, producer: AIOKafkaProducer,
                            messages: Sequence[Outgoing]) -> dict[tuple[str, int], list[Outgoing]]:
        """The messages by the partition the producer's own partitioner gives each (murmur2 of the
        key, as Java's; a keyless one to any partition with a leader), in their order."""
        partitions: dict[str, list[int]] = {}
        #: murmur2 is pure Python: once per key and partition count (a case's records go to several topics)
        keyed: dict[tuple[bytes, int], int] = {}
        grouped: dict[tuple[str, int], list[Outgoing]] = {}
        for m in messages:
            if m.topic not in partitions:
                partitions[m.topic] = sorted(await self._waiting(partial(producer.partitions_for, m.topic), m.topic))
            if m.key is None:
                available = list(producer.client.cluster.available_partitions_for_topic(m.topic))
                partition = _PARTITIONER(None, partitions[m.topic], available)
            else:
                count = len(partitions[m.topic])
                if (cached := keyed.get((m.key, count))) is None:
                    cached = keyed[(m.key, count)] = partition_for_key(m.key, count)
                partition = cached
            grouped.setdefault((m.topic, partition), []).append(m)
        return grouped

    async def _enqueue(self, producer: AIOKafkaProducer, topic: str, partition: int,
                       batch: Any) -> asyncio.Future[Any]:
        """Hand one batch to the producer (its future: acknowledged by the broker)."""
        return await self._waiting(lambda: producer.send_batch(batch, topic, partition=partition), topic)

    async def _waiting(self, attempt: Callable[[], Awaitable[_T]], topic: str) -> _T:
        """``attempt`` as often as the brokers need. The producer raises ``KafkaTimeoutError`` only
        *before* a batch is queued — the topic's metadata did not come (a broker frozen or
        restarting was asked), or the partition's previous batch was not sent (its leader
        unreachable) for ``request_timeout_ms`` — so asking again cannot write it twice. Exiting
        instead would leave an unsupervised service down for nothing (a router silent after a
        broker was frozen 30 s on CI had this among its possible causes)."""
        waited = 0.0
        while True:
            started = time.monotonic()
            try:
                return await attempt()
            except KafkaTimeoutError:
                waited += time.monotonic() - started
                log.warning("publish.waiting_for_brokers", topic=topic, waited_seconds=round(waited))
                self.health.set(DEGRADED, "the brokers do not take messages (no metadata, or a batch full of "
                                          "unsent records); waiting for them")

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


def run_worker(app: faust.App, loglevel: str = "warn",
               prepare: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
    """Run a Faust worker until SIGTERM/SIGINT (Faust installs the signal handlers). ``prepare``:
    the service's first fold, run to its end before the worker joins the consumer group, on an
    event loop of its own (closed after; Faust's stays untouched): a fold inside the group that
    outlasts the poll interval would have the member dropped (docs/decisions.md 75).

    The cyclic garbage collector is off meanwhile: a fold or a snapshot's load makes millions of
    objects that all live on, and each full collection walked every one of them again (loading a
    snapshot took 3x as long with it on). Then what start-up made — modules, parsed schemas, the
    calendar, the state just folded — is moved out of its sight for good (``gc.freeze``): each full
    collection under load walked it again, 0.2–0.3 s a time, 18 % of the router's CPU (issue 13
    item 3). Reference counting still frees any of it."""
    gc.disable()
    try:
        if prepare is not None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(prepare())
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
    finally:
        gc.collect()   # what start-up left as garbage is freed, not frozen
        gc.freeze()
        gc.enable()
    # redirect_stdouts=False: our structlog JSON lines go to stderr as they are, not wrapped by
    # Faust's logger as "[WARNING] {...}"
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


def to_headers(values: dict[str, Any]) -> dict[str, bytes]:
    return {k: str(v).encode() for k, v in values.items() if v is not None}
