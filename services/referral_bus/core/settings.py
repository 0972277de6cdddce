"""Runtime settings from the environment (12-factor); one place for every knob."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def project_root() -> Path:
    """Where topics.yaml, agencies.yaml and schemas/ live (REFERRAL_BUS_HOME overrides)."""
    env = os.environ.get("REFERRAL_BUS_HOME")
    return Path(env) if env else Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = field(default_factory=lambda: os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    #: Prefix for every topic name, so several environments can share one cluster.
    topic_prefix: str = field(default_factory=lambda: os.environ.get("REFERRAL_BUS_TOPIC_PREFIX", ""))
    schema_registry_url: str | None = field(default_factory=lambda: os.environ.get("SCHEMA_REGISTRY_URL") or None)
    root: Path = field(default_factory=project_root)
    #: Largest accepted submission; bigger ones are rejected with OVERSIZED.
    max_event_bytes: int = field(default_factory=lambda: int(os.environ.get("REFERRAL_BUS_MAX_EVENT_BYTES", 256 * 1024)))
    #: How far in the future occurred_at may lie (clock skew between agencies and the bus).
    max_clock_skew_seconds: int = field(default_factory=lambda: int(os.environ.get("REFERRAL_BUS_MAX_CLOCK_SKEW", 300)))
    #: The SLA processor waits this long past a due time before declaring a breach, so that a
    #: completing event already on its way through the router is not mistaken for a miss.
    sla_grace_seconds: float = field(default_factory=lambda: float(os.environ.get("REFERRAL_BUS_SLA_GRACE", 10)))
    sla_tick_seconds: float = field(default_factory=lambda: float(os.environ.get("REFERRAL_BUS_SLA_TICK", 1)))
    #: Consumer-group timing. Short rebalance timeouts are fine on Kafka and needed on Tansu,
    #: which holds a join for the whole rebalance timeout (EMBEDDED_BROKER.md, item 4).
    rebalance_timeout_seconds: float = 10.0
    session_timeout_seconds: float = 10.0
    #: Port for the Prometheus /metrics endpoint of a service (127.0.0.1); unset = no endpoint.
    metrics_port: int | None = field(default_factory=lambda: int(os.environ["REFERRAL_BUS_METRICS_PORT"])
                                     if os.environ.get("REFERRAL_BUS_METRICS_PORT") else None)
    #: Read models (SQLAlchemy URL); the embedded default is SQLite under the data directory.
    database_url: str | None = field(default_factory=lambda: os.environ.get("REFERRAL_BUS_DATABASE_URL") or None)
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("REFERRAL_BUS_DATA_DIR", ".referral-bus")))

    @property
    def read_model_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'read-models.db'}"

    @property
    def schemas_dir(self) -> Path:
        return self.root / "schemas" / "avro"

    @property
    def topics_file(self) -> Path:
        return self.root / "topics.yaml"

    @property
    def policy_file(self) -> Path:
        return self.root / "policy.yaml"

    @property
    def calendar_file(self) -> Path:
        return self.root / "calendar.yaml"

    @property
    def agencies_file(self) -> Path:
        return self.root / "agencies.yaml"
