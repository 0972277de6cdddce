"""The read-audit topic (``rb.read-audit``, one partition): append a ``CaseRead`` before a case is
shown, read the trail back (committed records only) for ``audit reads`` and ``verify``.

One chain over the whole topic needs one writer at a time. Readers run on several machines, so every
writer uses the same Kafka transactional id (``Catalogue.read_audit_writer``): starting a
transaction fences any writer that started before it and aborts its open transaction; the writer
then reads the chain's head (read_committed), appends the next record and commits. A writer fenced
in between starts again from the new head. Aborted records stay in the partition but no
read_committed consumer sees them, so the chain seen by ``verify`` never forks. (The rest of the bus
deliberately uses no transactions, docs/decisions.md 37; here they are a lock, not exactly-once.)

Fail closed: ``ReadNotRecorded`` when the record cannot be written; the caller shows nothing.
"""

from __future__ import annotations

import getpass
import os
import random
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as kafka_errors

from referral_bus.contracts.bus_records import CaseRead
from referral_bus.domain.read_audit import ChainHead, LoggedRead, next_read
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.runtime import Runtime

#: Who reads when no --as is given and the bus is plaintext (an unauthenticated claim).
OPERATOR_ENV = "REFERRAL_BUS_OPERATOR"
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}")
#: How far back from the end to look for the chain's head (control markers and aborted records sit
#: between committed ones); doubled until a record is found or the partition's start is reached.
_TAIL = 64
#: A fenced writer waits a random while (growing with each try) and starts again: concurrent readers
#: take turns instead of fencing each other for ever.
_ATTEMPTS = 30
_TIMEOUT_MS = 15_000


class ReadNotRecorded(RuntimeError):
    """The read could not be recorded on the read-audit topic: it must not happen."""


def reader_identity(runtime: Runtime, stated: str | None) -> tuple[str, str | None]:
    """(reader, authenticated principal): ``--as`` or ``$REFERRAL_BUS_OPERATOR`` when given, else the
    SASL principal, else the machine's login name. ``ValueError`` (exit 2) for a name that is not a
    pseudonymous token."""
    security = runtime.settings.kafka_security
    principal = security.username if security.mode == "sasl_ssl" else None
    claimed = stated or os.environ.get(OPERATOR_ENV) or None
    if claimed is not None and not _TOKEN.fullmatch(claimed):
        raise ValueError(f"{OPERATOR_ENV} / --as {claimed!r}: 1-64 letters, digits and . _ : @ - "
                         "(a staff id, never a full name)")
    if claimed is None and principal is None:
        try:
            login = getpass.getuser()
        except (KeyError, OSError):
            login = "unknown"
        claimed = login if _TOKEN.fullmatch(login) else "unknown"
    return claimed or principal or "unknown", principal


def _partition(runtime: Runtime) -> TopicPartition:
    return TopicPartition(runtime.catalogue.name("read_audit"), 0)


def _consumer(runtime: Runtime) -> KafkaConsumer:
    return KafkaConsumer(**runtime.settings.kafka_python(), group_id=None, enable_auto_commit=False,
                         isolation_level="read_committed", consumer_timeout_ms=1000,
                         request_timeout_ms=_TIMEOUT_MS + 5000)


def _read(runtime: Runtime, consumer: KafkaConsumer, start: int, end: int,
          on_undecodable: Callable[[int, str], None] | None = None) -> list[LoggedRead]:
    tp = _partition(runtime)
    consumer.seek(tp, start)
    out: list[LoggedRead] = []
    idle = 0
    while consumer.position(tp) < end and idle < 10:   # only markers of aborted transactions may be left
        batch = consumer.poll(timeout_ms=1000)
        idle = 0 if batch else idle + 1
        for message in batch.get(tp, []):
            try:
                record = runtime.codec.decode(message.value)
            except DecodeError as exc:
                if on_undecodable:
                    on_undecodable(message.offset, exc.code)
                continue
            if isinstance(record, CaseRead):
                out.append(LoggedRead(message.offset, record))
            elif on_undecodable:
                on_undecodable(message.offset, f"{type(record).__name__} is not a CaseRead")
    return out


def read_trail(runtime: Runtime, on_undecodable: Callable[[int, str], None] | None = None) -> list[LoggedRead]:
    """Every committed record of the read-audit topic, in order."""
    consumer = _consumer(runtime)
    try:
        tp = _partition(runtime)
        consumer.assign([tp])
        start = consumer.beginning_offsets([tp])[tp]
        end = consumer.end_offsets([tp])[tp]   # read_committed: the last stable offset
        return _read(runtime, consumer, start, end, on_undecodable)
    finally:
        consumer.close()


def _head(runtime: Runtime) -> ChainHead:
    found = _tail(runtime, lambda reads: bool(reads))
    last = found[-1].record if found else None
    return ChainHead(last.sequence, last.hash or "") if last else ChainHead()


def _tail(runtime: Runtime, enough: Callable[[list[LoggedRead]], bool]) -> list[LoggedRead]:
    """The committed records from some offset to the end: the last ``_TAIL`` offsets, doubled until
    ``enough`` says so or the partition's start is reached."""
    consumer = _consumer(runtime)
    try:
        tp = _partition(runtime)
        consumer.assign([tp])
        first = consumer.beginning_offsets([tp])[tp]
        end = consumer.end_offsets([tp])[tp]
        span = _TAIL
        while True:
            start = max(first, end - span)
            found = _read(runtime, consumer, start, end)
            if enough(found) or start == first:
                return found
            span *= 2
    finally:
        consumer.close()


def _committed(runtime: Runtime, record: CaseRead) -> bool:
    """Whether ``record`` was committed: the chain is linear, so the one committed record with its
    sequence is either this one or another writer's."""
    try:
        found = _tail(runtime, lambda reads: bool(reads) and reads[0].record.sequence <= record.sequence)
    except kafka_errors.KafkaError:
        return False
    return any(item.record.read_id == record.read_id for item in found)


#: Errors that mean another writer fenced this one: its transaction is aborted, start again.
_FENCED = (kafka_errors.ProducerFencedError, kafka_errors.InvalidProducerEpochError,
           kafka_errors.ConcurrentTransactionsError)


def record_read(runtime: Runtime, *, case_id: str, tool: str, purpose: str, query: str | None = None,
                reader: str | None = None) -> CaseRead:
    """Append one read of ``case_id`` to the trail and return it once the brokers have committed it.
    ``ReadNotRecorded`` when that cannot be done; ``PurposeRefused`` for a purpose that says nothing."""
    who, principal = reader_identity(runtime, reader)
    last_error: Exception | None = None
    for attempt in range(_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0.05, min(2.0, 0.2 * attempt)))
        try:
            return _append(runtime, case_id=case_id, reader=who, principal=principal, tool=tool,
                           query=query, purpose=purpose)
        except _FENCED as exc:
            last_error = exc                    # another reader got in first: start again from its record
        except _CommitUncertain as exc:
            last_error = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        except kafka_errors.KafkaError as exc:
            raise ReadNotRecorded(_why(runtime, exc)) from exc
    raise ReadNotRecorded(f"other readers kept the read-audit trail busy ({type(last_error).__name__})")


class _CommitUncertain(Exception):
    """The record reached the partition but the commit failed with an error that does not say
    whether it happened, and the trail says it did not: try again."""


def _append(runtime: Runtime, *, case_id: str, reader: str, principal: str | None, tool: str,
            query: str | None, purpose: str) -> CaseRead:
    """One try: fence earlier writers, read the head, append the next record, commit."""
    producer = KafkaProducer(**runtime.settings.kafka_python(), acks="all", enable_idempotence=True,
                             transactional_id=runtime.catalogue.read_audit_writer(),
                             max_block_ms=_TIMEOUT_MS, request_timeout_ms=_TIMEOUT_MS)
    try:
        producer.init_transactions()       # fences any writer that started before this one
        record = next_read(_head(runtime), read_id=uuid.uuid4(), case_id=case_id, reader=reader,
                           principal=principal, tool=tool, query=query, purpose=purpose,
                           read_at=datetime.now(UTC))
        producer.begin_transaction()
        producer.send(runtime.catalogue.name("read_audit"), key=case_id.encode(),
                      value=runtime.codec.encode(record)).get(timeout=_TIMEOUT_MS / 1000)
        try:
            producer.commit_transaction()
        except _FENCED:
            raise
        except kafka_errors.KafkaError as exc:
            # The brokers answered the send, but a commit racing a new writer's fence can fail with a
            # code the client does not map (UNKNOWN_SERVER_ERROR, seen in CI) whether or not it
            # happened. The trail says which.
            if _committed(runtime, record):
                return record
            raise _CommitUncertain(str(exc)) from exc
        return record
    finally:
        producer.close(timeout=5)


def _why(runtime: Runtime, exc: Exception) -> str:
    said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, kafka_errors.AuthorizationError):
        return (f"this principal may not write {runtime.catalogue.name('read_audit')} ({type(exc).__name__}; "
                "`acl render`: the auditor's rights)")
    return (f"the brokers at {runtime.settings.bootstrap_servers} could not be reached or did not commit the "
            f"record ({said})")
