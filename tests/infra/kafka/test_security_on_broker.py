"""Attacks on a secured Apache Kafka broker (SASL/SCRAM over TLS, ACLs from topics.yaml and
agencies.yaml) with the router and SLA processor running under their own least-privilege
principals: the broker itself refuses a client without credentials, a wrong or revoked password,
an agency writing another kind's ingress or the case log, an agency reading another agency's inbox
or the case log, and a service stepping outside its rights — while agencies with their own
credentials are served end to end."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, TopicAuthorizationFailedError

from referral_bus.contracts.bus_records import ReceiptStatus
from referral_bus.infra.kafka.acls import apply_acls, grants, principals, service_principal
from referral_bus.infra.kafka.admin import apply_topics
from referral_bus.infra.kafka.credentials import issue, revoke, wait_until_usable
from referral_bus.infra.kafka.kafka_cluster import LocalKafkaCluster
from referral_bus.infra.kafka.security import KafkaSecurity
from referral_bus.infra.runtime import Runtime, load_runtime
from referral_bus.infra.settings import Settings
from referral_bus.sdk import AgencyClient
from tests.builders import case_id, referral
from tests.conftest import Bus, enrol_signing_keys

pytestmark = [pytest.mark.broker]

SERVICE_OF = {"router": "router", "sla": "sla", "projector": "projections"}


@dataclass
class Secured:
    cluster: LocalKafkaCluster
    runtime: Runtime   # the admin's view (super user): for setting up and for checking only
    bus: Bus
    prefix: str

    def runtime_for(self, principal: str, security: KafkaSecurity | None = None) -> Runtime:
        return load_runtime(Settings(bootstrap_servers=self.cluster.bootstrap_servers, topic_prefix=self.prefix,
                                     data_dir=self.runtime.settings.data_dir,
                                     kafka_security=security or self.cluster.security_for(principal)))

    def client(self, principal: str, **extra: object) -> dict[str, object]:
        """kafka-python settings for ``principal``."""
        return {**self.runtime_for(principal).settings.kafka_python(), "request_timeout_ms": 10000, **extra}

    def topic(self, topic_id: str, **fill: str) -> str:
        return self.runtime.catalogue.name(topic_id, **fill)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    cluster = LocalKafkaCluster(tmp_path_factory.mktemp("kafka-secured"), nodes=1, heap="384m", secured=True,
                                extra={"group.initial.rebalance.delay.ms": "0"})
    cluster.start()
    try:
        prefix = f"s{secrets.token_hex(3)}."
        tmp = tmp_path_factory.mktemp("secured-bus")
        runtime = load_runtime(Settings(bootstrap_servers=cluster.bootstrap_servers, topic_prefix=prefix,
                                        data_dir=tmp / "data", kafka_security=cluster.admin_security))
        apply_topics(cluster.bootstrap_servers, runtime.catalogue.specs(), replication_factor=1,
                     security=cluster.admin_security)
        admin = KafkaAdminClient(**runtime.settings.kafka_python())
        try:
            issue(admin, cluster.credentials, principals(runtime.directory))
            wait_until_usable(cluster.bootstrap_servers.split(","),
                              cluster.credentials.load(principals(runtime.directory)[-1]))
            apply_acls(admin, grants(runtime.catalogue, runtime.directory), principals(runtime.directory))
        finally:
            admin.close()
        enrol_signing_keys(runtime)  # as the administrator
        bus = Bus(runtime, tmp)
        for service in ("router", "sla"):
            principal = service_principal(SERVICE_OF[service])
            bus.start(service, **cluster.security_for(principal).as_env(cluster.credentials.password_file(principal)))
        secured = Secured(cluster, runtime, bus, prefix)
        try:
            yield secured
        finally:
            bus.stop()
    finally:
        cluster.stop()


def refused_to_connect(settings: dict[str, object]) -> KafkaError:
    """The client never gets an answer from the broker (its bootstrap fails)."""
    with pytest.raises(KafkaError) as caught:
        admin = KafkaAdminClient(**settings)  # type: ignore[arg-type]
        try:
            admin.list_topics()
        finally:
            admin.close()
    return caught.value


def refused_credentials(secured: Secured) -> int:
    """SCRAM failures the broker has logged so far (its log names every failed authentication)."""
    return secured.cluster.members[1].output.read_text(errors="replace").count("due to invalid credentials")


def assert_authentication_failed(secured: Secured, caplog: pytest.LogCaptureFixture, logged_before: int) -> None:
    """The refusal was an authentication failure, not silence: the client was told so, or (when the
    broker's close outran its answer) the broker logged a new one."""
    assert "SaslAuthenticationFailedError" in caplog.text or refused_credentials(secured) > logged_before


def test_a_client_without_credentials_is_not_served(secured: Secured) -> None:
    refused_to_connect({"bootstrap_servers": secured.cluster.bootstrap_servers, "request_timeout_ms": 5000})


def test_a_wrong_password_is_refused(secured: Secured, caplog: pytest.LogCaptureFixture) -> None:
    good = secured.cluster.security_for("school-almaty")
    wrong = KafkaSecurity("sasl_ssl", "school-almaty", "not-the-password", good.ca_file)
    before = refused_credentials(secured)
    refused_to_connect({**secured.runtime_for("school-almaty", wrong).settings.kafka_python(),
                        "request_timeout_ms": 5000})
    assert_authentication_failed(secured, caplog, before)


def test_a_revoked_principal_is_refused(secured: Secured, caplog: pytest.LogCaptureFixture) -> None:
    admin = KafkaAdminClient(**secured.runtime.settings.kafka_python())
    try:
        issue(admin, secured.cluster.credentials, ["revoked-tool"])
        tool = secured.cluster.security_for("revoked-tool")
        probe = KafkaAdminClient(**secured.runtime_for("revoked-tool", tool).settings.kafka_python())
        probe.close()  # authenticated while the credential stood
        revoke(admin, secured.cluster.credentials, ["revoked-tool"])
    finally:
        admin.close()
    caplog.clear()
    before = refused_credentials(secured)
    refused_to_connect({**secured.runtime_for("revoked-tool", tool).settings.kafka_python(),
                        "request_timeout_ms": 5000})
    assert_authentication_failed(secured, caplog, before)


def test_an_agency_writes_only_its_own_ingress(secured: Secured) -> None:
    producer = KafkaProducer(**secured.client("school-almaty"), acks="all", enable_idempotence=True)
    try:
        producer.send(secured.topic("ingress", agency="school-almaty"), b"not even avro", key=b"CASE").get(timeout=30)
        for forbidden in (secured.topic("ingress", agency="police-juvenile-almaty"),
                          secured.topic("ingress", agency="school-shymkent"),  # its neighbour of the same kind
                          secured.topic("case_log"), secured.topic("inbox", agency="cam-almaty"),
                          secured.topic("receipts", agency="school-almaty"), secured.topic("escalations")):
            with pytest.raises(TopicAuthorizationFailedError):
                producer.send(forbidden, b"forged", key=b"CASE").get(timeout=30)
    finally:
        producer.close(timeout=5)


@pytest.mark.parametrize("topic_id, fill", [
    ("inbox", {"agency": "guardianship-shymkent"}), ("case_log", {}), ("ingress", {"agency": "school-shymkent"}),
    ("receipts", {"agency": "school-shymkent"}), ("sla", {}), ("dead_letter", {})])
def test_an_agency_reads_nothing_but_its_own_inbox_and_receipts(secured: Secured, topic_id: str, fill: dict[str, str],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    topic = secured.topic(topic_id, **fill)
    planted = KafkaProducer(**secured.runtime.settings.kafka_python(), acks="all")  # the admin plants a record
    planted.send(topic, b"what the school must not see", key=b"CASE", partition=0).get(timeout=30)
    planted.close(timeout=5)
    consumer = KafkaConsumer(**secured.client("school-almaty"), group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    try:
        consumer.assign([TopicPartition(topic, 0)])
        got = [r for _ in range(8) for batch in consumer.poll(timeout_ms=500).values() for r in batch]
    finally:
        consumer.close()
    assert got == []
    assert f"Topic {topic} is not authorized for this client" in caplog.text  # refused by the broker


def test_a_service_cannot_step_outside_its_rights(secured: Secured) -> None:
    # not idempotent: a principal with no WRITE anywhere would be refused a producer id first
    projections = KafkaProducer(**secured.client(service_principal("projections")), acks="all",
                                enable_idempotence=False)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            projections.send(secured.topic("case_log"), b"forged", key=b"CASE").get(timeout=30)
    finally:
        projections.close(timeout=5)
    sla = KafkaProducer(**secured.client(service_principal("sla")), acks="all")
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            sla.send(secured.topic("receipts", agency="school-almaty"), b"forged", key=b"E").get(timeout=30)
    finally:
        sla.close(timeout=5)


def test_agencies_with_their_own_credentials_are_served_end_to_end(secured: Secured) -> None:
    """The router and SLA processor run as rb-router and rb-sla; a school's referral is answered
    and reaches the CAM's inbox, which the CAM reads with its own principal."""
    secured.bus.wait_ready(timeout=180, runtime=secured.runtime_for("school-almaty"))
    case = case_id("SEC")
    with AgencyClient("school-almaty", actor_id="teacher-1", runtime=secured.runtime_for("school-almaty")) as school:
        receipt = school.publish(referral(school, case), wait_for_receipt=True, timeout=60)
    assert receipt is not None and receipt.status is ReceiptStatus.ACCEPTED
    with AgencyClient("cam-almaty", actor_id="manager-1", runtime=secured.runtime_for("cam-almaty")) as cam:
        items = [i for i in cam.inbox(group_id=f"cam-almaty-{uuid.uuid4().hex[:6]}", idle_timeout=5)
                 if i.record.envelope.case_id == case]  # type: ignore[attr-defined]
    assert [i.paragraph for i in items] == ["4.5(b)(i), 4.6"]


def test_secrets_are_kept_private(secured: Secured) -> None:
    """Passwords, keys and the nodes' properties (which hold the brokers' own secret) are 0600."""
    data = secured.cluster.data_dir
    private = [*Path(data / "secrets" / "principals").glob("*.password"), *Path(data / "secrets" / "tls").glob("*.key"),
               *Path(data / "secrets" / "tls").glob("node-*.pem"), *Path(data / "config").glob("node-*.properties")]
    assert private and all(p.stat().st_mode & 0o077 == 0 for p in private), [
        (str(p), oct(p.stat().st_mode)) for p in private if p.stat().st_mode & 0o077]


def test_the_operator_commands_manage_acls_and_credentials(secured: Secured, tmp_path: Path) -> None:
    """`acl apply` finds the broker's ACLs as generated; `credentials issue|rotate|revoke` enrol a
    tool, replace its password (the old one stops working) and remove it — as the admin, across a
    process boundary."""
    import subprocess
    import sys
    admin = secured.cluster.credentials
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": secured.cluster.bootstrap_servers,
           "REFERRAL_BUS_TOPIC_PREFIX": secured.prefix,
           **secured.cluster.admin_security.as_env(admin.password_file("admin"))}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "referral_bus.cli", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    applied = cli("acl", "apply")
    assert applied.returncode == 0 and applied.stdout.strip().splitlines()[-1].startswith("0 created, 0 removed"), \
        applied.stdout + applied.stderr
    secrets_dir = str(tmp_path / "issued")
    issued = cli("credentials", "issue", "audit-tool", "--any-name", "--secrets-dir", secrets_dir)
    assert issued.returncode == 0, issued.stderr
    first = (tmp_path / "issued" / "audit-tool.password").read_text().strip()
    assert first not in issued.stdout + issued.stderr          # the password is never printed
    assert (tmp_path / "issued" / "audit-tool.password").stat().st_mode & 0o077 == 0
    refused = cli("credentials", "issue", "not-an-agency", "--secrets-dir", secrets_dir)
    assert refused.returncode == 2 and "neither agencies" in refused.stderr
    assert cli("credentials", "rotate", "audit-tool", "--any-name", "--secrets-dir", secrets_dir).returncode == 0
    old = KafkaSecurity("sasl_ssl", "audit-tool", first, secured.cluster.credentials.ca_file)
    before = refused_credentials(secured)
    refused_to_connect({**secured.runtime_for("audit-tool", old).settings.kafka_python(), "request_timeout_ms": 5000})
    assert refused_credentials(secured) > before
    assert cli("credentials", "revoke", "audit-tool", "--any-name", "--secrets-dir", secrets_dir).returncode == 0
    assert not (tmp_path / "issued" / "audit-tool.password").exists()
