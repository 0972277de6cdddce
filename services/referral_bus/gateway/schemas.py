"""Schemas over HTTP: the gateway's own ``/v1/schemas`` and a read-only, Confluent-compatible
schema-registry API under ``/registry`` so that standard serializers (Confluent's AvroSerializer
and AvroDeserializer, Karapace/Apicurio clients in compatibility mode) work with the bus.

What is served is what the bus released: every version under ``schemas/avro/versions/<Record>/``
(``referral-bus schemas freeze``, BACKWARD_TRANSITIVE), with the bus's own schema ids
(docs/contract.md: derived from the Parsing Canonical Form, or the external registry's ids when
``SCHEMA_REGISTRY_URL`` is set). Subjects follow **RecordNameStrategy** (``kz.referralbus.<Record>``):
one topic carries many record types (an ingress topic takes every event type its agency may
submit), which TopicNameStrategy — one schema per topic — cannot describe. Registration is
refused unless the schema is one the bus already released (then its id is returned, as a
Confluent registry answers a schema it already holds), so a serializer left with
``auto.register.schemas`` on still works and nobody can add a schema through the gateway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from referral_bus.contracts import ALL_RECORDS
from referral_bus.infra.codec.registry import UnknownSchemaId, canonical_form
from referral_bus.infra.codec.schema_export import full_name
from referral_bus.infra.runtime import Runtime

COMPATIBILITY = "BACKWARD_TRANSITIVE"


@dataclass(frozen=True)
class Released:
    record: str
    subject: str
    version: int
    schema_id: int
    schema: dict[str, Any]
    canonical: str


class SchemaCatalogue:
    """Every released version of every record, by subject and by id."""

    def __init__(self, runtime: Runtime) -> None:
        self.by_subject: dict[str, list[Released]] = {}
        self.by_id: dict[int, Released] = {}
        self.record_subject: dict[str, str] = {}
        store = runtime.schema_store
        self.registry = runtime.registry
        for name, model in sorted(ALL_RECORDS.items()):
            subject = full_name(model)
            self.record_subject[name] = subject
            versions = []
            for number, path in enumerate(store.version_paths(name), start=1):
                schema = json.loads(path.read_text())
                released = Released(name, subject, number, runtime.registry.register(subject, schema), schema,
                                    canonical_form(schema))
                versions.append(released)
                self.by_id.setdefault(released.schema_id, released)
            self.by_subject[subject] = versions

    def subject_for(self, record: str) -> str | None:
        return self.record_subject.get(record) or (record if record in self.by_subject else None)


# -- the gateway's own view -------------------------------------------------------------------
class SchemaVersion(BaseModel):
    version: int
    id: int = Field(description="The schema id written in bytes 1–4 of every frame (docs/contract.md)")


class SchemaSummary(BaseModel):
    record: str
    subject: str = Field(description="RecordNameStrategy subject (the registry API under /registry)")
    latest_version: int
    latest_id: int


class SchemaDetail(SchemaSummary):
    schema_: dict[str, Any] = Field(alias="schema", description="The Avro schema of the latest released version")
    versions: list[SchemaVersion]
    compatibility: str = COMPATIBILITY


# -- Confluent's shapes -----------------------------------------------------------------------
class RegistryError(BaseModel):
    error_code: int = Field(description="Confluent's error code, e.g. 40401 subject not found")
    message: str


class RegistrySchema(BaseModel):
    subject: str
    version: int
    id: int
    schema_: str = Field(alias="schema", description="The Avro schema, as a JSON string")


class RegistrySchemaById(BaseModel):
    schema_: str = Field(alias="schema")
    subject: str | None = None
    version: int | None = None


class SchemaRequest(BaseModel):
    schema_: str = Field(alias="schema", description="The Avro schema as a JSON string")
    schemaType: str | None = Field(default=None, description="AVRO (the only type the bus uses)")
    references: list[dict[str, Any]] | None = None


class Registered(BaseModel):
    id: int


class Compatibility(BaseModel):
    compatibilityLevel: str


class Mode(BaseModel):
    mode: str


def _registry_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


_ERR: dict[int | str, dict[str, Any]] = {
    400: {"model": RegistryError, "description": "Body not readable (Confluent error code)"},
    404: {"model": RegistryError, "description": "Not found (Confluent error code)"},
    422: {"model": RegistryError, "description": "Invalid (Confluent error code)"}}


def schema_routes(catalogue: SchemaCatalogue) -> APIRouter:
    """``/v1/schemas`` (the gateway's own answer shapes)."""
    from referral_bus.gateway.errors import GatewayError, responses
    router = APIRouter(prefix="/v1/schemas", tags=["schemas"])

    def summary(record: str, subject: str) -> dict[str, Any]:
        latest = catalogue.by_subject[subject][-1]
        return {"record": record, "subject": subject, "latest_version": latest.version, "latest_id": latest.schema_id}

    @router.get("", response_model=list[SchemaSummary], summary="Every record the bus knows, its latest version and id")
    def list_schemas() -> list[dict[str, Any]]:
        return [summary(r, s) for r, s in sorted(catalogue.record_subject.items()) if catalogue.by_subject[s]]

    @router.get("/{record}", response_model=SchemaDetail, responses=responses(404),
                summary="One record's Avro schema (latest released version) and every version's id")
    def get_schema(record: str = Path(description="Record name (ReferralMade) or subject")) -> dict[str, Any]:
        subject = catalogue.subject_for(record)
        if subject is None or not catalogue.by_subject[subject]:
            raise GatewayError(404, "UNKNOWN_RECORD_TYPE", f"{record!r} is not a record of the bus (GET /v1/schemas "
                               "lists them)", field="record")
        versions = catalogue.by_subject[subject]
        return {**summary(versions[-1].record, subject), "schema": versions[-1].schema,
                "versions": [{"version": v.version, "id": v.schema_id} for v in versions]}

    return router


def registry_routes(catalogue: SchemaCatalogue) -> APIRouter:
    """The read-only Confluent Schema Registry API (the subset serializers and tools use)."""
    router = APIRouter(prefix="/registry", tags=["schema registry (Confluent-compatible, read-only)"])

    def find_subject(subject: str) -> list[Released] | JSONResponse:
        versions = catalogue.by_subject.get(subject)
        if not versions:
            return _registry_error(404, 40401, f"Subject '{subject}' not found. Subjects follow RecordNameStrategy: "
                                               "kz.referralbus.<Record> (GET /registry/subjects)")
        return versions

    def body(released: Released) -> dict[str, Any]:
        return {"subject": released.subject, "version": released.version, "id": released.schema_id,
                "schema": json.dumps(released.schema, separators=(",", ":"))}

    def parse(request: SchemaRequest) -> str | JSONResponse:
        if request.schemaType not in (None, "AVRO"):
            return _registry_error(422, 42201, f"schemaType {request.schemaType!r}: the bus uses AVRO only")
        if request.references:
            return _registry_error(422, 42201, "references: the bus's schemas are self-contained")
        try:
            return canonical_form(json.loads(request.schema_))
        except Exception as exc:  # noqa: BLE001 - json and fastavro raise many types for a bad schema
            return _registry_error(422, 42201, f"schema: not a valid Avro schema ({type(exc).__name__})")

    @router.get("/subjects", response_model=list[str])
    def subjects() -> list[str]:
        return sorted(s for s, v in catalogue.by_subject.items() if v)

    @router.get("/subjects/{subject}/versions", response_model=list[int], responses=_ERR)
    def versions(subject: str) -> Any:
        found = find_subject(subject)
        return found if isinstance(found, JSONResponse) else [v.version for v in found]

    def resolve(subject: str, version: str) -> dict[str, Any] | JSONResponse:
        found = find_subject(subject)
        if isinstance(found, JSONResponse):
            return found
        if version in ("latest", "-1"):
            return body(found[-1])
        if not version.isdigit() or not 1 <= int(version) <= len(found):
            if not version.lstrip("-").isdigit():
                return _registry_error(422, 42202, f"version {version!r}: expected a number ≥ 1 or 'latest'")
            return _registry_error(404, 40402, f"Version {version} not found (subject {subject} has versions "
                                               f"1–{len(found)})")
        return body(found[int(version) - 1])

    @router.get("/subjects/{subject}/versions/{version}", response_model=RegistrySchema,
                responses=_ERR)
    def get_version(subject: str, version: str = Path(description="A version number or `latest`")) -> Any:
        return resolve(subject, version)

    @router.get("/subjects/{subject}/versions/{version}/schema", response_model=dict[str, Any],
                responses=_ERR)
    def get_version_schema(subject: str, version: str) -> Any:
        answer = resolve(subject, version)
        return answer if isinstance(answer, JSONResponse) else json.loads(answer["schema"])

    @router.get("/schemas/ids/{schema_id}", response_model=RegistrySchemaById, responses=_ERR)
    def by_id(schema_id: int = Path(ge=0, le=2**31 - 1), subject: str | None = Query(default=None),
              format: str | None = Query(default=None)) -> Any:  # noqa: A002 - Confluent's parameter name
        released = catalogue.by_id.get(schema_id)
        if released is None:   # a schema the bus writes with but has not released yet (before `schemas freeze`)
            try:
                return {"schema": json.dumps(catalogue.registry.lookup(schema_id), separators=(",", ":"))}
            except UnknownSchemaId:
                return _registry_error(404, 40403, f"Schema {schema_id} not found")
        return {"schema": json.dumps(released.schema, separators=(",", ":")), "subject": released.subject,
                "version": released.version}

    @router.get("/schemas/ids/{schema_id}/versions", response_model=list[dict[str, Any]],
                responses=_ERR)
    def id_versions(schema_id: int = Path(ge=0, le=2**31 - 1)) -> Any:
        released = catalogue.by_id.get(schema_id)
        if released is None:
            return _registry_error(404, 40403, f"Schema {schema_id} not found")
        return [{"subject": released.subject, "version": released.version}]

    @router.get("/schemas/types", response_model=list[str])
    def types() -> list[str]:
        return ["AVRO"]

    def released_as(subject: str, request: SchemaRequest) -> Any:
        """The released version of ``subject`` whose canonical form is the request's schema, ``None``
        when the bus released no such version, or the error response (unknown subject, bad schema)."""
        found = find_subject(subject)
        if isinstance(found, JSONResponse):
            return found
        canonical = parse(request)
        if isinstance(canonical, JSONResponse):
            return canonical
        return next((released for released in reversed(found) if released.canonical == canonical), None)

    @router.post("/subjects/{subject}", response_model=RegistrySchema, responses=_ERR)
    def lookup(subject: str, request: Annotated[SchemaRequest, Body()], normalize: bool = False,
               deleted: bool = False) -> Any:
        """Is this schema registered under the subject? (what AvroSerializer asks with auto-register off)"""
        released = released_as(subject, request)
        if released is None:
            return _registry_error(404, 40403, f"Schema not found under {subject}: it is not a version the bus "
                                               "released")
        return released if isinstance(released, JSONResponse) else body(released)

    @router.post("/subjects/{subject}/versions", response_model=Registered, responses={
        **_ERR, 409: {"model": RegistryError, "description": "Not a released schema: the registry is read-only"}})
    def register(subject: str, request: Annotated[SchemaRequest, Body()], normalize: bool = False) -> Any:
        """Registration: only a schema the bus already released is "registered" (its id comes back);
        anything else is refused — the bus releases schemas (`referral-bus schemas freeze`)."""
        released = released_as(subject, request)
        if isinstance(released, JSONResponse):
            return released
        if released is not None:
            return {"id": released.schema_id}
        return _registry_error(409, 40901, f"{subject}: this registry is read-only; the bus releases its schemas "
                                           f"({COMPATIBILITY}, `referral-bus schemas freeze`) and this schema is "
                                           "not one of them")

    @router.get("/config", response_model=Compatibility)
    def config() -> dict[str, str]:
        return {"compatibilityLevel": COMPATIBILITY}

    @router.get("/config/{subject}", response_model=Compatibility, responses=_ERR)
    def subject_config(subject: str) -> Any:
        found = find_subject(subject)
        return found if isinstance(found, JSONResponse) else {"compatibilityLevel": COMPATIBILITY}

    @router.get("/mode", response_model=Mode)
    def mode() -> dict[str, str]:
        return {"mode": "READONLY"}

    return router
