"""Apache Kafka brokers as local processes: one for ``referral-bus broker`` / ``up``, three for the
fault tests. Each node is ``java kafka.Kafka server.properties`` with properties from
:mod:`broker_config` and its log on disk under the data directory, so a stopped cluster starts
again with everything it held.

Layout under ``data_dir``: ``cluster.json`` (cluster id and ports, kept so a restart finds the same
addresses), ``config/node-<n>.properties``, ``node-<n>/`` (the broker's log), ``logs/node-<n>.log``.

Linux: each broker gets SIGTERM when the *thread* that started it ends (PR_SET_PDEATHSIG), so a
killed ``up`` or test session leaves no broker behind — start brokers from a long-lived thread.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from referral_bus.infra.kafka.broker_config import (
    BrokerSecurity,
    ClusterSpec,
    Profile,
    local_cluster,
    render_properties,
    server_properties,
)
from referral_bus.infra.kafka.credentials import CredentialStore
from referral_bus.infra.kafka.kafka_distribution import (
    LOG4J2,
    KafkaUnavailable,
    ensure_kafka,
    java_command,
)
from referral_bus.infra.kafka.local_process import (
    die_with_parent,
    free_port,
    port_is_free,
    wait_until_serving,
)
from referral_bus.infra.kafka.pki import LocalPki
from referral_bus.infra.kafka.security import KafkaSecurity

log = structlog.get_logger(__name__)


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as kafka-storage)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass
class KafkaNodeProcess:
    node_id: int
    properties_file: Path
    log_dir: Path
    output: Path
    libs: Path
    heap: str
    process: subprocess.Popen[bytes] | None = None

    def classpath(self) -> str:
        return str(self.libs / "*")

    def format(self, cluster_id: str, scram: dict[str, str] | None = None) -> None:
        """Format the node's storage once (KRaft); a formatted log directory is left as it is.
        ``scram`` (principal → password) seeds the SCRAM credentials the brokers need before any
        client can create one (the brokers' own, the admin's)."""
        if (self.log_dir / "meta.properties").exists():
            return
        seeds = [arg for name, password in (scram or {}).items()
                 for arg in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]")]
        result = subprocess.run([java_command(), "-cp", self.classpath(), "kafka.tools.StorageTool", "format",
                                 # '=' form: a random id may begin with '-' and pass for an option
                                 f"--cluster-id={cluster_id}", "--config", str(self.properties_file),
                                 "--ignore-formatted", *seeds],
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise KafkaUnavailable(f"formatting node {self.node_id} failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> None:
        log4j = self.properties_file.parent / "log4j2.properties"
        out = open(self.output, "ab")
        self.process = subprocess.Popen(
            [java_command(), f"-Xmx{self.heap}", f"-Xms{min_heap(self.heap)}", "-XX:+UseG1GC",
             "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
             f"-Dlog4j2.configurationFile={log4j}", "-cp", self.classpath(), "kafka.Kafka", str(self.properties_file)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent if sys.platform == "linux" else None)
        out.close()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self, timeout: float = 60.0) -> None:
        """Controlled shutdown (SIGTERM); SIGKILL only if it does not end within ``timeout``."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a paused broker cannot shut down
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.process = None

    def kill(self) -> None:
        """kill -9: no controlled shutdown, no flush."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)


def min_heap(heap: str) -> str:
    return "128m" if heap.lower().endswith("m") and int(heap[:-1]) <= 512 else "256m"


@dataclass
class LocalKafkaCluster:
    """``nodes`` KRaft brokers (each also a controller) on 127.0.0.1 with their logs in ``data_dir``.

    ``port`` fixes the first node's client port (then controller port = port + 1, next node +2 …);
    without it free ports are chosen on first start and kept in ``cluster.json``.
    """

    data_dir: Path
    nodes: int = 1
    port: int | None = None
    profile: Profile = "development"
    heap: str = field(default_factory=lambda: os.environ.get("REFERRAL_BUS_KAFKA_HEAP", "512m"))
    extra: dict[str, str] = field(default_factory=dict)
    members: dict[int, KafkaNodeProcess] = field(default_factory=dict)
    spec: ClusterSpec | None = None
    cluster_id: str = ""
    #: SASL/SCRAM over TLS on the client listeners, mutual TLS between nodes, ACLs enforced
    #: (docs/security.md); certificates and passwords are made on first start under ``secrets/``.
    secured: bool = False

    @property
    def credentials(self) -> CredentialStore:
        """The secrets of a secured cluster: ``secrets/principals/<name>.password``, ``secrets/tls/ca.pem``."""
        secrets = self.data_dir / "secrets"
        return CredentialStore(secrets / "principals", LocalPki(secrets / "tls").ca_file)

    def security_for(self, principal: str) -> KafkaSecurity:
        """How ``principal`` connects (plaintext when the cluster is not secured)."""
        if not self.secured:
            return KafkaSecurity()
        return KafkaSecurity.for_principal(self.credentials.load(principal))

    @property
    def admin_security(self) -> KafkaSecurity:
        return self.security_for("admin")

    @property
    def bootstrap_servers(self) -> str:
        assert self.spec is not None, "start() the cluster first"
        return self.spec.bootstrap_servers

    def _layout(self) -> tuple[str, list[tuple[int, int]]]:
        state_file = self.data_dir / "cluster.json"
        if state_file.exists():
            state = json.loads(state_file.read_text())
            ports: list[tuple[int, int]] = [(int(c), int(k)) for c, k in state["ports"]]
            if len(ports) != self.nodes:
                raise KafkaUnavailable(f"{self.data_dir} holds a {len(ports)}-node cluster, not {self.nodes} nodes; "
                                       "use another data directory")
            if self.port is not None and ports[0][0] != self.port:
                ports = [(self.port + 2 * i, self.port + 2 * i + 1) for i in range(self.nodes)]
            cluster_id = state["cluster_id"]
        else:
            cluster_id = new_cluster_id()
            if self.port is not None:
                ports = [(self.port + 2 * i, self.port + 2 * i + 1) for i in range(self.nodes)]
            else:
                ports = [(free_port(), free_port()) for _ in range(self.nodes)]
        busy = [p for pair in ports for p in pair if not port_is_free(p)]
        if busy:
            raise KafkaUnavailable(f"port(s) {busy} on 127.0.0.1 are in use (another broker?); stop it, or choose "
                                   "another port (REFERRAL_BUS_BROKER_PORT / --port)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps({"cluster_id": cluster_id, "ports": ports}) + "\n")
        return cluster_id, ports

    def start(self, timeout: float = 120.0) -> LocalKafkaCluster:
        libs = ensure_kafka()
        self.cluster_id, ports = self._layout()
        security, scram = self._security([node for node, _ in enumerate(ports, start=1)])
        self.spec = local_cluster(ports, str(self.data_dir.resolve()), profile=self.profile, extra=self.extra,
                                  security=security)
        config_dir = self.data_dir / "config"
        logs_dir = self.data_dir / "logs"
        config_dir.mkdir(exist_ok=True)
        logs_dir.mkdir(exist_ok=True)
        (config_dir / "log4j2.properties").write_text(LOG4J2)
        for node in self.spec.nodes:
            props_file = config_dir / f"node-{node.node_id}.properties"
            props_file.unlink(missing_ok=True)
            fd = os.open(props_file, os.O_WRONLY | os.O_CREAT, 0o600)  # a secured node's holds a secret
            with os.fdopen(fd, "w") as out:
                out.write(render_properties(
                    server_properties(self.spec, node.node_id),
                    f"Generated by referral-bus (infra/kafka/broker_config.py) for node {node.node_id}; do not edit."))
            member = KafkaNodeProcess(node.node_id, props_file, Path(node.log_dir),
                                      logs_dir / f"node-{node.node_id}.log",
                                      libs, self.heap)
            member.format(self.cluster_id, scram)
            self.members[node.node_id] = member
        for member in self.members.values():
            member.start()
        try:
            self.wait_serving(timeout)
        except BaseException:
            self.stop()
            raise
        log.info("kafka.started", bootstrap=self.bootstrap_servers, nodes=self.nodes, data_dir=str(self.data_dir))
        return self

    def _security(self, node_ids: list[int]) -> tuple[BrokerSecurity | None, dict[str, str]]:
        if not self.secured:
            return None, {}
        pki = LocalPki(self.data_dir / "secrets" / "tls")
        stores = {n: str(pki.key_store(f"node-{n}", ["127.0.0.1", "localhost"]).resolve()) for n in node_ids}
        broker, admin = self.credentials.ensure("broker"), self.credentials.ensure("admin")
        return (BrokerSecurity(str(pki.ca_file.resolve()), stores, broker.password),
                {"broker": broker.password, "admin": admin.password})

    def wait_serving(self, timeout: float = 120.0, nodes: int | None = None) -> None:
        """Until ``nodes`` (default: all) brokers are registered, unfenced, and answer clients."""
        def check_alive() -> None:
            for member in self.members.values():
                if member.process is not None and member.process.poll() is not None:
                    tail = member.output.read_text(errors="replace")[-3000:] if member.output.exists() else ""
                    raise KafkaUnavailable(f"Kafka node {member.node_id} exited with {member.process.returncode}; "
                                           f"log {member.output}:\n{tail}")
        wait_until_serving(self.bootstrap_servers, timeout, brokers=nodes or self.nodes, check=check_alive,
                           security=self.admin_security)

    def stop(self) -> None:
        for member in self.members.values():
            member.signal(signal.SIGCONT)
        for member in self.members.values():
            member.signal(signal.SIGTERM)
        for member in self.members.values():
            member.stop()
        log.info("kafka.stopped", data_dir=str(self.data_dir))

    # -- faults (tests) -------------------------------------------------------------------------
    def kill(self, node_id: int) -> None:
        self.members[node_id].kill()

    def pause(self, node_id: int) -> None:
        self.members[node_id].pause()

    def resume(self, node_id: int) -> None:
        self.members[node_id].resume()

    def restart(self, node_id: int, timeout: float = 120.0) -> None:
        member = self.members[node_id]
        if member.alive:
            member.stop()
        member.start()
        self.wait_serving(timeout)

    def active_controller(self) -> int | None:
        """The node leading the KRaft quorum, as a live broker reports it (DescribeQuorum, which
        the broker forwards to the controller); ``None`` while no leader is elected or no live
        node answers. Asked of the cluster because the nodes' ``quorum-state`` files do not say
        it: a leader does not persist its own leadership, and a follower's file can lag."""
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError, RetriableError

        assert self.spec is not None, "start() the cluster first"
        live = [str(self.spec.node(n).client) for n, member in self.members.items() if member.alive]
        if not live:
            return None
        try:
            admin = KafkaAdminClient(bootstrap_servers=",".join(live), client_id="referral-bus-quorum",
                                     request_timeout_ms=5000, **self.admin_security.kafka_python())
        except RetriableError:  # no live node answered
            return None
        try:
            quorum = admin.describe_metadata_quorum()
        except KafkaError:
            return None
        finally:
            admin.close()
        partition = quorum["topics"][0]["partitions"][0]
        leader = int(partition["leader_id"])
        if partition.get("error") or leader < 0 or leader not in self.members or not self.members[leader].alive:
            return None
        return leader

    def __enter__(self) -> LocalKafkaCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

