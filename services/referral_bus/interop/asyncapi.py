"""The AsyncAPI 3.0 document of the bus (``docs/asyncapi.yaml``), generated from topics.yaml (channels:
address, key, partitions, retention, who writes and reads), the Avro schemas (messages: each payload a
``$ref`` to its ``schemas/avro/<Record>.avsc``, with its schema id) and the step table (one operation
per agency kind: the event types it may submit, the receipt as the reply). The bus's point of view:
it *receives* submissions and *sends* everything else."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from referral_bus.contracts import ALL_RECORDS, EVENT_TYPES
from referral_bus.infra.catalogue import Catalogue
from referral_bus.infra.codec.registry import embedded_schema_id
from referral_bus.interop.producers import by_kind, event_rights

AVRO_FORMAT = "application/vnd.apache.avro+json;version=1.9.0"
CONTENT_TYPE = "application/vnd.apache.avro+binary"
#: Relative to docs/asyncapi.yaml.
SCHEMA_REF = "../schemas/avro/{name}.avsc"

#: topics.yaml ``key`` → what the Kafka key holds (always UTF-8 text; docs/contract.md).
KEYS: dict[str, dict[str, Any]] = {
    "case_id": {"type": "string", "description": "The case id (the envelope's case_id), UTF-8."},
    "submission": {"type": "string", "pattern": "^.+:[0-9]+:[0-9]+$",
                   "description": "The submission answered: '<ingress topic>:<partition>:<offset>', UTF-8 — "
                                  "what the sender's produce acknowledgement returned."},
    "source": {"type": "string", "pattern": "^.+:[0-9]+$",
               "description": "Where the refused submission came in: '<ingress topic>:<partition>', UTF-8."},
    "agency_id": {"type": "string", "description": "The agency id, UTF-8."},
    "none": {"type": "null", "description": "No key."},
}
#: Record headers the bus sets, per topic id (router/app.py), as JSON Schema of the UTF-8 header values.
HEADERS: dict[str, dict[str, Any]] = {
    "inbox": {"type": "object", "required": ["rb-delivery-id", "rb-paragraph", "rb-purpose", "rb-redacted"],
              "properties": {
                  "rb-delivery-id": {"type": "string", "description": "Stable across redeliveries: deduplicate on it."},
                  "rb-paragraph": {"type": "string", "description": "The paragraph that owes the agency this."},
                  "rb-purpose": {"type": "string", "description": "Why: referral, notification, outcome, …"},
                  "rb-redacted": {"type": "string", "enum": ["true", "false"],
                                  "description": "true: a copy without personal data (6.24)."},
                  "rb-advice": {"type": "string", "description": "NGO referral requests: admission criteria as advice "
                                                                 "(JSON; 5.7, 5.9, 5.12, 5.13)."}}},
    "case_log": {"type": "object", "properties": {
        "rb-source": {"type": "string", "description": "The submission it was appended from: "
                                                       "'<ingress topic>:<partition>:<offset>'."}}},
}
#: topics.yaml ``per`` → the address parameter it expands.
PARAMETERS = {"agency": "agency", "agency_kind": "kind", "stream_processor": "processor"}

DESCRIPTION = """\
The Kazakhstan child-protection referral bus (Annex B of the Manual on Intersectoral Coordination, \
seeds 002 and 003). Agencies submit signed case events on their own ingress topic and read their \
receipts and inbox; the router validates, appends to the case log and routes.

Wire format of every value: magic byte 0, the writer's schema id as 4 bytes big-endian, then the \
record in Avro binary encoding (Confluent framing). Schema ids are derived from the schema: SHA-256 \
of the UTF-8 Parsing Canonical Form, first 4 bytes big-endian, top bit cleared (x-schema-id on each \
message is the current schema's). Keys are UTF-8 text; partitions follow Kafka's default murmur2 \
partitioner on the key bytes, which every client must use. Every receipt is keyed by \
'<ingress topic>:<partition>:<offset>' of the submission it answers.

Also generated from the code: schemas/producers.json (who may publish what, with the paragraph of \
the duty), schemas/reason-codes.json (every reason code of a refusal). The whole contract: \
docs/contract.md."""


def _version() -> str:
    try:
        return metadata.version("referral-bus")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without an install
        return "0.0.0"


def _records(entry: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for schema in entry["schemas"]:
        names += sorted(EVENT_TYPES) if schema == "case-events" else [schema]
    return names


def _doc(name: str) -> str:
    return " ".join((ALL_RECORDS[name].__doc__ or name).split())


def _message(name: str, key: str, schemas_dir: Path) -> dict[str, Any]:
    schema = json.loads((schemas_dir / f"{name}.avsc").read_text())
    message: dict[str, Any] = {
        "name": name, "title": name, "summary": _doc(name), "contentType": CONTENT_TYPE,
        "payload": {"schemaFormat": AVRO_FORMAT, "schema": {"$ref": SCHEMA_REF.format(name=name)}},
        "bindings": {"kafka": {"key": KEYS[key], "schemaIdLocation": "payload", "schemaIdPayloadEncoding": "confluent",
                               "schemaLookupStrategy": "RecordNameStrategy", "bindingVersion": "0.5.0"}},
        "x-schema-id": embedded_schema_id(schema),
        "x-avro-name": f"{schema['namespace']}.{schema['name']}",
    }
    right = event_rights().get(name)
    if right is not None:
        message["x-producers"] = right["producers"]
        message["x-duty"] = right["duty"]
        message["x-opens-case"] = right["opens_case"]
    return message


def _topic_configuration(catalogue: Catalogue, entry: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {"cleanup.policy": ["delete"], "retention.ms": int(entry["retention_ms"])}
    for name, value in {**(catalogue.defaults.get("config") or {}), **(entry.get("config") or {})}.items():
        config[str(name)] = int(value) if str(value).lstrip("-").isdigit() else str(value)
    return config


def asyncapi(catalogue: Catalogue, schemas_dir: Path) -> dict[str, Any]:
    """The AsyncAPI document as a mapping (``render`` makes the committed YAML of it)."""
    messages: dict[str, dict[str, Any]] = {}
    keys: dict[str, str] = {}
    channels: dict[str, dict[str, Any]] = {}
    operations: dict[str, dict[str, Any]] = {}
    for topic_id, entry in catalogue.entries.items():
        records = _records(entry)
        if not records:
            continue   # Faust's internal topic: no record of the contract
        for name in records:
            if keys.setdefault(name, entry["key"]) != entry["key"]:
                raise ValueError(f"{name} travels with two different keys ({keys[name]}, {entry['key']})")
            messages.setdefault(name, _message(name, entry["key"], schemas_dir))
        channel: dict[str, Any] = {
            "address": entry["name"], "title": topic_id, "description": " ".join(str(entry["description"]).split()),
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in records},
            "bindings": {"kafka": {"partitions": catalogue.partitions(topic_id),
                                   "replicas": int(entry.get("replication_factor",
                                                             catalogue.defaults["replication_factor"])),
                                   "topicConfiguration": _topic_configuration(catalogue, entry),
                                   "bindingVersion": "0.5.0"}},
            "x-key": entry["key"], "x-producers": list(entry["producers"]), "x-consumers": list(entry["consumers"]),
        }
        if topic_id in HEADERS:
            channel["x-headers"] = HEADERS[topic_id]
        per = entry.get("per")
        if per == "agency":
            channel["parameters"] = {"agency": {"description": "An agency id of the directory (agencies.yaml).",
                                                "enum": sorted(catalogue.directory.agencies)}}
        elif per:
            channel["parameters"] = {PARAMETERS[per]: {"description": f"One topic per {per} (topics.yaml)."}}
        channels[topic_id] = channel
        if topic_id == "ingress":
            continue
        for role in entry["producers"]:
            operations[f"{topic_id}-by-{role}"] = {
                "action": "send", "channel": {"$ref": f"#/channels/{topic_id}"},
                "title": f"{role} writes {entry['name']}",
                "messages": [{"$ref": f"#/channels/{topic_id}/messages/{name}"} for name in records]}
    for kind, names in by_kind().items():
        if not names:
            continue
        operations[f"submit-by-{kind}"] = {
            "action": "receive", "channel": {"$ref": "#/channels/ingress"},
            "title": f"A {kind} agency submits case events",
            "description": f"Case events an agency of kind {kind} may submit on its own ingress topic, as itself, "
                           "keyed by case id and signed (schemas/producers.json gives each its paragraph). Any "
                           "other type is refused with AGENCY_NOT_ALLOWED. Every submission is answered on "
                           "rb.receipts.<agency>.",
            "messages": [{"$ref": f"#/channels/ingress/messages/{name}"} for name in names],
            "reply": {"channel": {"$ref": "#/channels/receipts"},
                      "messages": [{"$ref": "#/channels/receipts/messages/Receipt"}]},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "referral-bus", "version": _version(), "description": DESCRIPTION,
                 "x-generated-by": "python -m referral_bus.interop write (do not edit)"},
        "defaultContentType": CONTENT_TYPE,
        "servers": {"bus": {
            "host": "{bootstrap}", "protocol": "kafka-secure",
            "description": "Apache Kafka, SASL/SCRAM-SHA-512 over TLS; each agency its own principal, which may write "
                           "only its ingress topic and read its inbox and receipts (ACLs from topics.yaml; "
                           "docs/security.md).",
            "variables": {"bootstrap": {"description": "host:port of a broker, given by the bus's operator."}},
            "security": [{"$ref": "#/components/securitySchemes/scram"}]}},
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": dict(sorted(messages.items())),
            "securitySchemes": {"scram": {"type": "scramSha512",
                                          "description": "SASL/SCRAM-SHA-512, one principal per agency."}},
        },
    }


HEADER = ("# Generated by `python -m referral_bus.interop write` from topics.yaml, schemas/avro and the step\n"
          "# table; do not edit. Checked by tests/interop and conformance/asyncapi (the AsyncAPI parser).\n")


def render(document: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110)
