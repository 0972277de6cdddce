"""The services' acknowledged publisher hands the producer whole record batches (issue 13): on the
real broker each message lands on the partition Kafka's default partitioner gives its key, each
partition's messages keep their order however many batches they fill, and headers, timestamps and
keyless messages come through as with the producer's own ``send``."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from referral_bus.infra.kafka.faust_app import AckedPublisher, Outgoing
from referral_bus.infra.kafka.log_reader import partition_for_key, read_to_end
from tests.conftest import apply_test_topics, make_runtime

pytestmark = [pytest.mark.broker]


async def _publish_and_read(publisher: AckedPublisher, messages: list[Outgoing], topics: list[str]) -> list:  # type: ignore[type-arg]
    try:
        await publisher.publish(messages)
    finally:
        await publisher.stop()
    return [r async for r in read_to_end(publisher.settings, topics)]


def test_messages_land_on_their_key_s_partition_in_order_across_batches(kafka_bootstrap: str, tmp_path: Path) -> None:
    runtime = make_runtime(kafka_bootstrap, f"pub{secrets.token_hex(3)}.", tmp_path)
    apply_test_topics(runtime)
    case_log, checkpoints = runtime.catalogue.name("case_log"), runtime.catalogue.name("checkpoints")
    partitions = runtime.catalogue.partitions("case_log")
    # 40 values of 100 kB on few keys: each partition's messages fill several 1 MB batches
    messages = [Outgoing(case_log, f"C-{n % 5}".encode(), n.to_bytes(4, "big") + bytes(100_000),
                         {"rb-delivery-id": str(n).encode()}, timestamp=1_700_000_000 + n) for n in range(40)]
    messages += [Outgoing(case_log, f"C-{n}".encode(), n.to_bytes(4, "big")) for n in range(40, 400)]
    messages.append(Outgoing(checkpoints, None, b"keyless"))
    records = asyncio.run(_publish_and_read(AckedPublisher(runtime.settings, "test", "test"), messages,
                                            [case_log, checkpoints]))

    assert len(records) == len(messages)   # nothing lost, nothing twice
    logged = [r for r in records if r.topic == case_log]
    for r in logged:
        assert r.partition == partition_for_key(r.key, partitions)
    for p in range(partitions):
        numbers = [int.from_bytes(r.value[:4], "big") for r in logged if r.partition == p]
        assert numbers == sorted(numbers), f"partition {p} out of order"
    first = next(r for r in logged if int.from_bytes(r.value[:4], "big") == 7)
    assert dict(first.headers) == {"rb-delivery-id": b"7"} and first.timestamp == (1_700_000_000 + 7) * 1000
    assert [r.value for r in records if r.topic == checkpoints] == [b"keyless"]
