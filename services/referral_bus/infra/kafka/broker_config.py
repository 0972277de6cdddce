"""The one source of truth for Apache Kafka broker configuration (KRaft, no ZooKeeper).

Every broker the project runs gets its ``server.properties`` from :func:`server_properties`: the
single local broker of ``referral-bus broker`` / ``up``, the three-broker cluster of the fault
tests, and the production cluster in ``deploy/`` (rendered by ``referral-bus deploy render``).
Pure: no I/O, so the rendering is unit-tested and the deploy files are checked against it.

Durability settings follow the cluster size: with three or more brokers every topic is written
to 3 replicas and a write needs 2 in sync (``min.insync.replicas=2`` with producers' ``acks=all``),
so one broker can fail without losing an acknowledged event. A one-broker development cluster
has nothing to replicate to; it keeps its log on disk and says so in its properties.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: The pinned Apache Kafka release (Maven Central ``org.apache.kafka:kafka_2.13``) and the
#: matching container image for ``deploy/``.
KAFKA_VERSION = "4.4.0"
SCALA_VERSION = "2.13"
KAFKA_IMAGE = f"apache/kafka:{KAFKA_VERSION}"

Profile = Literal["development", "production"]


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class BrokerNode:
    """One KRaft node acting as broker and controller.

    ``client`` is where clients reach it (advertised as is). ``internal`` is set where brokers see
    each other under other names than clients do (containers on a network); otherwise brokers
    replicate over the client listener. ``bind_host`` is the address listeners bind to (``""``
    means every interface, as in a container); by default the endpoints' own hosts.
    """

    node_id: int
    client: Endpoint
    controller: Endpoint
    log_dir: str
    internal: Endpoint | None = None
    bind_host: str | None = None


@dataclass(frozen=True)
class BrokerSecurity:
    """Authentication and authorisation on every listener (docs/security.md): clients speak
    SASL/SCRAM-SHA-512 over TLS; controllers accept only nodes presenting a certificate of the CA
    (mutual TLS, mapped to ``User:broker``); the StandardAuthorizer denies whatever no ACL allows.
    ``broker_password`` is the brokers' own SCRAM secret (replication between brokers); it is
    written only into the nodes' properties files, mode 0600, never into the repository."""

    ca_file: str
    #: node id → PEM key store (private key, certificate, CA chain) of that node
    key_stores: dict[int, str]
    broker_password: str
    #: principals the authorizer lets do everything: the brokers themselves and the operator's admin
    super_users: tuple[str, ...] = ("broker", "admin")


@dataclass(frozen=True)
class ClusterSpec:
    nodes: tuple[BrokerNode, ...]
    profile: Profile = "production"
    #: Overrides rendered last (e.g. a test's shorter timeouts); never used for durability knobs.
    extra: dict[str, str] = field(default_factory=dict)
    #: None: no authentication (the development broker on 127.0.0.1 and the test suite's)
    security: BrokerSecurity | None = None

    def __post_init__(self) -> None:
        ids = [n.node_id for n in self.nodes]
        if not ids:
            raise ValueError("a cluster needs at least one node")
        if len(set(ids)) != len(ids):
            raise ValueError(f"node ids must be unique, got {ids}")

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(str(n.client) for n in self.nodes)

    @property
    def replication_factor(self) -> int:
        """What topics get: 3 where the cluster can hold 3 copies, else one per broker."""
        return min(3, len(self.nodes))

    @property
    def min_insync_replicas(self) -> int:
        return min(2, len(self.nodes))

    def node(self, node_id: int) -> BrokerNode:
        return next(n for n in self.nodes if n.node_id == node_id)


def durability(replicas: int, min_insync: int) -> dict[str, str]:
    """Replication of the internal topics (group offsets, transactions) and the broker defaults."""
    return {
        "default.replication.factor": str(replicas),
        "min.insync.replicas": str(min_insync),
        "offsets.topic.replication.factor": str(replicas),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": str(min_insync),
        # an out-of-sync replica never becomes leader: that would silently drop acknowledged events
        "unclean.leader.election.enable": "false",
    }


def server_properties(cluster: ClusterSpec, node_id: int) -> dict[str, str]:
    """``server.properties`` of one node, in a stable order."""
    node = cluster.node(node_id)
    bind = node.bind_host

    def listen(name: str, endpoint: Endpoint) -> str:
        return f"{name}://{endpoint.host if bind is None else bind}:{endpoint.port}"

    listeners = [listen("CLIENT", node.client), listen("CONTROLLER", node.controller)]
    advertised = [f"CLIENT://{node.client}"]
    protocols = ["CLIENT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
    if node.internal is not None:
        listeners.append(listen("INTERNAL", node.internal))
        advertised.append(f"INTERNAL://{node.internal}")
        protocols.append("INTERNAL:PLAINTEXT")
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": ",".join(f"{n.node_id}@{n.controller}" for n in cluster.nodes),
        "controller.listener.names": "CONTROLLER",
        "listeners": ",".join(listeners),
        "advertised.listeners": ",".join(advertised),
        "listener.security.protocol.map": ",".join(protocols),
        "inter.broker.listener.name": "INTERNAL" if node.internal is not None else "CLIENT",
        "log.dirs": node.log_dir,
        # topics come from topics.yaml only (`referral-bus topics apply`), never from a typo
        "auto.create.topics.enable": "false",
        "num.partitions": "3",
        **durability(cluster.replication_factor, cluster.min_insync_replicas),
        # production waits for the members of a restarted group to arrive; development does not
        "group.initial.rebalance.delay.ms": "0" if cluster.profile == "development" else "3000",
        # a stopped broker hands its partitions over before it goes (controlled shutdown)
        "controlled.shutdown.enable": "true",
    }
    if cluster.security is not None:
        props.update(security_properties(cluster.security, node.node_id, node.internal is not None))
    props.update(cluster.extra)
    return props


def security_properties(security: BrokerSecurity, node_id: int, internal: bool) -> dict[str, str]:
    """Client listeners (and INTERNAL) become SASL_SSL with SCRAM-SHA-512; the controller listener
    mutual TLS; every request is authorised against the ACLs (``infra/kafka/acls.py``)."""
    protocols = ["CLIENT:SASL_SSL", "CONTROLLER:SSL"] + (["INTERNAL:SASL_SSL"] if internal else [])
    jaas = ('org.apache.kafka.common.security.scram.ScramLoginModule required '
            f'username="broker" password="{security.broker_password}";')
    props = {
        "listener.security.protocol.map": ",".join(protocols),
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.client.scram-sha-512.sasl.jaas.config": jaas,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": security.key_stores[node_id],
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": security.ca_file,
        "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
        "listener.name.controller.ssl.client.auth": "required",
        # a node's certificate (CN=broker) is the principal User:broker
        "ssl.principal.mapping.rules": "RULE:^CN=([a-zA-Z0-9.-]+)$/$1/,DEFAULT",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": ";".join(f"User:{user}" for user in security.super_users),
        # a connection re-authenticates within an hour, so a revoked credential stops working
        # on open connections too (clients that cannot re-authenticate are disconnected and reconnect)
        "connections.max.reauth.ms": "3600000",
    }
    if internal:
        props["listener.name.internal.scram-sha-512.sasl.jaas.config"] = jaas
    return props


def render_properties(props: dict[str, str], header: str = "") -> str:
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def local_cluster(ports: list[tuple[int, int]], data_dir: str, *, host: str = "127.0.0.1",
                  profile: Profile = "development", extra: dict[str, str] | None = None,
                  security: BrokerSecurity | None = None) -> ClusterSpec:
    """Nodes on this machine: ``ports`` gives (client, controller) per node; node n keeps its log
    in ``<data_dir>/node-<n>``."""
    nodes = tuple(BrokerNode(i, Endpoint(host, client), Endpoint(host, controller), f"{data_dir}/node-{i}")
                  for i, (client, controller) in enumerate(ports, start=1))
    return ClusterSpec(nodes, profile, dict(extra or {}), security)


def container_cluster(size: int = 3, external_base_port: int = 19092) -> ClusterSpec:
    """The production cluster of ``deploy/``: ``kafka-<n>`` containers on one network, brokers
    replicating over INTERNAL (kafka-<n>:9092), clients outside reaching 127.0.0.1:<n>9092."""
    nodes = tuple(BrokerNode(i, Endpoint("127.0.0.1", external_base_port + (i - 1) * 10000),
                             Endpoint(f"kafka-{i}", 9093), "/var/lib/kafka/data",
                             internal=Endpoint(f"kafka-{i}", 9092), bind_host="")
                  for i in range(1, size + 1))
    return ClusterSpec(nodes, "production")
