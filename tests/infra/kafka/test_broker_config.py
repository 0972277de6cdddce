"""broker_config.py, the one source of every broker's server.properties: durability that follows the
cluster size, listeners for local and container clusters, the controller quorum. Pure, no broker."""

from __future__ import annotations

import pytest

from referral_bus.infra.kafka.broker_config import (
    BrokerNode,
    ClusterSpec,
    Endpoint,
    container_cluster,
    local_cluster,
    render_properties,
    server_properties,
)

DURABILITY_KEYS = ("default.replication.factor", "min.insync.replicas", "offsets.topic.replication.factor",
                   "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
                   "unclean.leader.election.enable")


def durability_of(spec: ClusterSpec, node_id: int = 1) -> tuple[str, ...]:
    props = server_properties(spec, node_id)
    return tuple(props[key] for key in DURABILITY_KEYS)


def test_one_node_keeps_one_copy_and_says_so() -> None:
    spec = local_cluster([(9092, 9093)], "/data")
    assert (spec.replication_factor, spec.min_insync_replicas) == (1, 1)
    assert durability_of(spec) == ("1", "1", "1", "1", "1", "false")


def test_three_nodes_write_three_copies_and_need_two_in_sync() -> None:
    for spec in (local_cluster([(9092, 9093), (9094, 9095), (9096, 9097)], "/data"), container_cluster(3)):
        for node in spec.nodes:
            assert durability_of(spec, node.node_id) == ("3", "2", "3", "3", "2", "false")


def test_larger_clusters_stay_at_three_replicas() -> None:
    spec = container_cluster(5)
    assert (spec.replication_factor, spec.min_insync_replicas) == (3, 2)


def test_every_node_refuses_auto_created_topics_and_shuts_down_controlled() -> None:
    for spec in (local_cluster([(9092, 9093)], "/data"), container_cluster(3)):
        for node in spec.nodes:
            props = server_properties(spec, node.node_id)
            assert props["auto.create.topics.enable"] == "false"
            assert props["controlled.shutdown.enable"] == "true"
            assert props["process.roles"] == "broker,controller"


def test_local_node_listens_and_advertises_on_its_own_address() -> None:
    spec = local_cluster([(9092, 9093), (9094, 9095)], "/data")
    props = server_properties(spec, 2)
    assert props["node.id"] == "2"
    assert props["listeners"] == "CLIENT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"
    assert props["advertised.listeners"] == "CLIENT://127.0.0.1:9094"
    assert props["listener.security.protocol.map"] == "CLIENT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    assert props["inter.broker.listener.name"] == "CLIENT"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == "/data/node-2"
    assert spec.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9094"


def test_container_node_binds_every_interface_and_replicates_over_internal() -> None:
    spec = container_cluster(3)
    props = server_properties(spec, 2)
    assert props["listeners"] == "CLIENT://:29092,CONTROLLER://:9093,INTERNAL://:9092"
    assert props["advertised.listeners"] == "CLIENT://127.0.0.1:29092,INTERNAL://kafka-2:9092"
    assert props["listener.security.protocol.map"] == "CLIENT:PLAINTEXT,CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT"
    assert props["inter.broker.listener.name"] == "INTERNAL"
    assert props["log.dirs"] == "/var/lib/kafka/data"
    assert spec.bootstrap_servers == "127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092"


def test_controller_quorum_voters_list_every_node_the_same_on_each() -> None:
    for spec, voters in ((container_cluster(3), "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"),
                         (local_cluster([(9092, 9093), (9094, 9095), (9096, 9097)], "/data"),
                          "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097")):
        assert {server_properties(spec, n.node_id)["controller.quorum.voters"] for n in spec.nodes} == {voters}


def test_node_ids_must_be_unique_and_present() -> None:
    node = BrokerNode(1, Endpoint("127.0.0.1", 9092), Endpoint("127.0.0.1", 9093), "/data/a")
    twin = BrokerNode(1, Endpoint("127.0.0.1", 9094), Endpoint("127.0.0.1", 9095), "/data/b")
    with pytest.raises(ValueError, match=r"node ids must be unique, got \[1, 1\]"):
        ClusterSpec((node, twin))
    with pytest.raises(ValueError, match="at least one node"):
        ClusterSpec(())


def test_profiles_and_extra_overrides() -> None:
    development = local_cluster([(9092, 9093)], "/data")
    assert server_properties(development, 1)["group.initial.rebalance.delay.ms"] == "0"
    assert server_properties(container_cluster(3), 1)["group.initial.rebalance.delay.ms"] == "3000"
    tuned = local_cluster([(9092, 9093)], "/data", extra={"log.retention.check.interval.ms": "1000"})
    assert server_properties(tuned, 1)["log.retention.check.interval.ms"] == "1000"
    assert list(server_properties(tuned, 1))[-1] == "log.retention.check.interval.ms"  # rendered last


def test_render_properties() -> None:
    text = render_properties({"node.id": "1", "log.dirs": "/d"}, "first line\n\nthird line")
    assert text == "# first line\n#\n# third line\nnode.id=1\nlog.dirs=/d\n"
    assert render_properties({"a": "b"}) == "a=b\n"
