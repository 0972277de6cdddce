"""Reading what the bus wrote, for assertions (always to the true end of the log)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from referral_bus.contracts.base import Record
from referral_bus.contracts.bus_records import Receipt
from referral_bus.infra.kafka.log_reader import read_to_end_sync
from referral_bus.infra.runtime import Runtime


@dataclass(frozen=True)
class Read:
    record: Record
    key: bytes | None
    headers: dict[str, str]
    partition: int
    offset: int


def _reads(runtime: Runtime, topics: list[str]) -> list[Read]:
    return [Read(runtime.codec.decode(r.value), r.key, {k: v.decode() for k, v in (r.headers or [])},
                 r.partition, r.offset)
            for r in read_to_end_sync(runtime.settings, topics)]


def read_topic(runtime: Runtime, topic_id: str, **fill: str) -> list[Read]:
    return _reads(runtime, [runtime.catalogue.name(topic_id, **fill)])


def read_all(runtime: Runtime, topic_id: str) -> list[Read]:
    """Every topic of an entry at once, e.g. all agencies' receipts."""
    return _reads(runtime, runtime.catalogue.names(topic_id))


class ReceiptWatcher:
    """Every agency's receipts from now on, as an auditor sees them (the SDK reads its own only)."""

    def __init__(self, runtime: Runtime) -> None:
        from kafka import KafkaConsumer, TopicPartition
        self.runtime = runtime
        self.consumer = KafkaConsumer(**runtime.settings.kafka_python(), group_id=None, enable_auto_commit=False)
        tps = [TopicPartition(t, p) for t in runtime.catalogue.receipt_topics()
               for p in range(runtime.catalogue.partitions("receipts"))]
        self.consumer.assign(tps)
        self.consumer.seek_to_end(*tps)
        for tp in tps:
            self.consumer.position(tp)

    def wait(self, match: Any, timeout: float = 60.0) -> Receipt:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in self.consumer.poll(timeout_ms=200).values():
                for record in records:
                    receipt = self.runtime.codec.decode(record.value)
                    if isinstance(receipt, Receipt) and match(receipt):
                        return receipt
        raise AssertionError(f"no matching receipt within {timeout}s")

    def close(self) -> None:
        self.consumer.close()


def of_case(reads: list[Read], case_id: str) -> list[Any]:
    return [r.record for r in reads if r.key == case_id.encode()]


def timeline_rows(runtime: Runtime, case: str = "%") -> int:
    """Rows of the read models' timeline (of the cases LIKE ``case``); -1 before the projector made
    its tables."""
    from sqlalchemy import create_engine, text
    engine = create_engine(runtime.settings.read_model_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM case_events WHERE case_id LIKE :c"), {"c": case})
                       .scalar_one())
    except Exception:  # noqa: BLE001 - the projector may not have created its tables yet
        return -1
    finally:
        engine.dispose()
