"""The broker ``referral-bus broker``, ``up``, the tests and the benchmarks start on this machine.

Apache Kafka (durable, on disk under the data directory) unless ``REFERRAL_BUS_BROKER=tansu`` asks
for the memory-only Tansu broker (opt-in for machines without Java; see ``tansu_broker``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from referral_bus.infra.kafka.broker_config import Profile


class LocalBroker(Protocol):
    @property
    def bootstrap_servers(self) -> str: ...

    def stop(self) -> None: ...


def broker_kind() -> str:
    """``REFERRAL_BUS_BROKER``: 'kafka' (default) or 'tansu' (settings.py checks it)."""
    from referral_bus.infra.settings import broker_kind as setting
    return setting()


def start_local_broker(data_dir: Path, *, port: int | None = None, nodes: int = 1,
                       profile: Profile = "development", log_path: Path | None = None,
                       secured: bool = False) -> LocalBroker:
    """Start a broker keeping its log in ``data_dir`` (Apache Kafka) and wait until it serves.
    ``secured``: SASL/SCRAM over TLS and ACLs (Apache Kafka only; docs/security.md)."""
    if broker_kind() == "tansu":
        if secured:
            raise ValueError("the Tansu broker has no authentication; a secured broker is Apache Kafka")
        from referral_bus.infra.kafka.tansu_broker import TansuBroker
        if nodes != 1:
            raise ValueError("the Tansu broker runs one node only")
        return (TansuBroker(port=port, log_path=log_path) if port else TansuBroker(log_path=log_path)).start()
    from referral_bus.infra.kafka.kafka_cluster import LocalKafkaCluster
    return LocalKafkaCluster(data_dir, nodes=nodes, port=port, profile=profile, secured=secured).start()
