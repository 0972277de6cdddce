"""Schema registries: embedded (ids derived from the schema files, the default) or a
Confluent-compatible registry over HTTP when ``SCHEMA_REGISTRY_URL`` is set."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from fastavro import parse_schema
from fastavro.schema import to_parsing_canonical_form


class UnknownSchemaId(LookupError):
    pass


def canonical_form(schema: dict[str, Any]) -> str:
    return str(to_parsing_canonical_form(parse_schema(schema)))


def embedded_schema_id(schema: dict[str, Any]) -> int:
    """A stable id from the schema, the same in every process: SHA-256 of the UTF-8 Parsing Canonical
    Form, its first 4 bytes as a big-endian unsigned integer with the top bit cleared (a positive
    31-bit id; docs/contract.md has a worked example)."""
    digest = hashlib.sha256(canonical_form(schema).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class SchemaRegistry(Protocol):
    def register(self, subject: str, schema: dict[str, Any]) -> int: ...
    def lookup(self, schema_id: int) -> dict[str, Any]: ...


class EmbeddedRegistry:
    """Holds every schema version shipped in ``schemas/avro`` (current and frozen versions), so
    data written with any released version can be read."""

    def __init__(self) -> None:
        self._by_id: dict[int, dict[str, Any]] = {}

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        schema_id = embedded_schema_id(schema)
        known = self._by_id.get(schema_id)
        if known is not None and canonical_form(known) != canonical_form(schema):
            raise ValueError(f"schema id collision for subject {subject}: {schema_id}")
        self._by_id[schema_id] = schema
        return schema_id

    def lookup(self, schema_id: int) -> dict[str, Any]:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise UnknownSchemaId(schema_id) from None

    @classmethod
    def from_directory(cls, directory: Path) -> EmbeddedRegistry:
        registry = cls()
        for path in sorted(directory.rglob("*.avsc")):
            schema = json.loads(path.read_text())
            registry.register(f"{schema['namespace']}.{schema['name']}", schema)
        return registry


class ConfluentRegistry:
    """Confluent Schema Registry REST API (RecordNameStrategy subjects), cached per process."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._ids: dict[str, int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (configured URL)
            return json.loads(response.read())

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        key = subject + canonical_form(schema)
        if key not in self._ids:
            answer = self._call("POST", f"/subjects/{subject}/versions", {"schema": json.dumps(schema)})
            self._ids[key] = int(answer["id"])
            self._schemas[int(answer["id"])] = schema
        return self._ids[key]

    def lookup(self, schema_id: int) -> dict[str, Any]:
        if schema_id not in self._schemas:
            try:
                answer = self._call("GET", f"/schemas/ids/{schema_id}")
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    raise UnknownSchemaId(schema_id) from None
                raise
            self._schemas[schema_id] = json.loads(answer["schema"])
        return self._schemas[schema_id]
