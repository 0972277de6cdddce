"""Every field of every exported Avro schema has a ``doc`` (issue 14, item 3: an integrator in another
language works from the published contract alone). The schemas are rendered in memory from the
contracts, as ``schemas freeze`` would write them, so a new field without ``Field(description=...)``
fails here before anything is frozen. A doc is one line, and quotes no personal data as an example:
the schemas are published to every agency and copied into other teams' code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import Field

from referral_bus.contracts import ALL_RECORDS
from referral_bus.contracts.base import Record
from referral_bus.infra.codec.schema_export import avro_schema

#: What a one-line doc must not contain: line breaks (Unicode's too), tabs and other control characters.
_NOT_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: What would be an example of personal data in a doc, were it there (the docs need none).
_PERSONAL_EXAMPLES = {
    "an e-mail address": re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"),
    "a telephone number": re.compile(r"\+?\d[\d ()-]{7,}\d"),
    "a calendar date": re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}[./]\d{1,2}[./]\d{4}\b"),
    "a quoted full name": re.compile(r"['\"‘’“”«][A-ZА-ЯЁ][a-zа-яё]+ [A-ZА-ЯЁ][a-zа-яё]+"),
    "a patronymic": re.compile(r"\b[A-ZА-ЯЁ][a-zа-яё]+"
                               r"(?:ovna|evna|ovich|evich|uly|kyzy|овна|евна|ович|евич|улы|кызы)\b"),
}


def _records(schema: Any) -> Iterator[dict[str, Any]]:
    """Every record defined in a schema, nested ones included (each is defined once per schema)."""
    if isinstance(schema, list):
        for branch in schema:
            yield from _records(branch)
    elif isinstance(schema, dict):
        if schema.get("type") == "record":
            yield schema
            for field in schema["fields"]:
                yield from _records(field["type"])
        elif schema.get("type") == "array":
            yield from _records(schema["items"])


def undocumented(schema: dict[str, Any]) -> list[str]:
    """``Record.field`` for every field of the schema without a non-empty doc."""
    return [f"{record['name']}.{field['name']}" for record in _records(schema) for field in record["fields"]
            if not str(field.get("doc") or "").strip()]


def doc_problems(schema: dict[str, Any]) -> list[str]:
    """Every doc of the schema (its records' and fields') that is not one trimmed line, or that
    holds what looks like an example of personal data."""
    problems = []
    for record in _records(schema):
        docs = [(record["name"], record.get("doc"))]
        docs += [(f"{record['name']}.{field['name']}", field.get("doc")) for field in record["fields"]]
        for where, doc in docs:
            if not doc:
                continue
            if _NOT_ONE_LINE.search(doc) or doc != doc.strip() or "  " in doc:
                problems.append(f"{where}: not one trimmed line")
            problems += [f"{where}: looks like {what}" for what, pattern in _PERSONAL_EXAMPLES.items()
                         if pattern.search(doc)]
    return problems


@pytest.mark.parametrize("name", sorted(ALL_RECORDS))
def test_every_field_of_every_schema_has_a_doc(name: str) -> None:
    assert undocumented(avro_schema(ALL_RECORDS[name])) == []


@pytest.mark.parametrize("name", sorted(ALL_RECORDS))
def test_docs_are_one_line_without_personal_data_examples(name: str) -> None:
    assert doc_problems(avro_schema(ALL_RECORDS[name])) == []


def test_every_record_has_a_doc() -> None:
    bare = sorted({record["name"] for model in ALL_RECORDS.values() for record in _records(avro_schema(model))
                   if not str(record.get("doc") or "").strip()})
    assert bare == []


# -- the checks themselves find what they are for ----------------------------------------------

class _Inner(Record):
    """An inner record."""

    documented: int = Field(description="Documented")
    bare: int


class _Outer(Record):
    """An outer record."""

    inner: list[_Inner] = Field(default_factory=list, description="Nested in an array")
    optional: _Inner | None = Field(default=None, description="Nested in a union")
    blank: str | None = Field(default=None, description="  ")


def test_a_missing_or_blank_doc_is_found_in_nested_records_too() -> None:
    assert undocumented(avro_schema(_Outer)) == ["_Outer.blank", "_Inner.bare"]


@pytest.mark.parametrize(("doc", "finding"), [
    ("The reason.\nMore", "not one trimmed line"),
    ("The reason ", "not one trimmed line"),
    ("The  reason", "not one trimmed line"),
    ("The name, e.g. 'Aida Invented'", "looks like a quoted full name"),
    ("The name, e.g. Nurlanovna", "looks like a patronymic"),
    ("The phone, e.g. +7 700 000 00 00", "looks like a telephone number"),
    ("The address, e.g. someone@example.org", "looks like an e-mail address"),
    ("The birth date, e.g. 2015-03-01", "looks like a calendar date"),
    ("The birth date, e.g. 01.03.2015", "looks like a calendar date"),
])
def test_a_bad_doc_is_found(doc: str, finding: str) -> None:
    schema = {"type": "record", "name": "Example", "fields": [{"name": "field", "type": "string", "doc": doc}]}
    assert f"Example.field: {finding}" in doc_problems(schema)


def test_paragraph_citations_and_bounds_are_not_mistaken_for_personal_data() -> None:
    doc = ("6.3(a)–(b), 6.41(d): within 30 days; ISO 3166-1 alpha-2; seed 002 SOP (2011–2020); 0–17; 8,000 "
           "characters; e.g. 'sent to court', 6.3b-initial-assessment-72h")
    schema = {"type": "record", "name": "Example", "fields": [{"name": "field", "type": "string", "doc": doc}]}
    assert doc_problems(schema) == []
