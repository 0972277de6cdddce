"""The gateway's schema endpoints and its read-only, Confluent-compatible schema-registry API: over
plain HTTP, and with Confluent's own SchemaRegistryClient, AvroSerializer and AvroDeserializer —
bytes a standard serializer writes are decoded by the bus's codec, and the bus's bytes by the
standard deserializer, with the bus's own schema ids (docs/contract.md). No broker needed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient, SchemaRegistryError, record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from referral_bus.contracts.base import City
from referral_bus.contracts.events import ReferralKind, ReferralMade
from referral_bus.gateway import create_app
from referral_bus.infra.codec.registry import embedded_schema_id
from referral_bus.infra.runtime import Runtime
from referral_bus.infra.settings import GatewaySettings
from tests.builders import case_id, envelope
from tests.gateway.conftest import Served, serve

SUBJECT = "kz.referralbus.ReferralMade"


@pytest.fixture(scope="module")
def served(runtime: Runtime) -> Iterator[Served]:
    config = GatewaySettings(address=("127.0.0.1", 0), kafka_ca_file=None, tls_cert=None, tls_key=None,
                             signing_key_dir=None, receipt_wait_seconds=1)
    with serve(create_app(runtime, config)) as running:
        yield running


@pytest.fixture
def http(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        yield client


def a_referral() -> ReferralMade:
    return ReferralMade(envelope=envelope(ReferralMade, case_id("REG"), "school-almaty"),
                        referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY, child_age_years=7)


def test_every_released_version_is_served_with_the_bus_s_own_id(http: httpx.Client, runtime: Runtime) -> None:
    subjects = http.get("/registry/subjects").json()
    assert SUBJECT in subjects and all(s.startswith("kz.referralbus.") for s in subjects)
    released = runtime.schema_store.version_paths("ReferralMade")
    assert http.get(f"/registry/subjects/{SUBJECT}/versions").json() == list(range(1, len(released) + 1))
    for number, path in enumerate(released, start=1):
        answer = http.get(f"/registry/subjects/{SUBJECT}/versions/{number}").json()
        schema = json.loads(path.read_text())
        assert json.loads(answer["schema"]) == schema
        assert answer["id"] == embedded_schema_id(schema)      # the id derivation of docs/contract.md
        assert json.loads(http.get(f"/registry/schemas/ids/{answer['id']}").json()["schema"]) == schema
    latest = http.get(f"/registry/subjects/{SUBJECT}/versions/latest").json()
    assert latest["version"] == len(released)
    own = http.get("/v1/schemas/ReferralMade").json()
    assert own["latest_id"] == latest["id"] and own["compatibility"] == "BACKWARD_TRANSITIVE"
    assert http.get("/registry/config").json() == {"compatibilityLevel": "BACKWARD_TRANSITIVE"}


def test_lookups_and_refusals_answer_in_confluent_s_shape(http: httpx.Client, runtime: Runtime) -> None:
    schema = runtime.schema_store.version_paths("ReferralMade")[0].read_text()
    found = http.post(f"/registry/subjects/{SUBJECT}", json={"schema": schema})
    assert found.status_code == 200 and found.json()["version"] == 1
    assert http.post(f"/registry/subjects/{SUBJECT}/versions", json={"schema": schema}).json() == {
        "id": found.json()["id"]}                                          # already released: its id
    changed = json.loads(schema) | {"doc": "x", "fields": json.loads(schema)["fields"][:1]}
    refused = http.post(f"/registry/subjects/{SUBJECT}/versions", json={"schema": json.dumps(changed)})
    assert refused.status_code == 409 and refused.json()["error_code"] == 40901
    assert "read-only" in refused.json()["message"]
    assert http.get("/registry/subjects/orders-value/versions").json()["error_code"] == 40401
    assert http.get("/registry/schemas/ids/1").json()["error_code"] == 40403
    assert http.get(f"/registry/subjects/{SUBJECT}/versions/999").json()["error_code"] == 40402
    bad = http.post(f"/registry/subjects/{SUBJECT}", json={"schema": "{not avro"})
    assert bad.status_code == 422 and bad.json()["error_code"] == 42201
    assert http.get("/v1/schemas/NoSuchRecord").json()["field"] == "record"


def test_confluent_s_serializer_writes_what_the_bus_reads(served: Served, runtime: Runtime) -> None:
    client = SchemaRegistryClient({"url": served.url + "/registry"})
    latest = client.get_latest_version(SUBJECT)
    serializer = AvroSerializer(client, latest.schema.schema_str, conf={
        "auto.register.schemas": False, "use.latest.version": True,
        "subject.name.strategy": record_subject_name_strategy})
    event = a_referral()
    context = SerializationContext("rb.ingress.school-almaty", MessageField.VALUE)
    data = serializer(event.model_dump(), context)
    assert data is not None and data[0] == 0 and int.from_bytes(data[1:5], "big") == latest.schema_id
    decoded = runtime.codec.decode(data)
    assert isinstance(decoded, ReferralMade) and decoded.envelope.case_id == event.envelope.case_id
    assert decoded.child_age_years == 7

    # the other way: the bus's own frame, read by the standard deserializer through the registry
    deserializer = AvroDeserializer(client)
    read = deserializer(runtime.codec.encode(event), context)
    assert read is not None and read["envelope"]["case_id"] == event.envelope.case_id

    # and registration through the standard client: a released schema gets its id, anything else is refused
    assert client.register_schema(SUBJECT, latest.schema) == latest.schema_id
    with pytest.raises(SchemaRegistryError) as refused:
        from confluent_kafka.schema_registry import Schema
        client.register_schema(SUBJECT, Schema(json.dumps({"type": "record", "name": "ReferralMade",
                                                           "namespace": "kz.referralbus", "fields": []}), "AVRO"))
    assert refused.value.http_status_code == 409
