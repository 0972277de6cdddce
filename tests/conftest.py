"""Fixtures: a real Kafka-protocol broker and the bus's real services as processes.

Broker, in order of preference: KAFKA_BOOTSTRAP_SERVERS when set; testcontainers' Kafka when a
Docker engine answers; otherwise a local Apache Kafka broker (KRaft, fetched once with Maven,
``infra/kafka/kafka_cluster.py``) with its log in the session's temporary directory.
``REFERRAL_BUS_BROKER=tansu`` swaps that last one for the memory-only Tansu broker (opt-in).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from referral_bus.infra.kafka.admin import apply_topics
from referral_bus.infra.runtime import Runtime, load_runtime
from referral_bus.infra.settings import Settings

# Consumer groups in tests: a killed service's partitions move within seconds, not Kafka's 45 s —
# with room for a 2-core machine running brokers, services and tests at once.
for _name, _value in {"REFERRAL_BUS_SESSION_TIMEOUT": "15", "REFERRAL_BUS_HEARTBEAT_INTERVAL": "1",
                      "REFERRAL_BUS_REBALANCE_TIMEOUT": "20"}.items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    """The project's own agencies.yaml, topics.yaml, calendar and policy; no broker is ever contacted."""
    return load_runtime(Settings(root=Path(__file__).resolve().parents[1], topic_prefix="",
                                 schema_registry_url=None))


def _docker_engine_answers() -> bool:
    try:
        import docker  # testcontainers' dependency
        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - no engine, no socket, no permission: all mean "no"
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    if _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer
        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    from referral_bus.infra.kafka.local_broker import start_local_broker
    # The session's broker holds the topics of every test's bus (~300 partitions each, ~15,000 over
    # a run): Kafka's 512 MB default heap ran out (OutOfMemoryError) near the end of a full run.
    heap = os.environ.get("REFERRAL_BUS_KAFKA_HEAP")
    os.environ["REFERRAL_BUS_KAFKA_HEAP"] = heap or "2g"
    try:
        broker = start_local_broker(tmp_path_factory.mktemp("kafka"))
    finally:
        if heap is None:   # clusters a test starts for itself keep the default
            del os.environ["REFERRAL_BUS_KAFKA_HEAP"]
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


def replication_for(bootstrap: str) -> int:
    """Replicas for test topics: topics.yaml's 3 where the cluster has 3 brokers, else one per broker
    (said explicitly, as `topics apply --replication-factor` would)."""
    from kafka import KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return min(3, len(admin.describe_cluster()["brokers"]))
    finally:
        admin.close()


def apply_test_topics(runtime: Runtime) -> None:
    servers = runtime.settings.bootstrap_servers
    apply_topics(servers, runtime.catalogue.specs(), replication_factor=replication_for(servers))


def enrol_signing_keys(runtime: Runtime) -> None:
    """Every agency of the directory and the router a signing key, in the runtime's data directory,
    as ``up`` does."""
    from referral_bus.domain.signatures import ROUTER
    from referral_bus.infra.signing_keys import SigningKeyStore, enrol_agencies
    for attempt in range(3):   # late in a full run the shared broker may take minutes to elect leaders
        try:
            enrol_agencies(runtime, SigningKeyStore(runtime.settings.signing_keys),
                           [*sorted(runtime.directory.agencies), ROUTER], by="tests")   # idempotent
            return
        except TimeoutError:
            if attempt == 2:
                raise


def make_runtime(bootstrap: str, prefix: str, data_dir: Path, database_url: str | None = None) -> Runtime:
    return load_runtime(Settings(bootstrap_servers=bootstrap, topic_prefix=prefix, data_dir=data_dir,
                                 database_url=database_url))


@dataclass
class Bus:
    """A namespace of topics (own prefix) with its router and SLA processor running as processes."""

    runtime: Runtime
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: service → port of its Prometheus endpoint, for the services that should serve one
    metrics_ports: dict[str, int] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        s = self.runtime.settings
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap_servers,
               "REFERRAL_BUS_TOPIC_PREFIX": s.topic_prefix, "REFERRAL_BUS_DATA_DIR": str(s.data_dir),
               "REFERRAL_BUS_SLA_GRACE": str(s.sla_grace_seconds),
               # a snapshot every 2 s: each restart and kill -9 in the tests resumes from one
               "REFERRAL_BUS_STATE_SNAPSHOT_SECONDS": os.environ.get("REFERRAL_BUS_STATE_SNAPSHOT_SECONDS", "2")}
        if s.database_url:
            env["REFERRAL_BUS_DATABASE_URL"] = s.database_url
        return env

    def start(self, service: str, instance: str | None = None, **extra_env: str) -> subprocess.Popen[bytes]:
        """Start ``service``; ``instance`` names a further process of it (e.g. ``router-2``, scale-out)."""
        name = instance or service
        log = open(self.logs / f"{name}.log", "ab")
        env = {**self.env, **extra_env}
        if name in self.metrics_ports:   # each service its own address (infra/settings.py)
            env[f"REFERRAL_BUS_{service.upper()}_METRICS_ADDR"] = f"127.0.0.1:{self.metrics_ports[name]}"
        command = "projections" if service == "projector" else service
        proc = subprocess.Popen([sys.executable, "-m", "referral_bus.cli", command, "run"], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = proc
        return proc

    def kill9(self, service: str) -> None:
        proc = self.processes[service]
        proc.kill()
        proc.wait(10)

    def discard_topics(self) -> None:
        """Delete this bus's topics (its own prefix) from the shared session broker once its module is
        done: otherwise the broker holds every module's topics (~300 partitions a bus) and, late in
        a full run, leader elections for new topics slow past the tests' timeouts. Best effort: a
        topic left behind only costs the broker memory."""
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError
        prefix = self.runtime.settings.topic_prefix
        if not prefix:
            return
        try:
            admin = KafkaAdminClient(bootstrap_servers=self.runtime.settings.bootstrap_servers)
        except KafkaError:
            return
        try:
            mine = [t for t in admin.list_topics() if t.startswith(prefix)]
            if mine:
                admin.delete_topics(mine, timeout_ms=30_000)
        except KafkaError:
            pass
        finally:
            admin.close()

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def wait_ready(self, timeout: float = 120.0, runtime: Runtime | None = None) -> None:
        """Until a warm-up referral is answered; fails at once, with the log, if a service died.
        ``runtime``: the school's connection when it is not the bus's own (a secured broker)."""
        from kafka.errors import KafkaError

        from referral_bus.sdk import AgencyClient, PublishError
        from tests.builders import referral
        deadline = time.monotonic() + timeout
        with AgencyClient("school-almaty", actor_id="warmup", runtime=runtime or self.runtime) as client:
            event = referral(client, f"WARMUP-{secrets.token_hex(3)}")
            value = client.validate(event)
            while True:
                for name, proc in self.processes.items():
                    if proc.poll() is not None:
                        raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_text(name)[-3000:]}")
                try:
                    receipt = client.publish_raw(event.envelope.case_id.encode(), value,
                                                 receipt_key=str(event.envelope.event_id), timeout=5)
                    assert receipt is not None and receipt.status.value in ("ACCEPTED", "DUPLICATE"), receipt
                    return
                except (PublishError, KafkaError):  # no receipt yet, or fresh topics still electing leaders
                    if time.monotonic() > deadline:
                        raise

    def log_text(self, service: str) -> str:
        return (self.logs / f"{service}.log").read_text(errors="replace")

    def log_events(self, service: str, event: str) -> list[dict[str, object]]:
        """The service's structured log lines of ``event``, parsed (JSON after any terminal codes)."""
        out: list[dict[str, object]] = []
        for line in self.log_text(service).splitlines():
            if f'"event": "{event}"' in line:
                try:
                    out.append(json.loads(line[line.index("{"):]))
                except ValueError:
                    continue
        return out


def start_bus(bootstrap: str, tmp: Path, services: tuple[str, ...] = ("router", "sla"),
              metrics_ports: dict[str, int] | None = None, database_url: str | None = None) -> Bus:
    prefix = f"t{secrets.token_hex(3)}."
    runtime = make_runtime(bootstrap, prefix, tmp / "data", database_url)
    apply_test_topics(runtime)
    enrol_signing_keys(runtime)
    bus = Bus(runtime, tmp, metrics_ports=metrics_ports or {})
    for service in services:
        bus.start(service)
    return bus


def ready_bus(bootstrap: str, tmp: Path) -> Iterator[Bus]:
    """A started bus once a warm-up referral is answered; stopped and its topics discarded after."""
    bus = start_bus(bootstrap, tmp)
    try:
        bus.wait_ready()
        yield bus
    finally:
        bus.stop()
        bus.discard_topics()


@pytest.fixture(scope="module")
def bus(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    """Router and SLA processor on their own topics, shared by a test module."""
    yield from ready_bus(kafka_bootstrap, tmp_path_factory.mktemp("bus"))


@pytest.fixture
def own_bus(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Bus]:
    """A router and SLA processor of this test's own, for tests that kill and restart them."""
    yield from ready_bus(kafka_bootstrap, tmp_path)


@pytest.fixture
def postgres_database() -> Iterator[Callable[[], str]]:
    """Makes fresh PostgreSQL databases on the local server (scripts/test.sh starts it) and drops
    them afterwards. Returns SQLAlchemy URLs."""
    import psycopg
    admin_url = os.environ.get("REFERRAL_BUS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    made: list[str] = []

    def make() -> str:
        name = f"rb_test_{secrets.token_hex(4)}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"

    yield make
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.5, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
