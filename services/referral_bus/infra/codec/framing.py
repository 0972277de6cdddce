"""Encode and decode records with fastavro and the Confluent wire framing.

Frame: byte 0 = magic 0, bytes 1–4 = big-endian schema id, then the Avro binary body. The reader
resolves the writer's schema (from the id) against the current schema of the same record name,
so data written with any released version stays readable.
"""

from __future__ import annotations

import io
import re
import struct
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from pydantic import ValidationError

from referral_bus.contracts import ALL_RECORDS, Record
from referral_bus.contracts.base import RuleViolation
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

    def __init__(self, registry: SchemaRegistry, records: dict[str, type[Record]] | None = None) -> None:
        self.registry = registry
        self.records = records or ALL_RECORDS
        self._writer: dict[str, tuple[int, Any]] = {}
        self._reader: dict[str, Any] = {}
        self._parsed_by_id: dict[int, tuple[Any, str]] = {}
        for name, model in self.records.items():
            schema = avro_schema(model)
            parsed = parse_schema(schema)
            self._writer[name] = (registry.register(full_name(model), schema), parsed)
            self._reader[name] = parsed

    def schema_id(self, record_type: type[Record]) -> int:
        return self._writer[record_type.__name__][0]

    def encode(self, record: Record) -> bytes:
        schema_id, parsed = self._writer[type(record).__name__]
        buffer = io.BytesIO()
        buffer.write(_HEADER.pack(MAGIC_BYTE, schema_id))
        # pydantic's python dump is fastavro's input as it is: every enum in the contracts is a
        # ``str`` Enum, which fastavro writes as its symbol
        schemaless_writer(buffer, parsed, record.model_dump())
        return buffer.getvalue()

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
        try:
            datum = schemaless_reader(io.BytesIO(data[_HEADER.size:]), writer, self._reader[name])
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
