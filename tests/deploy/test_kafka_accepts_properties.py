"""Apache Kafka itself accepts each committed ``deploy/kafka/node-<n>.properties``.

``kafka.tools.StorageTool format`` (what the containers run before starting) parses the whole
broker configuration (KafkaConfig: roles, listeners, advertised listeners, controller quorum, types
of values) and refuses an inconsistent one; the container hostnames in it (kafka-1 …) need not
resolve for that. Only ``log.dirs`` is pointed at a temporary directory. No broker is started.
The durability settings are asserted by name, since Kafka accepts a misspelt key with a warning.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from referral_bus.infra.kafka.kafka_cluster import new_cluster_id
from referral_bus.infra.kafka.kafka_distribution import (
    KafkaUnavailable,
    ensure_kafka,
    java_command,
)

ROOT = Path(__file__).resolve().parents[2]
NODES = [1, 2, 3]


def read_properties(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


@pytest.fixture(scope="module")
def kafka_libs() -> Path:
    try:
        return ensure_kafka()
    except KafkaUnavailable as exc:
        pytest.fail(f"Apache Kafka's jars are needed to check the deploy properties: {exc}")


def format_storage(libs: Path, properties: Path, cluster_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([java_command(), "-Xmx256m", "-cp", str(libs / "*"), "kafka.tools.StorageTool", "format",
                           # '=' form: a random id may begin with '-' and pass for an option
                           f"--cluster-id={cluster_id}", "-c", str(properties), "--ignore-formatted"],
                          capture_output=True, text=True, timeout=120)


def local_copy(node_id: int, tmp_path: Path, **changes: str) -> Path:
    """The committed properties with ``log.dirs`` in ``tmp_path`` (and ``changes``)."""
    props = read_properties(ROOT / "deploy" / "kafka" / f"node-{node_id}.properties")
    props.update({"log.dirs": str(tmp_path / "data"), **changes})
    path = tmp_path / f"node-{node_id}.properties"
    path.write_text("".join(f"{key}={value}\n" for key, value in props.items()))
    return path


@pytest.mark.parametrize("node_id", NODES)
def test_kafka_formats_storage_with_the_committed_properties(node_id: int, tmp_path: Path, kafka_libs: Path) -> None:
    cluster_id = new_cluster_id()
    result = format_storage(kafka_libs, local_copy(node_id, tmp_path), cluster_id)
    assert result.returncode == 0, (f"Kafka refused deploy/kafka/node-{node_id}.properties:\n"
                                    f"{result.stdout}\n{result.stderr}")
    meta = read_properties(tmp_path / "data" / "meta.properties")
    assert (meta["node.id"], meta["cluster.id"]) == (str(node_id), cluster_id)


def test_kafka_refuses_an_inconsistent_configuration(tmp_path: Path, kafka_libs: Path) -> None:
    """The check above has teeth: a controller listener that is not among the listeners is refused."""
    result = format_storage(kafka_libs, local_copy(1, tmp_path, **{"controller.listener.names": "NOPE"}),
                            new_cluster_id())
    assert result.returncode != 0
    assert "controller.listener.names" in result.stdout + result.stderr


@pytest.mark.parametrize("node_id", NODES)
def test_durability_of_the_committed_properties(node_id: int) -> None:
    """3 replicas, 2 in sync (with acks=all one broker may fail and no acknowledged event is lost);
    no out-of-sync leader; no topic created by a typo; internal topics replicated alike."""
    props = read_properties(ROOT / "deploy" / "kafka" / f"node-{node_id}.properties")
    assert {key: props.get(key) for key in (
        "default.replication.factor", "min.insync.replicas", "unclean.leader.election.enable",
        "auto.create.topics.enable", "offsets.topic.replication.factor", "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr", "node.id", "controller.quorum.voters", "log.dirs")} == {
        "default.replication.factor": "3", "min.insync.replicas": "2", "unclean.leader.election.enable": "false",
        "auto.create.topics.enable": "false", "offsets.topic.replication.factor": "3",
        "transaction.state.log.replication.factor": "3", "transaction.state.log.min.isr": "2",
        "node.id": str(node_id), "controller.quorum.voters": "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093",
        "log.dirs": "/var/lib/kafka/data"}
