"""``referral-bus topics apply``: create the catalogue's topics, idempotently, and report how the
existing ones differ from it (partition counts and configs are reported, never changed blindly —
adding partitions would move cases between partitions)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import TopicAlreadyExistsError

from ..catalogue import TopicSpec


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return ([f"created   {n}" for n in self.created] + [f"exists    {n}" for n in self.unchanged]
                + [f"DIFFERS   {d}" for d in self.differences])


def apply_topics(bootstrap_servers: str, specs: list[TopicSpec]) -> ApplyReport:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="referral-bus-admin")
    try:
        brokers = max(1, len(admin.describe_cluster().get("brokers", [])))
        existing = set(admin.list_topics())
        report = ApplyReport()
        to_create = [s for s in specs if s.name not in existing]
        if to_create:
            new = [NewTopic(s.name, s.partitions, min(s.replication_factor, brokers),
                            topic_configs=_configs(s, brokers)) for s in to_create]
            try:
                admin.create_topics(new, validate_only=False)
            except TopicAlreadyExistsError:  # raced with another applier: fine, reported below
                pass
            report.created = [s.name for s in to_create]
        present = [s for s in specs if s.name in existing]
        if present:
            described = {t.get("name") or t.get("topic"): t for t in admin.describe_topics([s.name for s in present])}
            configs = _describe_configs(admin, [s.name for s in present])
            for spec in present:
                problems = []
                partitions = len(described.get(spec.name, {}).get("partitions", []))
                if partitions != spec.partitions:
                    problems.append(f"partitions {partitions} (catalogue: {spec.partitions})")
                for key, want in _configs(spec, brokers).items():
                    have = configs.get(spec.name, {}).get(key)
                    if have is not None and have != want:
                        problems.append(f"{key}={have} (catalogue: {want})")
                if problems:
                    report.differences.append(f"{spec.name}: " + ", ".join(problems))
                else:
                    report.unchanged.append(spec.name)
        return report
    finally:
        admin.close()


def _configs(spec: TopicSpec, brokers: int) -> dict[str, str]:
    config = dict(spec.config)
    if "min.insync.replicas" in config:  # cannot exceed the replicas a small cluster can give
        config["min.insync.replicas"] = str(min(int(config["min.insync.replicas"]), min(spec.replication_factor, brokers)))
    return config


def _describe_configs(admin: KafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    try:
        responses = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    except Exception:  # noqa: BLE001 - a broker without DescribeConfigs: report partitions only
        return out
    if isinstance(responses, dict):  # kafka-python >= 3: {"topic": {name: {key: value}}}
        for name, entries in (responses.get("topic") or {}).items():
            out[name] = {k: (v.get("value") if isinstance(v, dict) else v) for k, v in entries.items()}
        return out
    for response in responses:  # kafka-python 2: raw DescribeConfigsResponse objects
        for resource in getattr(response, "resources", []):
            out[resource[3]] = {e[0]: e[1] for e in resource[4]}
    return out
