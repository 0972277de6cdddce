"""Canonical JSON: the one byte form that hashes, signatures and duplicate fingerprints are taken of.

Canonical JSON is pydantic's JSON-mode dump (ISO-8601 times, bytes as base64) with sorted keys, no
spaces and UTF-8 text. Of a case event it covers exactly the fields of the schema *version the
event was written with* (``envelope.schema_version``), not those of the code reading it: an event
written with ``ReferralMade`` v5 decodes under v6 with v6's new field at its default, and would
otherwise no longer match the hash and signature it was given — the log must verify for as long
as it is kept, across every later release (docs/contract.md, "Signing bytes").

The fields of every released version come from ``schemas/avro/versions/<Type>/v<N>.avsc``; the
codec's owner installs them once at start (``infra/codec/schema_store.py``), like the calendar.
No I/O here. An event whose version is the current one (or any event while nothing is installed)
is dumped whole — the current schema is the model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from referral_bus.contracts.base import Event


@dataclass(frozen=True)
class RecordShape:
    """The fields of one Avro record version, each with the shape of its value."""

    fields: Mapping[str, Shape]


@dataclass(frozen=True)
class ListShape:
    items: Shape


@dataclass(frozen=True)
class MapShape:
    values: Shape


#: ``None``: a value with no fields of its own (primitive, enum, fixed, logical type)
Shape = RecordShape | ListShape | MapShape | None

_VERSIONS: dict[tuple[str, int], RecordShape] = {}
#: each record's newest released version: the model itself, dumped whole without pruning
_LATEST: dict[str, int] = {}


def canonical_json(body: object, *, ascii_only: bool = False) -> bytes:
    """``ascii_only`` escapes non-ASCII text as ``\\uXXXX``: only the duplicate fingerprint, which
    has always been taken so (``domain/chain.py``); hashes and signatures take UTF-8 text."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only).encode()


def shape_of(schema: Any, names: dict[str, RecordShape] | None = None) -> Shape:
    """The field structure of a parsed ``.avsc`` document (its JSON, not a fastavro object). Named
    records may be referenced by name after their definition, short or full."""
    names = {} if names is None else names
    if isinstance(schema, str):
        return names.get(schema) or names.get(schema.rsplit(".", 1)[-1])
    if isinstance(schema, list):  # a union: the record branches' fields (in practice one, nullable)
        branches = [s for s in (shape_of(b, names) for b in schema) if s is not None]
        if not branches:
            return None
        if len(branches) == 1:
            return branches[0]
        merged: dict[str, Shape] = {}
        for branch in branches:
            if isinstance(branch, RecordShape):
                merged.update(branch.fields)
        return RecordShape(merged)
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if kind == "record":
        fields: dict[str, Shape] = {}
        shape = RecordShape(fields)
        name = str(schema["name"])
        names[name] = shape
        if schema.get("namespace"):
            names[f"{schema['namespace']}.{name}"] = shape
        for field in schema["fields"]:
            fields[field["name"]] = shape_of(field["type"], names)
        return shape
    if kind == "array":
        return ListShape(shape_of(schema["items"], names))
    if kind == "map":
        return MapShape(shape_of(schema["values"], names))
    if isinstance(kind, (dict, list)):  # {"type": {...}} nests a type
        return shape_of(kind, names)
    return None


def install_versions(versions: Mapping[tuple[str, int], RecordShape]) -> None:
    """Make the released versions' fields known: ``(record name, version) → shape``."""
    _VERSIONS.update(versions)
    for name, number in versions:
        _LATEST[name] = max(number, _LATEST.get(name, 0))


def prune(value: Any, shape: Shape) -> Any:
    """``value`` (a JSON-mode dump) without the fields ``shape`` does not have."""
    if shape is None or value is None:
        return value
    if isinstance(shape, RecordShape) and isinstance(value, dict):
        return {k: prune(v, shape.fields[k]) for k, v in value.items() if k in shape.fields}
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [prune(v, shape.items) for v in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {k: prune(v, shape.values) for k, v in value.items()}
    return value


def as_written(event: Event) -> dict[str, Any]:
    """The event's JSON-mode dump over the fields of the version it was written with."""
    body: dict[str, Any] = event.model_dump(mode="json")
    name, version = type(event).__name__, event.envelope.schema_version
    if version >= _LATEST.get(name, version):
        return body
    shape = _VERSIONS.get((name, version))
    return prune(body, shape) if shape is not None else body
