"""Reading what the bus wrote, for assertions (always to the true end of the log)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from referral_bus.contracts.base import Record
from referral_bus.infra.kafka.log_reader import read_to_end_sync
from referral_bus.infra.runtime import Runtime


@dataclass(frozen=True)
class Read:
    record: Record
    key: bytes | None
    headers: dict[str, str]
    partition: int
    offset: int


def read_topic(runtime: Runtime, topic_id: str, **fill: str) -> list[Read]:
    topic = runtime.catalogue.name(topic_id, **fill)
    return [Read(runtime.codec.decode(r.value), r.key, {k: v.decode() for k, v in (r.headers or [])},
                 r.partition, r.offset)
            for r in read_to_end_sync(runtime.settings.bootstrap_servers, [topic])]


def read_all(runtime: Runtime, topic_id: str) -> list[Read]:
    """Every topic of an entry at once, e.g. all agencies' receipts."""
    return [Read(runtime.codec.decode(r.value), r.key, {k: v.decode() for k, v in (r.headers or [])},
                 r.partition, r.offset)
            for r in read_to_end_sync(runtime.settings.bootstrap_servers, runtime.catalogue.names(topic_id))]


def of_case(reads: list[Read], case_id: str) -> list[Any]:
    return [r.record for r in reads if r.key == case_id.encode()]
