"""The raw-fastavro baseline with the bus codec's schema handling, and nothing else.

What the bus codec does with fastavro (``infra/codec/framing.py``), this does too: encode writes the
5-byte Confluent frame (magic byte, schema id) and the body with the record's current schema; decode
reads the frame and looks the writer's schema up by its id (parsed once from the registry, a
separate object from the reader's); a frame written with the current schema is read with that
schema alone, any other is resolved by fastavro against the reader's current schema of the same
record name (the codec does the same since commit a0850c6: handing fastavro both costs a deep
comparison of the two parsed schemas on every record). What it leaves out is what the bus adds on
top: pydantic models (validation and construction on decode, ``model_dump`` on encode), the
text-domain checks and the declared-version bookkeeping. The old baseline passed one parsed schema
object as both writer and reader, so fastavro skipped the comparison the codec then paid for, which
overstated the gap.
"""

from __future__ import annotations

import io
import struct
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from referral_bus.contracts import ALL_RECORDS, Record
from referral_bus.infra.codec.registry import SchemaRegistry
from referral_bus.infra.codec.schema_export import avro_schema, full_name

_HEADER = struct.Struct(">bI")


class RawAvro:
    """Dicts ↔ Confluent-framed Avro, schemas resolved writer-by-id against reader-by-name."""

    def __init__(self, registry: SchemaRegistry, records: dict[str, type[Record]] | None = None) -> None:
        self.registry = registry
        self._writer: dict[str, tuple[int, Any]] = {}
        self._reader: dict[str, Any] = {}
        self._by_id: dict[int, tuple[Any, str]] = {}
        for name, model in (records or ALL_RECORDS).items():
            schema = avro_schema(model)
            parsed = parse_schema(schema)
            self._writer[name] = (registry.register(full_name(model), schema), parsed)
            self._reader[name] = parsed

    def encode(self, name: str, datum: dict[str, Any]) -> bytes:
        schema_id, parsed = self._writer[name]
        buffer = io.BytesIO()
        buffer.write(_HEADER.pack(0, schema_id))
        schemaless_writer(buffer, parsed, datum)
        return buffer.getvalue()

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        _, schema_id = _HEADER.unpack_from(data)
        if schema_id not in self._by_id:
            schema = self.registry.lookup(schema_id)
            self._by_id[schema_id] = (parse_schema(schema), str(schema.get("name")))
        writer, name = self._by_id[schema_id]
        reader = None if schema_id == self._writer[name][0] else self._reader[name]
        datum = schemaless_reader(io.BytesIO(data[_HEADER.size:]), writer, reader)
        return name, datum  # type: ignore[return-value]
