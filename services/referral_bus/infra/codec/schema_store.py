"""The schema files: ``schemas/avro/<Record>.avsc`` (current) and ``schemas/avro/versions/<Record>/vN.avsc``
(every released version). Checks BACKWARD_TRANSITIVE compatibility with Apache Avro's own checker."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from referral_bus.contracts import ALL_RECORDS, Record
from referral_bus.contracts.base import Event
from referral_bus.domain.canonical import ListShape, MapShape, RecordShape, Shape, install_versions, shape_of
from referral_bus.infra.codec.schema_export import avro_schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class SchemaProblem:
    record: str
    message: str

    def __str__(self) -> str:
        return f"{self.record}: {self.message}"


class SchemaStore:
    def __init__(self, directory: Path, records: dict[str, type[Record]] | None = None) -> None:
        self.directory = directory
        self.records = records or ALL_RECORDS

    def current_path(self, name: str) -> Path:
        return self.directory / f"{name}.avsc"

    def version_paths(self, name: str) -> list[Path]:
        folder = self.directory / "versions" / name
        paths = list(folder.glob("v*.avsc")) if folder.exists() else []
        return sorted(paths, key=lambda p: int(p.stem[1:]))

    def version_of(self, name: str) -> int:
        """The released version number of the current schema (1 when never frozen)."""
        return max(1, len(self.version_paths(name)))

    def released(self) -> dict[str, list[dict[str, Any]]]:
        """Every record's released versions, oldest first (``[v1, v2, …]``)."""
        return {name: [json.loads(p.read_text()) for p in self.version_paths(name)] for name in self.records}

    def install_canonical_versions(self) -> dict[str, list[dict[str, Any]]]:
        """Tell ``domain/canonical.py`` the fields of every released version, so that hashes,
        signatures and fingerprints of an event cover the fields of the version it was written with;
        returns what it read (the codec encodes with the same versions)."""
        released = self.released()
        install_versions({(name, number): shape for name, versions in released.items()
                          for number, schema in enumerate(versions, start=1)
                          if isinstance(shape := shape_of(schema), RecordShape)})
        return released

    def removed_fields(self, schema: dict[str, Any], name: str) -> list[str]:
        """Fields of a released version of a case event that ``schema`` no longer has: allowed by
        Avro, refused here — an event written with that version could not be verified any more (its
        hash and signature cover that field, ``domain/canonical.py``, and decoding drops it)."""
        if not issubclass(self.records[name], Event):
            return []
        now = _field_paths(shape_of(schema))
        return [f"{path.stem} has {field!r}, which this schema removes; older events could no longer be verified"
                for path in self.version_paths(name)
                for field in sorted(_field_paths(shape_of(json.loads(path.read_text()))) - now)]

    def incompatibilities(self, reader: dict[str, Any], name: str) -> list[str]:
        """Reasons ``reader`` cannot read data written with any released version (BACKWARD_TRANSITIVE)."""
        new = avro.schema.parse(json.dumps(reader))
        problems = []
        for path in self.version_paths(name):
            old = avro.schema.parse(path.read_text())
            checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]  # avro ships no types
            result = checker.get_compatibility(new, old)
            if result.compatibility is not SchemaCompatibilityType.compatible:
                detail = "; ".join(sorted(result.messages)) or "incompatible"
                problems.append(f"cannot read data written with {path.stem}: {detail}")
        return problems

    def check(self) -> list[SchemaProblem]:
        """Every way the files differ from the models, or a model breaks compatibility."""
        problems: list[SchemaProblem] = []
        for name, model in self.records.items():
            schema = avro_schema(model)
            path = self.current_path(name)
            if not path.exists() or json.loads(path.read_text()) != schema:
                problems.append(SchemaProblem(name, f"{path.name} differs from the pydantic model "
                                                    "(run `referral-bus schemas freeze`)"))
            versions = self.version_paths(name)
            if not versions or json.loads(versions[-1].read_text()) != schema:
                problems.append(SchemaProblem(name, "current schema is not a released version "
                                                    "(run `referral-bus schemas freeze`)"))
            problems += [SchemaProblem(name, m) for m in self.incompatibilities(schema, name)]
            problems += [SchemaProblem(name, m) for m in self.removed_fields(schema, name)]
        return problems

    def freeze(self) -> list[str]:
        """Write current files and release a new version where the model changed compatibly."""
        changes = []
        for name, model in self.records.items():
            schema = avro_schema(model)
            reasons = self.incompatibilities(schema, name) + self.removed_fields(schema, name)
            if reasons:
                raise ValueError(f"{name} is not BACKWARD_TRANSITIVE compatible: " + " | ".join(reasons))
            versions = self.version_paths(name)
            if not versions or json.loads(versions[-1].read_text()) != schema:
                target = self.directory / "versions" / name / f"v{len(versions) + 1}.avsc"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(render(schema))
                changes.append(f"released {name} {target.stem}")
            path = self.current_path(name)
            if not path.exists() or path.read_text() != render(schema):
                path.write_text(render(schema))
                changes.append(f"wrote {path.name}")
        return changes


def _field_paths(shape: Shape, prefix: str = "") -> set[str]:
    """Dotted paths of every field in ``shape`` (``envelope.case_id``, ``sealed.nonce``, …)."""
    if isinstance(shape, RecordShape):
        paths = set()
        for name, inner in shape.fields.items():
            paths.add(prefix + name)
            paths |= _field_paths(inner, f"{prefix}{name}.")
        return paths
    if isinstance(shape, (ListShape, MapShape)):
        return _field_paths(shape.items if isinstance(shape, ListShape) else shape.values, prefix)
    return set()
