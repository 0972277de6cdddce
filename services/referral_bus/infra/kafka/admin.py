"""``referral-bus topics apply``: create the catalogue's topics, idempotently, and report how the
existing ones differ from it. Partition counts, replication and configs are reported, never
changed blindly (adding partitions would move cases between partitions).

Replication is never lowered silently: a catalogue asking for 3 replicas on a 1-broker cluster is
refused (:class:`ReplicationRefused`) unless the caller says, explicitly, how many replicas to use
(``--replication-factor 1`` on a development broker), and the report then says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import TopicAlreadyExistsError

from referral_bus.infra.catalogue import TopicSpec
from referral_bus.infra.kafka.security import KafkaSecurity


class ReplicationRefused(ValueError):
    """The cluster cannot hold the replicas the catalogue asks for."""


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    #: Said aloud when the replication factor used differs from the catalogue's.
    notices: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return ([f"NOTE      {n}" for n in self.notices] + [f"created   {n}" for n in self.created]
                + [f"exists    {n}" for n in self.unchanged] + [f"DIFFERS   {d}" for d in self.differences])


def effective_specs(specs: list[TopicSpec], brokers: int, replication_factor: int | None) -> tuple[list[TopicSpec],
                                                                                                   list[str]]:
    """The specs as they will be created, and the notices to print. Pure, so it is unit-tested."""
    notices: list[str] = []
    if replication_factor is None:
        short = sorted({s.replication_factor for s in specs if s.replication_factor > brokers})
        if short:
            raise ReplicationRefused(
                f"topics.yaml asks for replication factor {short[-1]} but the cluster has {brokers} broker(s); "
                f"refusing to lower it silently. Add brokers, or pass --replication-factor {brokers} "
                "explicitly for a development cluster.")
        return specs, notices
    if replication_factor < 1 or replication_factor > brokers:
        raise ReplicationRefused(f"--replication-factor {replication_factor} is impossible on {brokers} broker(s)")
    out = []
    for spec in specs:
        config = dict(spec.config)
        if "min.insync.replicas" in config and int(config["min.insync.replicas"]) > replication_factor:
            config["min.insync.replicas"] = str(replication_factor)
        out.append(replace(spec, replication_factor=replication_factor, config=config))
    lowered = sorted({s.replication_factor for s in specs if s.replication_factor != replication_factor})
    if lowered:
        notices.append(f"replication factor {replication_factor} instead of topics.yaml's {lowered} "
                       f"(explicit --replication-factor); min.insync.replicas at most {replication_factor}"
                       + ("; one broker's loss loses data" if replication_factor == 1 else ""))
    return out, notices


def apply_topics(bootstrap_servers: str, specs: list[TopicSpec], *,
                 replication_factor: int | None = None, security: KafkaSecurity | None = None) -> ApplyReport:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="referral-bus-admin",
                             **(security.kafka_python() if security else {}))
    try:
        brokers = max(1, len(admin.describe_cluster().get("brokers", [])))
        specs, notices = effective_specs(specs, brokers, replication_factor)
        existing = set(admin.list_topics())
        report = ApplyReport(notices=notices)
        to_create = [s for s in specs if s.name not in existing]
        if to_create:
            new = [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config) for s in to_create]
            try:
                admin.create_topics(new, validate_only=False)
            except TopicAlreadyExistsError:  # raced with another applier: fine, reported below
                pass
            report.created = [s.name for s in to_create]
            _wait_for_leaders(admin, report.created)
        present = [s for s in specs if s.name in existing]
        if present:
            described = {t.get("name") or t.get("topic"): t for t in admin.describe_topics([s.name for s in present])}
            configs = _describe_configs(admin, [s.name for s in present])
            for spec in present:
                problems = differences(spec, described.get(spec.name, {}), configs.get(spec.name, {}))
                if problems:
                    report.differences.append(f"{spec.name}: " + ", ".join(problems))
                else:
                    report.unchanged.append(spec.name)
        return report
    finally:
        admin.close()


def _wait_for_leaders(admin: KafkaAdminClient, names: list[str], timeout: float = 60.0) -> None:
    """New topics elect their partitions' leaders in the background; wait for them, so that the
    first clients do not start with 'not leader' retries."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = admin.describe_topics(names)
        if all(p.get("leader_id", p.get("leader", -1)) >= 0 for t in described for p in t.get("partitions", [])) \
                and len(described) == len(names):
            return
        time.sleep(0.2)


def differences(spec: TopicSpec, described: dict, configs: dict[str, str]) -> list[str]:  # type: ignore[type-arg]
    """How an existing topic differs from its spec: partitions, replicas per partition, configs."""
    problems = []
    partitions = described.get("partitions", [])
    if len(partitions) != spec.partitions:
        problems.append(f"partitions {len(partitions)} (catalogue: {spec.partitions})")
    replicas = sorted({len(p.get("replica_nodes", p.get("replicas", []))) for p in partitions})
    if replicas and replicas != [spec.replication_factor]:
        problems.append(f"replication factor {'/'.join(map(str, replicas))} (catalogue: {spec.replication_factor})")
    for key, want in spec.config.items():
        have = configs.get(key)
        if have is not None and have != want:
            problems.append(f"{key}={have} (catalogue: {want})")
    return problems


def _describe_configs(admin: KafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    responses = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    if isinstance(responses, dict):  # kafka-python >= 3: {"topic": {name: {key: value}}}
        for name, entries in (responses.get("topic") or {}).items():
            out[name] = {k: str(v.get("value") if isinstance(v, dict) else v) for k, v in entries.items()}
        return out
    for response in responses:  # kafka-python 2: raw DescribeConfigsResponse objects
        for resource in getattr(response, "resources", []):
            out[resource[3]] = {e[0]: e[1] for e in resource[4]}
    return out
