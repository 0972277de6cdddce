"""Topic administration and reading to the true end, on the real broker."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from referral_bus.infra.kafka.admin import ReplicationRefused, apply_topics, differences
from referral_bus.infra.kafka.log_reader import read_to_end_sync
from tests.conftest import make_runtime, replication_for


def test_apply_is_idempotent_and_reports_differences(kafka_bootstrap: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime(kafka_bootstrap, f"adm{secrets.token_hex(3)}.", tmp_path)
    specs = runtime.catalogue.specs()
    replicas = replication_for(kafka_bootstrap)
    odd = runtime.catalogue.name("case_log")
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(odd, 1, 1)])
    admin.close()
    first = apply_topics(kafka_bootstrap, specs, replication_factor=replicas)
    assert len(first.created) == len(specs) - 1
    assert first.differences == [f"{odd}: partitions 1 (catalogue: 3)"]
    second = apply_topics(kafka_bootstrap, specs, replication_factor=replicas)
    assert second.created == [] and len(second.unchanged) == len(specs) - 1


def test_apply_never_lowers_the_replication_factor_silently(kafka_bootstrap: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime(kafka_bootstrap, f"rf{secrets.token_hex(3)}.", tmp_path)
    if replication_for(kafka_bootstrap) >= 3:
        pytest.skip("the cluster can hold topics.yaml's 3 replicas: nothing to lower")
    with pytest.raises(ReplicationRefused, match="replication factor 3 .* refusing to lower it silently"):
        apply_topics(kafka_bootstrap, runtime.catalogue.specs())
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    assert not [t for t in admin.list_topics() if t.startswith(runtime.settings.topic_prefix)]  # nothing made
    admin.close()
    report = apply_topics(kafka_bootstrap, runtime.catalogue.specs(), replication_factor=1)
    assert any("replication factor 1 instead of topics.yaml's [3]" in n for n in report.notices)
    cli = subprocess.run([sys.executable, "-m", "referral_bus.cli", "topics", "apply"], capture_output=True, text=True,
                         env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                              "REFERRAL_BUS_TOPIC_PREFIX": runtime.settings.topic_prefix}, timeout=120)
    assert cli.returncode == 2 and "refusing to lower it silently" in cli.stderr
    # an existing topic with fewer replicas than the catalogue's is reported as a difference
    [case_log] = [s for s in runtime.catalogue.specs() if s.topic_id == "case_log"]
    assert differences(case_log, {"partitions": [{"replica_nodes": [1]}] * 3}, {}) == [
        "replication factor 1 (catalogue: 3)"]


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
