"""Codec: Confluent framing, every failure a DecodeError with a stable code."""

from __future__ import annotations

import io
import struct

import pytest
from fastavro import parse_schema, schemaless_writer

from referral_bus.contracts.base import City
from referral_bus.contracts.events import EmergencyRemoval, ReferralKind, ReferralMade
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.codec.framing import Codec
from referral_bus.infra.codec.registry import EmbeddedRegistry
from referral_bus.infra.codec.schema_export import avro_schema
from referral_bus.infra.settings import Settings
from tests.builders import FICTIONAL, envelope


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(EmbeddedRegistry.from_directory(Settings().schemas_dir))


def removal() -> EmergencyRemoval:
    return EmergencyRemoval(envelope=envelope(EmergencyRemoval, "C-1", "police-juvenile-almaty"), city=City.ALMATY,
                            child_age_years=9, child_removed=True, cam_social_worker_present=False,
                            personal_data=FICTIONAL)


def test_round_trip_and_frame_header(codec: Codec) -> None:
    data = codec.encode(removal())
    magic, schema_id = struct.unpack(">bI", data[:5])
    assert magic == 0 and schema_id == codec.schema_id(EmergencyRemoval)
    assert codec.decode(data) == removal().model_copy(update={"envelope": codec.decode(data).envelope})
    decoded = codec.decode(data)
    assert decoded.model_dump() == removal().model_dump() | {"envelope": decoded.envelope.model_dump()}


def test_round_trip_is_exact(codec: Codec) -> None:
    event = removal()
    assert codec.decode(codec.encode(event)) == event


@pytest.mark.parametrize("data, code", [
    (b"", "UNDECODABLE"),
    (b"\x01\x00\x00\x00\x01abc", "BAD_MAGIC_BYTE"),
    (b"\x00\x7f\xff\xff\xfe" + b"\x00" * 10, "UNKNOWN_SCHEMA_ID"),
    (b"garbage bytes from nowhere", "BAD_MAGIC_BYTE"),
])
def test_bad_frames(codec: Codec, data: bytes, code: str) -> None:
    with pytest.raises(DecodeError) as caught:
        codec.decode(data)
    assert caught.value.code == code


def test_truncated_payload_is_undecodable(codec: Codec) -> None:
    with pytest.raises(DecodeError) as caught:
        codec.decode(codec.encode(removal())[:20])
    assert caught.value.code == "UNDECODABLE"


def test_schema_valid_but_rule_invalid_names_the_field(codec: Codec) -> None:
    """Avro cannot express 'under 18'; the model can, and the error says which field."""
    schema = avro_schema(ReferralMade)
    good = ReferralMade(envelope=envelope(ReferralMade, "C-1", "school-almaty"),
                        referral_kind=ReferralKind.CHILD_PROTECTION,
                        city=City.ALMATY, child_age_years=5)
    datum = good.model_dump() | {"child_age_years": 40}
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, codec.schema_id(ReferralMade)))
    schemaless_writer(buffer, parse_schema(schema), datum)
    with pytest.raises(DecodeError) as caught:
        codec.decode(buffer.getvalue())
    assert caught.value.code == "SCHEMA_INVALID" and "child_age_years: must be 0–17" in caught.value.message


def test_data_written_with_an_older_version_is_read(codec: Codec) -> None:
    """An older writer schema without a later optional field resolves against the current reader."""
    old = avro_schema(EmergencyRemoval)
    old["fields"] = [f for f in old["fields"] if f["name"] != "guardianship_present"]
    old_id = codec.registry.register("kz.referralbus.EmergencyRemoval", old)
    datum = removal().model_dump()
    datum.pop("guardianship_present")
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, old_id))
    schemaless_writer(buffer, parse_schema(old), datum)
    decoded = codec.decode(buffer.getvalue())
    assert isinstance(decoded, EmergencyRemoval) and decoded.guardianship_present is False
