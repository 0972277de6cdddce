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

The bytes are those of ``json.dumps(sort_keys=True, separators=(",", ":"))`` — the form every
hash on every log was taken of — but made by orjson, ten times faster (three canonical forms per
routed event: signature, duplicate fingerprint, chain hash; issue 13 item 3). The two agree on
everything the contracts hold (strings with any code point, integers, booleans, null, lists, maps
with string keys); they would differ only in a float's exponent (``1.5e-07`` against
``1.5e-7``), and no contract has a float (``tests/domain/test_canonical.py`` and
``tests/contracts/test_contracts.py`` check both). Whatever orjson refuses (an integer beyond 64
bits, a lone surrogate) goes to the standard library, which gives the same bytes or the same
error as always. (A ``uuid.UUID`` object, which the standard library refuses, orjson writes as
its text; the inputs here are JSON-mode dumps, where it is text already.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

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
    try:
        text = orjson.dumps(body, option=_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return stdlib_canonical_json(body, ascii_only=ascii_only)
    if ascii_only and (not text.isascii() or b"\x7f" in text):
        return _NOT_ASCII.sub(_escape, text.decode()).encode()
    return text


#: Sorted keys; what the standard library cannot write (datetimes, dataclasses, subclasses of str,
#: int, dict, list) orjson must not write its own way either: it refuses, and the fallback decides.
_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
            | orjson.OPT_PASSTHROUGH_SUBCLASS)


def stdlib_canonical_json(body: object, *, ascii_only: bool = False) -> bytes:
    """The definition: what ``canonical_json`` must equal byte for byte, and its fallback."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only).encode()


#: What ``json.dumps(ensure_ascii=True)`` escapes that orjson leaves as it is: DEL and every
#: non-ASCII code point (control characters below space orjson escapes alike).
_NOT_ASCII = re.compile("[\x7f-\U0010ffff]")


def _escape(match: re.Match[str]) -> str:
    """One code point as the standard library writes it: ``\\uXXXX`` in lower-case hex, a code
    point beyond the Basic Multilingual Plane as its UTF-16 surrogate pair."""
    point = ord(match.group())
    if point < 0x10000:
        return f"\\u{point:04x}"
    point -= 0x10000
    return f"\\u{0xD800 | (point >> 10):04x}\\u{0xDC00 | (point & 0x3FF):04x}"


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
