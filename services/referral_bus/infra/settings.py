"""Runtime settings from the environment (12-factor); one place for every knob."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from referral_bus.infra.kafka.security import KafkaSecurity

#: The file that marks a folder holding the bus's configuration (with agencies.yaml, calendar.yaml,
#: policy.yaml and schemas/avro/ beside it).
_MARKER = "topics.yaml"


class ProjectFilesNotFound(FileNotFoundError):
    """The configuration files (topics.yaml, agencies.yaml, schemas/ …) are nowhere to be found."""


def project_root() -> Path:
    """Where topics.yaml, agencies.yaml, calendar.yaml, policy.yaml and schemas/avro/ live.

    REFERRAL_BUS_HOME when set (an operator's own copy); otherwise the package data
    ``referral_bus.defaults``: copies in an installed wheel, links to the repository's root files in
    a checkout — followed to the folder they live in, so edits to the root files (and
    ``schemas freeze``) act on the single source. Never found by the location of the source tree.
    """
    env = os.environ.get("REFERRAL_BUS_HOME")
    if env:
        home = Path(env).expanduser()
        if not (home / _MARKER).is_file():
            raise ProjectFilesNotFound(
                f"REFERRAL_BUS_HOME={env!r} has no {_MARKER} (no file {home / _MARKER}): point it at a folder "
                f"with {_MARKER}, agencies.yaml, calendar.yaml, policy.yaml and schemas/avro/, or unset it to "
                "use the installed package's files")
        return home
    shipped: Traversable | None
    try:
        shipped = files("referral_bus.defaults")
    except ModuleNotFoundError:
        shipped = None
    if not isinstance(shipped, Path) or not (shipped / _MARKER).is_file():
        # Missing, incomplete or zipped package data: the loaders need real files on disk.
        raise ProjectFilesNotFound(
            f"no {_MARKER} found: the package data referral_bus/defaults/ is missing or not on disk ({shipped}); "
            "reinstall referral-bus from its wheel or set REFERRAL_BUS_HOME to a folder with topics.yaml, "
            "agencies.yaml, calendar.yaml, policy.yaml and schemas/avro/")
    return (shipped / _MARKER).resolve().parent


def _seconds(name: str, default: float) -> float:
    value = os.environ.get(name)
    if not value:
        return float(default)
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None
    if seconds <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return seconds


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = field(default_factory=lambda: os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    #: Prefix for every topic name, so several environments can share one cluster.
    topic_prefix: str = field(default_factory=lambda: os.environ.get("REFERRAL_BUS_TOPIC_PREFIX", ""))
    schema_registry_url: str | None = field(default_factory=lambda: os.environ.get("SCHEMA_REGISTRY_URL") or None)
    root: Path = field(default_factory=project_root)
    #: Largest accepted submission; bigger ones are rejected with OVERSIZED.
    max_event_bytes: int = field(default_factory=lambda: int(os.environ.get("REFERRAL_BUS_MAX_EVENT_BYTES",
                                                                            256 * 1024)))
    #: How far in the future occurred_at may lie (clock skew between agencies and the bus).
    max_clock_skew_seconds: int = field(default_factory=lambda: int(os.environ.get("REFERRAL_BUS_MAX_CLOCK_SKEW", 300)))
    #: How far in the past occurred_at may lie: older is a wrong clock or a mistyped year.
    max_event_age_days: int = field(default_factory=lambda: int(os.environ.get("REFERRAL_BUS_MAX_EVENT_AGE_DAYS",
                                                                               3650)))
    #: The SLA processor waits this long past a due time before declaring a breach, so that a
    #: completing event already on its way through the router is not mistaken for a miss.
    sla_grace_seconds: float = field(default_factory=lambda: float(os.environ.get("REFERRAL_BUS_SLA_GRACE", 10)))
    sla_tick_seconds: float = field(default_factory=lambda: float(os.environ.get("REFERRAL_BUS_SLA_TICK", 1)))
    #: Consumer-group timing, production defaults (Kafka's own): a member that stops heartbeating
    #: is dropped after the session timeout; a rebalance waits up to the rebalance timeout for
    #: members to rejoin. Tests and single-machine runs may shorten them.
    session_timeout_seconds: float = field(default_factory=lambda: _seconds("REFERRAL_BUS_SESSION_TIMEOUT", 45))
    heartbeat_interval_seconds: float = field(default_factory=lambda: _seconds("REFERRAL_BUS_HEARTBEAT_INTERVAL", 3))
    rebalance_timeout_seconds: float = field(default_factory=lambda: _seconds("REFERRAL_BUS_REBALANCE_TIMEOUT", 60))
    #: Longest a stream processor may go between polls before the group drops it (Kafka's 300 s):
    #: rebuilding state from the case log happens between polls, so it must fit in here.
    max_poll_interval_seconds: float = field(default_factory=lambda: _seconds("REFERRAL_BUS_MAX_POLL_INTERVAL", 300))
    #: Producers of the services use Kafka's idempotence (a retried send is never written twice).
    #: Only the opt-in Tansu broker, which cannot grant producer ids, turns it off (tansu_broker.py).
    producer_idempotence: bool = field(default_factory=lambda: os.environ.get(
        "REFERRAL_BUS_PRODUCER_IDEMPOTENCE", "true").strip().lower() not in ("false", "0", "no"))
    #: Port for the Prometheus /metrics endpoint of a service (127.0.0.1); unset = no endpoint.
    metrics_port: int | None = field(default_factory=lambda: int(os.environ["REFERRAL_BUS_METRICS_PORT"])
                                     if os.environ.get("REFERRAL_BUS_METRICS_PORT") else None)
    #: Read models (SQLAlchemy URL); the embedded default is SQLite under the data directory.
    database_url: str | None = field(default_factory=lambda: os.environ.get("REFERRAL_BUS_DATABASE_URL") or None)
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("REFERRAL_BUS_DATA_DIR", ".referral-bus")))
    #: How this process authenticates to Kafka (REFERRAL_BUS_KAFKA_SECURITY …; infra/kafka/security.py).
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity.from_env)
    #: Private signing keys of the agencies this machine speaks for (infra/signing_keys.py);
    #: default ``<data_dir>/signing-keys``.
    signing_key_dir: Path | None = field(default_factory=lambda: Path(os.environ["REFERRAL_BUS_SIGNING_KEY_DIR"])
                                         if os.environ.get("REFERRAL_BUS_SIGNING_KEY_DIR") else None)

    def kafka_python(self) -> dict[str, Any]:
        """Connection settings for a kafka-python client: the servers and this process's credentials."""
        return {"bootstrap_servers": self.bootstrap_servers, **self.kafka_security.kafka_python()}

    @property
    def signing_keys(self) -> Path:
        return self.signing_key_dir or self.data_dir / "signing-keys"

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
