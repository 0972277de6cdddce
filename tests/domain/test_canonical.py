"""Canonical JSON over the fields of the version an event was written with (no I/O: schemas inline)."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.domain.canonical import (
    ListShape,
    MapShape,
    RecordShape,
    canonical_json,
    prune,
    shape_of,
    stdlib_canonical_json,
)

ADDRESS = {"type": "record", "name": "Address", "namespace": "t", "fields": [{"name": "city", "type": "string"}]}
V1 = {"type": "record", "name": "Thing", "namespace": "t", "fields": [
    {"name": "id", "type": "string"},
    {"name": "home", "type": ["null", ADDRESS], "default": None},
    {"name": "previous", "type": {"type": "array", "items": "t.Address"}},
    {"name": "by_city", "type": {"type": "map", "values": "Address"}},
]}


def test_the_shape_of_a_schema_follows_records_unions_arrays_maps_and_named_references() -> None:
    shape = shape_of(V1)
    assert isinstance(shape, RecordShape) and set(shape.fields) == {"id", "home", "previous", "by_city"}
    assert shape.fields["id"] is None
    address = shape.fields["home"]
    assert isinstance(address, RecordShape) and set(address.fields) == {"city"}
    assert shape.fields["previous"] == ListShape(address)
    assert shape.fields["by_city"] == MapShape(address)


def test_prune_drops_only_fields_the_version_lacks_and_keeps_map_keys() -> None:
    body = {"id": "x", "added_later": None,
            "home": {"city": "Almaty", "district": None},
            "previous": [{"city": "Shymkent", "district": "Abay"}],
            "by_city": {"Astana": {"city": "Astana", "district": None}}}
    assert prune(body, shape_of(V1)) == {"id": "x", "home": {"city": "Almaty"}, "previous": [{"city": "Shymkent"}],
                                         "by_city": {"Astana": {"city": "Astana"}}}
    assert prune({"id": "x", "home": None}, shape_of(V1)) == {"id": "x", "home": None}


def test_canonical_json_is_sorted_compact_and_utf8_unless_ascii_is_asked() -> None:
    assert canonical_json({"b": 1, "a": "Әлия"}) == '{"a":"Әлия","b":1}'.encode()
    assert canonical_json({"a": "Ә"}, ascii_only=True) == b'{"a":"\\u04d8"}'


# -- orjson makes the bytes; the standard library defines them ---------------------------------------
TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=40)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5), max_leaves=30)


def _outcome(make: Callable[[], bytes]) -> bytes | type[BaseException]:
    try:
        return make()
    except Exception as exc:  # noqa: BLE001 - the error's type is what must agree
        return type(exc)


@settings(max_examples=3000, deadline=None)
@given(JSON, st.booleans())
def test_canonical_json_equals_the_standard_librarys_bytes_or_error(body: object, ascii_only: bool) -> None:
    """Every code point (control characters, DEL, the BMP's edge, astral planes, lone surrogates),
    integers beyond 64 bits (orjson refuses them: the fallback), any nesting, both modes."""
    assert _outcome(lambda: canonical_json(body, ascii_only=ascii_only)) == \
        _outcome(lambda: stdlib_canonical_json(body, ascii_only=ascii_only))

