"""docs/contract.md's framing and schema-id rule is what the code does (issue 14: the docs had said
"the first 31 bits"): an independent computation and the worked example must both match."""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

from referral_bus.contracts.bus_records import Receipt
from referral_bus.infra.codec.framing import Codec
from referral_bus.infra.codec.registry import EmbeddedRegistry, canonical_form, embedded_schema_id
from referral_bus.infra.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = {"type": "record", "name": "Example", "namespace": "kz.referralbus", "doc": "A worked example.",
           "fields": [{"name": "case_id", "type": "string", "doc": "The case."},
                      {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
                      {"name": "note", "type": ["null", "string"], "default": None}]}


def documented(rule: str) -> str:
    line = next(line for line in (ROOT / "docs" / "contract.md").read_text().splitlines() if line.startswith(rule))
    return line.removeprefix(rule).strip()


def by_the_docs(schema: dict[str, object]) -> int:
    """The rule as docs/contract.md states it, from the canonical form alone."""
    digest = hashlib.sha256(canonical_form(schema).encode("utf-8")).digest()
    return struct.unpack(">I", digest[:4])[0] & 0x7FFFFFFF


def test_the_worked_example_is_what_the_code_computes() -> None:
    assert canonical_form(EXAMPLE) == documented("canonical")
    schema_id = embedded_schema_id(EXAMPLE)
    assert schema_id == by_the_docs(EXAMPLE) == 1771292913
    numbers = re.findall(r"0x[0-9a-f]+|\d{6,}", documented("SHA-256"))
    assert numbers[-1] == str(schema_id) and int(numbers[-2], 16) == schema_id
    assert documented("frame").startswith("00 " + " ".join(f"{b:02x}" for b in struct.pack(">I", schema_id)))


def test_doc_default_and_logical_type_do_not_change_the_id() -> None:
    bare = json.loads(json.dumps(EXAMPLE))
    del bare["doc"]
    bare["fields"] = [{"name": "case_id", "type": "string"}, {"name": "at", "type": "long"},
                      {"name": "note", "type": ["null", "string"]}]
    assert embedded_schema_id(bare) == embedded_schema_id(EXAMPLE)


def test_every_shipped_schema_frames_with_the_documented_id() -> None:
    settings = Settings()
    codec = Codec(EmbeddedRegistry.from_directory(settings.schemas_dir))
    for path in sorted(settings.schemas_dir.rglob("*.avsc")):
        schema = json.loads(path.read_text())
        assert 0 < embedded_schema_id(schema) == by_the_docs(schema) < 2**31, path
    current = json.loads((settings.schemas_dir / "Receipt.avsc").read_text())
    assert codec.schema_id(Receipt) == by_the_docs(current)
