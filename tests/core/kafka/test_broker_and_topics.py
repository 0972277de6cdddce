"""Topic administration and reading to the true end, on the real broker."""

from __future__ import annotations

import secrets

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from referral_bus.core.kafka.admin import apply_topics
from referral_bus.core.kafka.log_reader import read_to_end_sync
from tests.conftest import make_runtime


def test_apply_is_idempotent_and_reports_differences(kafka_bootstrap: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime(kafka_bootstrap, f"adm{secrets.token_hex(3)}.", tmp_path)
    specs = runtime.catalogue.specs()
    odd = runtime.catalogue.name("receipts")
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(odd, 1, 1)])
    admin.close()
    first = apply_topics(kafka_bootstrap, specs)
    assert len(first.created) == len(specs) - 1
    assert first.differences == [f"{odd}: partitions 1 (catalogue: 3)"]
    second = apply_topics(kafka_bootstrap, specs)
    assert second.created == [] and len(second.unchanged) == len(specs) - 1


def test_read_to_end_reads_everything_even_where_end_offsets_under_reports(kafka_bootstrap: str) -> None:
    topic = f"read-{secrets.token_hex(3)}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
    for i in range(400):  # one key: all in one partition, in several batches
        producer.send(topic, key=b"one-case", value=str(i).encode())
    producer.flush()
    producer.close()
    records = read_to_end_sync(kafka_bootstrap, [topic])
    assert [int(r.value) for r in records] == list(range(400))
