"""``referral-bus archive DIR`` and ``referral-bus restore DIR``.

An archive holds the case log as Avro object container files, one per partition, each record the
exact bytes of the log record (key, value, headers, timestamp, offset) so hashes and ids survive
byte for byte; ``manifest.json`` carries counts, offsets, file checksums, a digest of every case's
chain head and the writer schemas the values need, so the archive reads without a registry.
The signing-key directory (``rb.signing-keys``) and the router's signed chain checkpoints
(``rb.checkpoints``) go with it, so every signature and every chain head in the archive can be
verified long after the bus that recorded it is gone. Restore refuses a damaged archive or a
non-empty target, republishes in the original per-partition order, and adds the archive's
signing keys and checkpoints the target lacks.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
from kafka import KafkaProducer

from referral_bus.contracts.base import Event
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.kafka.log_reader import read_to_end_sync
from referral_bus.infra.runtime import Runtime

ARCHIVED_RECORD: dict[str, Any] = {
    "type": "record", "name": "ArchivedRecord", "namespace": "kz.referralbus.archive",
    "doc": "One record of the case log, byte for byte",
    "fields": [
        {"name": "partition", "type": "int"},
        {"name": "offset", "type": "long"},
        {"name": "timestamp_ms", "type": "long"},
        {"name": "key", "type": ["null", "bytes"]},
        {"name": "value", "type": "bytes"},
        {"name": "headers", "type": {"type": "array", "items": {
            "type": "record", "name": "Header", "fields": [{"name": "key", "type": "string"},
                                                           {"name": "value", "type": "bytes"}]}}},
    ],
}


#: Topics archived with the case log, because verifying it needs them: topic id → file
COMPANIONS = {"signing_keys": "signing-keys.avro", "checkpoints": "checkpoints.avro"}


class ArchiveError(ValueError):
    pass


@dataclass
class ArchiveSummary:
    records: int
    cases: int
    partitions: int


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _chain_heads_digest(heads: dict[str, tuple[int, str]]) -> str:
    lines = "".join(f"{case}:{seq}:{h}\n" for case, (seq, h) in sorted(heads.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def _row(r: Any) -> dict[str, Any]:
    return {"partition": r.partition, "offset": r.offset, "timestamp_ms": r.timestamp, "key": r.key, "value": r.value,
            "headers": [{"key": k, "value": v} for k, v in (r.headers or [])]}


def _read_rows(directory: Path, entry: dict[str, Any]) -> list[dict[str, Any]]:
    path = directory / entry["file"]
    if not path.exists():
        raise ArchiveError(f"{entry['file']}: missing")
    if _sha256(path) != entry["sha256"]:
        raise ArchiveError(f"{entry['file']}: checksum differs from the manifest (damaged or altered)")
    with path.open("rb") as f:
        rows: list[dict[str, Any]] = [row for row in fastavro.reader(f) if isinstance(row, dict)]
    if len(rows) != entry["records"]:
        raise ArchiveError(f"{entry['file']}: {len(rows)} records, manifest says {entry['records']}")
    return rows


def archive(runtime: Runtime, directory: Path) -> ArchiveSummary:
    topic = runtime.catalogue.name("case_log")
    records = read_to_end_sync(runtime.settings, [topic], progress="archiving the case log")
    by_partition: dict[int, list[Any]] = defaultdict(list)
    heads: dict[str, tuple[int, str]] = {}
    schema_ids: set[int] = set()
    for r in records:
        by_partition[r.partition].append(r)
        try:
            event = runtime.codec.decode(r.value)
        except DecodeError:
            continue   # archived byte for byte all the same (no writer schema to keep); verify names it
        schema_ids.add(int.from_bytes(r.value[1:5], "big"))
        if isinstance(event, Event) and event.envelope.sequence and event.envelope.hash:
            heads[event.envelope.case_id] = (event.envelope.sequence, event.envelope.hash)
    directory.mkdir(parents=True, exist_ok=True)
    parsed = fastavro.parse_schema(ARCHIVED_RECORD)
    partitions = {}
    for partition in range(runtime.catalogue.partitions("case_log")):
        rows = by_partition.get(partition, [])
        path = directory / f"case-log.p{partition}.avro"
        with path.open("wb") as out:
            fastavro.writer(out, parsed, (_row(r) for r in rows), codec="deflate")
        partitions[str(partition)] = {"file": path.name, "records": len(rows), "sha256": _sha256(path),
                                      "first_offset": rows[0].offset if rows else None,
                                      "last_offset": rows[-1].offset if rows else None}
    companions = {}
    for topic_id, file_name in COMPANIONS.items():
        rows = read_to_end_sync(runtime.settings, [runtime.catalogue.name(topic_id)])
        schema_ids.update(int.from_bytes(r.value[1:5], "big") for r in rows)
        path = directory / file_name
        with path.open("wb") as out:
            fastavro.writer(out, parsed, (_row(r) for r in rows), codec="deflate")
        companions[topic_id] = {"file": file_name, "records": len(rows), "sha256": _sha256(path)}
    manifest = {
        "format": "referral-bus case-log archive v1", "topic": topic, "companions": companions,
        "created_at": datetime.now(UTC).isoformat(), "records": len(records), "cases": len(heads),
        "chain_heads_sha256": _chain_heads_digest(heads), "partitions": partitions,
        "writer_schemas": {str(i): runtime.registry.lookup(i) for i in sorted(schema_ids)},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return ArchiveSummary(len(records), len(heads), len(partitions))


def read_archive(directory: Path) -> tuple[dict[str, Any], dict[int, list[dict[str, Any]]]]:
    """The manifest and the records, after checking every file against the manifest."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        raise ArchiveError(f"{directory}: no manifest.json")
    try:
        manifest = json.loads(manifest_path.read_text())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("partitions"), dict):
            raise ArchiveError(f"{manifest_path}: not a referral-bus archive manifest (no partitions)")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{manifest_path}: not valid JSON ({type(exc).__name__}); the archive is damaged") from None
    out = {int(partition): _read_rows(directory, entry) for partition, entry in manifest["partitions"].items()}
    return manifest, out


def read_companion(directory: Path, manifest: dict[str, Any], topic_id: str) -> list[dict[str, Any]]:
    """The records of a companion topic archived with the case log (none in older archives)."""
    entry = manifest.get("companions", {}).get(topic_id)
    return _read_rows(directory, entry) if entry else []


def restore(runtime: Runtime, directory: Path) -> ArchiveSummary:
    manifest, partitions = read_archive(directory)
    topic = runtime.catalogue.name("case_log")
    if read_to_end_sync(runtime.settings, [topic]):
        raise ArchiveError(f"{topic} is not empty: restore only into an empty cluster")
    for schema in manifest["writer_schemas"].values():
        runtime.registry.register(f"{schema['namespace']}.{schema['name']}", schema)
    companions = {topic_id: read_companion(directory, manifest, topic_id) for topic_id in COMPANIONS}
    producer = KafkaProducer(**runtime.settings.kafka_python(), enable_idempotence=True,
                             acks="all", linger_ms=5)
    try:
        for topic_id, rows in companions.items():   # in their order; what the target already holds is skipped
            name = runtime.catalogue.name(topic_id)
            present = {r.value for r in read_to_end_sync(runtime.settings, [name])}
            for row in rows:
                if row["value"] not in present:
                    producer.send(name, key=row["key"], value=row["value"], timestamp_ms=row["timestamp_ms"])
        for partition, rows in sorted(partitions.items()):
            for row in rows:  # idempotent producer: per-partition order is kept
                producer.send(topic, key=row["key"], value=row["value"], partition=partition,
                              timestamp_ms=row["timestamp_ms"], headers=[(h["key"],
                                                                          h["value"]) for h in row["headers"]])
        producer.flush()
    finally:
        producer.close()
    return ArchiveSummary(sum(len(r) for r in partitions.values()), manifest["cases"], len(partitions))
