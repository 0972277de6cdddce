"""Encode and decode records with fastavro and the Confluent wire framing.

Frame: byte 0 = magic 0, bytes 1–4 = big-endian schema id, then the Avro binary body. The reader
resolves the writer's schema (from the id) against the current schema of the same record name,
so data written with any released version stays readable.

A case event is written with the schema of the version its envelope names
(``envelope.schema_version``): the version its producer signed and the router hashed
(``domain/canonical.py``). Given the released versions, the codec encodes every copy of an event
(case log, inboxes, archives) with that version's schema, and names a frame written with any other.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from pydantic import ValidationError

from referral_bus.contracts import ALL_RECORDS, Record
from referral_bus.contracts.base import Event, RuleViolation
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.codec.registry import SchemaRegistry, UnknownSchemaId
from referral_bus.infra.codec.schema_export import avro_schema, full_name

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")


def validation_error_to_decode_error(record_name: str, exc: ValidationError) -> DecodeError:
    """The first error as a ``SCHEMA_INVALID`` refusal naming the record and field. A rule the
    protocol states (``RuleViolation``, kept by pydantic in the error's context) gives its paragraph
    to the refusal's structured ``paragraph``, so a receipt carries it whichever check found it."""
    first = exc.errors()[0]
    broken = first.get("ctx", {}).get("error")
    if isinstance(broken, RuleViolation):
        where = ".".join([str(p) for p in first["loc"]] + ([broken.field] if broken.field else [])) or "(record)"
        return DecodeError("SCHEMA_INVALID", f"{record_name}.{where}: {broken.rule}", field=where,
                           paragraph=broken.paragraph)
    message = first["msg"].removeprefix("Value error, ")
    where = ".".join(str(p) for p in first["loc"])
    if not where:  # a whole-record rule: its message starts with the field it is about ("reasons: …")
        named = re.match(r"^([A-Za-z_][\w.]*): ", message)
        where = named.group(1) if named else "(record)"
    return DecodeError("SCHEMA_INVALID", f"{record_name}.{where}: {message}", field=where)


class Codec:
    """Turns contract models into framed bytes and back; every failure is a ``DecodeError``."""

    def __init__(self, registry: SchemaRegistry, records: dict[str, type[Record]] | None = None,
                 versions: Mapping[str, Sequence[dict[str, Any]]] | None = None) -> None:
        """``versions``: each record's released schemas, oldest first (``SchemaStore.released``).
        Without them every record is written with the current schema and versions are not checked."""
        self.registry = registry
        self.records = records or ALL_RECORDS
        self._versions = dict(versions or {})
        self._writer: dict[str, tuple[int, Any]] = {}
        self._reader: dict[str, Any] = {}
        self._parsed_by_id: dict[int, tuple[Any, str]] = {}
        self._by_version: dict[tuple[str, int], tuple[int, Any]] = {}
        for name, model in self.records.items():
            schema = avro_schema(model)
            parsed = parse_schema(schema)
            self._writer[name] = (registry.register(full_name(model), schema), parsed)
            self._reader[name] = parsed

    def schema_id(self, record_type: type[Record]) -> int:
        return self._writer[record_type.__name__][0]

    def current_version(self, name: str) -> int:
        return max(1, len(self._versions.get(name, ())))

    def version_writer(self, name: str, version: int) -> tuple[int, Any]:
        """(schema id, parsed schema) of release ``version`` of record ``name``."""
        key = (name, version)
        if key not in self._by_version:
            released, current = self._versions.get(name, ()), self.current_version(name)
            if version == current:
                self._by_version[key] = self._writer[name]
            elif 1 <= version < current:
                schema = released[version - 1]
                self._by_version[key] = (self.registry.register(f"{schema['namespace']}.{schema['name']}", schema),
                                         parse_schema(schema))
            else:
                raise DecodeError("SCHEMA_VERSION_MISMATCH", f"{name}.envelope.schema_version: {version} is not a "
                                  f"released version of {name} (1 to {current})", field="envelope.schema_version")
        return self._by_version[key]

    def _writer_of(self, record: Record) -> tuple[int, Any]:
        name = type(record).__name__
        if self._versions and isinstance(record, Event):
            return self.version_writer(name, record.envelope.schema_version)
        return self._writer[name]

    def encode(self, record: Record) -> bytes:
        """The framed bytes, with the schema of the version a case event names. Written with an
        older version, a value in a field that version lacks would be lost: refused, naming it."""
        schema_id, parsed = self._writer_of(record)
        buffer = io.BytesIO()
        buffer.write(_HEADER.pack(MAGIC_BYTE, schema_id))
        # pydantic's python dump is fastavro's input as it is: every enum in the contracts is a
        # ``str`` Enum, which fastavro writes as its symbol; fields an older version lacks are skipped
        schemaless_writer(buffer, parsed, record.model_dump())
        data = buffer.getvalue()
        if schema_id != self._writer[type(record).__name__][0]:
            self._refuse_lost_fields(record, data)
        return data

    def _refuse_lost_fields(self, record: Record, data: bytes) -> None:
        back = self.decode(data)
        lost = [name for name in type(record).model_fields if getattr(back, name) != getattr(record, name)]
        if lost:
            version = record.envelope.schema_version if isinstance(record, Event) else 0
            raise DecodeError("SCHEMA_VERSION_MISMATCH", f"{type(record).__name__}.{lost[0]}: not a field of version "
                              f"{version} of {type(record).__name__} (envelope.schema_version), yet it has a value; "
                              "declare the version that has it", field=lost[0])

    def declared_version_problem(self, data: bytes, event: Event) -> DecodeError | None:
        """Why ``data`` (which decoded to ``event``) is not written with the schema of the version
        its envelope names, or ``None``. The router refuses such a frame: its hash and signature
        would cover other fields than its bytes carry."""
        if not self._versions:
            return None
        name, version = type(event).__name__, event.envelope.schema_version
        try:
            expected, _ = self.version_writer(name, version)
        except DecodeError as exc:
            return exc
        _, schema_id = _HEADER.unpack_from(data)
        if schema_id == expected:
            return None
        written = next((n for n in range(1, self.current_version(name) + 1)
                        if self.version_writer(name, n)[0] == schema_id), None)
        as_what = f"version {written}" if written else f"schema id {schema_id}"
        return DecodeError("SCHEMA_VERSION_MISMATCH", f"{name}.envelope.schema_version is {version} but the frame is "
                           f"written with {as_what}; write it with the schema of the version it names "
                           f"(schema id {expected})", field="envelope.schema_version")

    def _writer_schema(self, schema_id: int) -> tuple[Any, str]:
        if schema_id not in self._parsed_by_id:
            try:
                schema = self.registry.lookup(schema_id)
            except UnknownSchemaId:
                raise DecodeError("UNKNOWN_SCHEMA_ID", f"schema id {schema_id} is not registered") from None
            self._parsed_by_id[schema_id] = (parse_schema(schema), str(schema.get("name")))
        return self._parsed_by_id[schema_id]

    def record_name(self, data: bytes) -> str | None:
        """The record type a frame's schema id names, without decoding the body (None when the
        bytes are not a frame of a known schema): lets a service pick out one type cheaply."""
        if not data or len(data) < _HEADER.size:
            return None
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC_BYTE:
            return None
        try:
            return self._writer_schema(schema_id)[1]
        except DecodeError:
            return None

    def decode_raw(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """Bytes to (record name, Avro datum) without model validation."""
        if not data or len(data) < _HEADER.size:
            raise DecodeError("UNDECODABLE", f"{len(data or b'')} bytes is shorter than the 5-byte frame header")
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC_BYTE:
            raise DecodeError("BAD_MAGIC_BYTE", f"magic byte is {magic}, expected {MAGIC_BYTE} (Confluent framing)")
        writer, name = self._writer_schema(schema_id)
        if name not in self._reader:
            raise DecodeError("UNKNOWN_RECORD_TYPE", f"record {name!r} (schema id {schema_id}) is not a known contract")
        # written with the current schema: read with it alone — handing fastavro the reader schema too
        # costs a deep comparison of the two parsed schemas on every record (the hot path, issue 13)
        reader = None if schema_id == self._writer[name][0] else self._reader[name]
        try:
            datum = schemaless_reader(io.BytesIO(data[_HEADER.size:]), writer, reader)
        except Exception as exc:  # fastavro raises many types for corrupt input
            raise DecodeError("UNDECODABLE", f"payload does not decode with schema {schema_id} ({name}): "
                                             f"{type(exc).__name__}") from None
        return name, datum  # type: ignore[return-value]

    def decode(self, data: bytes) -> Record:
        name, datum = self.decode_raw(data)
        try:
            return self.records[name].model_validate(datum)
        except ValidationError as exc:
            raise validation_error_to_decode_error(name, exc) from None
