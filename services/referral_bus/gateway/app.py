"""The gateway's FastAPI application (``create_app``): submit, inbox, receipts, schemas, registry.

Endpoints are plain (synchronous) functions: FastAPI runs them in its thread pool, and they use
kafka-python exactly as the SDK does (``sdk/client.py``), under the caller's own principal.
"""


import base64
import binascii
import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal
from urllib.parse import quote

import structlog
from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from kafka.errors import KafkaError
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from referral_bus.contracts import EVENT_TYPES
from referral_bus.contracts.base import Event
from referral_bus.contracts.bus_records import Receipt, ReceiptStatus
from referral_bus.domain.authorization import authorize
from referral_bus.domain.rejections import Rejection
from referral_bus.domain.signatures import sign
from referral_bus.gateway.errors import GatewayError, Problem, responses
from referral_bus.gateway.kafka_side import (
    REALM,
    Fetched,
    Session,
    Sessions,
    TopicReader,
    decode_cursor,
    encode_cursor,
    find_receipt,
    raise_for_broker,
    refused_by_broker,
    stream,
)
from referral_bus.gateway.schemas import SchemaCatalogue, registry_routes, schema_routes
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.codec.framing import validation_error_to_decode_error
from referral_bus.infra.runtime import Runtime
from referral_bus.infra.settings import GatewaySettings
from referral_bus.infra.signing_keys import SigningKeyError, SigningKeyStore

log = structlog.get_logger(__name__)
#: Envelope fields the router fills on append; a submission that sets them is refused.
ROUTER_FIELDS = ("recorded_at", "sequence", "previous_hash", "hash")
AUTH_HEADER = "X-Referral-Bus-Authentication"
CLAIMED = "claimed (plaintext development bus: the agency named is not checked; docs/gateway.md)"
RECEIPT_KEY = re.compile(r"^(?P<topic>[A-Za-z0-9._-]{1,249}):(?P<partition>\d{1,6}):(?P<offset>\d{1,19})$")


# -- answers ----------------------------------------------------------------------------------
class SubmissionAnswer(BaseModel):
    status: Literal["ACCEPTED", "DUPLICATE", "PENDING"] = Field(
        description="The router's answer; PENDING: not answered within the wait (HTTP 202), ask receipt_url")
    receipt_key: str = Field(description="<ingress topic>:<partition>:<offset> of the submission (docs/contract.md)")
    receipt_url: str
    event_id: str
    receipt: dict[str, Any] | None = Field(default=None, description="The router's Receipt as JSON")


class Item(BaseModel):
    topic: str
    partition: int
    offset: int
    cursor: str = Field(description="Resume after this item (also the SSE event id)")
    delivery_id: str | None = Field(default=None, description="rb-delivery-id: the same on a redelivery; dedupe on it")
    paragraph: str | None = Field(default=None, description="rb-paragraph: why it was sent")
    purpose: str | None = Field(default=None, description="rb-purpose")
    redacted: bool = Field(default=False, description="rb-redacted: the copy has no personal data (6.24)")
    advice: list[str] = Field(default_factory=list, description="rb-advice (NGO admission criteria, 5.9–5.13)")
    key: str | None = None
    record_type: str | None = Field(default=None, description="The Avro record name; null if it did not decode")
    record: dict[str, Any] | None = None
    unreadable: str | None = Field(default=None, description="Why the record did not decode (its reason code)")


class Page(BaseModel):
    items: list[Item]
    cursor: str = Field(description="Pass as ?cursor= to read on")
    principal: str
    authentication: str


class ReceiptAnswer(BaseModel):
    receipt_key: str
    receipt: dict[str, Any]


class UnwrapRequest(BaseModel):
    case_id: str = Field(min_length=1, max_length=100)
    event_id: str = Field(min_length=1, max_length=100)
    recipient: str = Field(min_length=1, max_length=100, description="Whom the copy was sealed for")
    wrapped_key: str = Field(min_length=1, max_length=4096, description="The copy's wrapped data key, base64")
    purpose: str = Field(min_length=1, max_length=500, description="Why it is read (recorded on rb.read-audit)")


class UnwrapAnswer(BaseModel):
    data_key: str = Field(description="The data key, base64 (decrypt the copy's personal data with it)")


def record_json(record: Any) -> dict[str, Any]:
    """A record as JSON: bytes (signatures, hashes) as base64, times ISO-8601, enums by value."""
    encoded = jsonable_encoder(record.model_dump(), custom_encoder={bytes: lambda b: base64.b64encode(b).decode()})
    return encoded  # type: ignore[no-any-return]


#: On every answer: nothing the gateway sends (inbox items, unwrapped data keys, the console's case
#: reads) may be kept by a browser or a proxy cache; the console's page runs only its own script,
#: cannot be framed by another site (clickjacking an Acknowledge button), and leaks no referrer.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
}


def create_app(runtime: Runtime, settings: GatewaySettings | None = None) -> FastAPI:
    """The gateway for ``runtime``'s bus. ``settings`` default: from the environment."""
    from referral_bus.infra.settings import gateway_settings
    config = settings or gateway_settings()
    sessions = Sessions(runtime, config.kafka_ca_file)
    catalogue = SchemaCatalogue(runtime)
    custody = SigningKeyStore(config.signing_key_dir) if config.signing_key_dir else None
    topics = runtime.catalogue

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        sessions.close()   # the callers' producers flush and close

    app = FastAPI(
        lifespan=lifespan,
        # the interactive pages load their scripts from a CDN: nothing of the gateway's users goes there
        docs_url=None, redoc_url=None,
        title="referral-bus HTTP gateway",
        version="1",
        description=(
            "For agencies without a Kafka client (docs/gateway.md). Authenticate with HTTP Basic: the agency id "
            "and its own Kafka SCRAM password — the gateway acts as that principal, so the broker's ACLs decide "
            "as for a Kafka client. On the plaintext development bus the agency named is a claim, not checked "
            f"(header {AUTH_HEADER}). Every refusal names its code, field and, for a rule of the protocol, "
            "its paragraph."),
    )
    app.state.sessions = sessions
    basic = HTTPBasic(auto_error=False, realm="referral-bus",
                      description="Agency id and its Kafka (SCRAM) password; TLS on a secured bus")

    # -- errors -----------------------------------------------------------------------------
    @app.exception_handler(GatewayError)
    def on_gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        return JSONResponse(exc.problem.model_dump(exclude_none=True), status_code=exc.status, headers=exc.headers)

    def registry_path(request: Request) -> bool:
        """The registry API answers in Confluent's shape (``error_code``, ``message``), as its clients expect."""
        return request.url.path.startswith("/registry/")

    @app.exception_handler(RequestValidationError)
    def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "request"
        message = f"{where}: {first.get('msg', 'invalid')}"
        if registry_path(request):
            return JSONResponse({"error_code": 42201 if where.startswith("body") else 422, "message": message},
                                status_code=422)
        return JSONResponse(Problem(code="REQUEST_INVALID", message=message, field=where).model_dump(
            exclude_none=True), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "BODY_UNREADABLE", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
        fields = {400: "body", 401: "Authorization", 404: "path", 405: "method"}
        message = str(exc.detail) if exc.status_code != 404 else f"no such endpoint: {request.url.path}"
        if exc.status_code == 400:
            message = "body: not readable as JSON (send UTF-8 JSON with Content-Type: application/json)"
        if registry_path(request):
            return JSONResponse({"error_code": exc.status_code, "message": message}, status_code=exc.status_code,
                                headers=dict(exc.headers or {}))
        return JSONResponse(Problem(code=codes.get(exc.status_code, f"HTTP_{exc.status_code}"), message=message,
                                    field=fields.get(exc.status_code)).model_dump(exclude_none=True),
                            status_code=exc.status_code, headers=dict(exc.headers or {}))

    #: A body this large cannot hold an event the bus would take (JSON is a few times its Avro size).
    max_body = 8 * runtime.settings.max_event_bytes

    @app.middleware("http")
    async def say_how_authenticated(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_body:
            return JSONResponse(Problem(code="OVERSIZED", message=f"the body is {length} bytes; an event's JSON "
                                        f"may have at most {max_body}", field="body").model_dump(exclude_none=True),
                                status_code=413)
        response = await call_next(request)
        how = getattr(request.state, "authentication", None)
        if how is not None:
            response.headers[AUTH_HEADER] = "verified" if how == "verified" else CLAIMED
        response.headers.update(SECURITY_HEADERS)
        return response

    # -- who is calling ---------------------------------------------------------------------
    def caller(request: Request, credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)]) -> Session:
        if credentials is None:
            raise GatewayError(401, "UNAUTHENTICATED", "Authorization: HTTP Basic with the agency id and its Kafka "
                               "password is required", field="Authorization", headers={"WWW-Authenticate": REALM})
        session = sessions.authenticate(credentials.username, credentials.password)
        request.state.authentication = session.authentication
        return session

    Caller = Annotated[Session, Depends(caller)]

    def inbox_of(session: Session, agency: str | None) -> str:
        """The inbox to read: the caller's own unless another is named — which the broker then
        refuses (the gateway does not decide rights, the ACLs do)."""
        name = agency or session.principal
        if runtime.directory.get(name) is None:
            raise GatewayError(404, "UNKNOWN_AGENCY", f"agency {name!r} is not in the directory", field="agency")
        return topics.inbox(name)

    def receipts_of(session: Session, agency: str | None) -> str:
        name = agency or session.principal
        if runtime.directory.get(name) is None:
            raise GatewayError(404, "UNKNOWN_AGENCY", f"agency {name!r} is not in the directory", field="agency")
        return topics.receipts(name)

    def item(fetched: Fetched, cursor: str) -> dict[str, Any]:
        h = fetched.headers
        out: dict[str, Any] = {
            "topic": fetched.topic, "partition": fetched.partition, "offset": fetched.offset, "cursor": cursor,
            "delivery_id": h.get("rb-delivery-id"), "paragraph": h.get("rb-paragraph"), "purpose": h.get("rb-purpose"),
            "redacted": h.get("rb-redacted") == "true", "key": fetched.key.decode(errors="replace")
            if fetched.key is not None else None}
        try:
            out["advice"] = [str(a) for a in json.loads(h.get("rb-advice") or "[]")]
        except ValueError:
            out["advice"] = []
        try:
            record = runtime.codec.decode(fetched.value)
        except DecodeError as exc:
            out["unreadable"] = exc.code
            return out
        out["record_type"] = type(record).__name__
        out["record"] = record_json(record)
        return out

    def page(session: Session, topic: str, partitions: int, cursor: str | None, limit: int, wait: float) -> Page:
        reader = TopicReader(session, topic, partitions, decode_cursor(cursor, topic, partitions), max_records=limit)
        try:
            offsets = dict(reader.offsets)   # where this page starts; each item's cursor resumes after it
            items = []
            for record in reader.page(limit, wait):
                offsets[record.partition] = record.offset + 1
                items.append(item(record, encode_cursor(topic, offsets)))
            return Page(items=[Item(**i) for i in items], cursor=reader.cursor(), principal=session.principal,
                        authentication=session.authentication)
        except KafkaError as exc:
            raise_for_broker(exc, session.principal, f"READ on {topic}")
        finally:
            reader.close()

    # -- submit -----------------------------------------------------------------------------
    def build(body: dict[str, Any], principal: str) -> Event:
        envelope = body.get("envelope")
        if not isinstance(envelope, dict):
            raise GatewayError(422, "ENVELOPE_INVALID", "envelope: an object with event_type, event_id, case_id, "
                               "occurred_at and producer is required", field="envelope")
        event_type = envelope.get("event_type")
        model = EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
        if model is None:
            raise GatewayError(422, "UNKNOWN_EVENT_TYPE", f"envelope.event_type: {event_type!r} is not an event type "
                               "of the bus (GET /v1/schemas)", field="envelope.event_type")
        env = dict(envelope)
        for name in ROUTER_FIELDS:
            if env.get(name) is not None:
                raise GatewayError(422, "ENVELOPE_INVALID", f"envelope.{name} is set by the router on append; leave "
                                   "it out", field=f"envelope.{name}")
        env.setdefault("schema_version", runtime.schema_store.version_of(model.__name__))
        producer = env.get("producer", {"actor_id": None})
        if not isinstance(producer, dict):
            raise GatewayError(422, "ENVELOPE_INVALID", "envelope.producer: an object with actor_id (and agency_id) "
                               "is required", field="envelope.producer")
        producer = {**producer, "agency_id": producer.get("agency_id", principal)}
        if producer["agency_id"] != principal:
            raise GatewayError(403, "WRONG_INGRESS_TOPIC", f"envelope.producer.agency_id names "
                               f"{producer['agency_id']!r}, but the caller is {principal}: an agency publishes only "
                               "as itself", field="envelope.producer.agency_id")
        env["producer"] = producer
        signature = env.get("signature")
        if isinstance(signature, str):
            try:
                env["signature"] = base64.b64decode(signature, validate=True)
            except (binascii.Error, ValueError):
                raise GatewayError(422, "SIGNATURE_INVALID", "envelope.signature: expected base64 of the packed "
                                   "signature (docs/security.md)", field="envelope.signature") from None
        elif signature is not None:
            raise GatewayError(422, "SIGNATURE_INVALID", "envelope.signature: expected a base64 string",
                               field="envelope.signature")
        try:
            event = model.model_validate({**body, "envelope": env})
        except ValidationError as exc:
            refusal = validation_error_to_decode_error(model.__name__, exc)
            raise GatewayError(422, refusal.code, str(refusal), field=refusal.field,
                               paragraph=refusal.paragraph) from None
        try:
            authorize(event, runtime.directory, principal)
        except Rejection as rejection:
            raise GatewayError(403, rejection.code.value, str(rejection), field=rejection.field,
                               paragraph=rejection.paragraph) from None
        return event

    def sealed(event: Event) -> Event:
        """Personal data sealed to the key vault's public key, as the SDK seals it (issue 11 item 4,
        ``domain/sealing.py``), when that key is known here; otherwise as it is (the router decides
        whether clear personal data is allowed)."""
        from referral_bus.domain.sealing import seal_to_public
        from referral_bus.infra.vault import load_public_key
        if event.sealed is not None:
            return event
        try:
            public = load_public_key(runtime.settings.vault_public_key_file)
        except ValueError as exc:
            raise GatewayError(503, "VAULT_KEY_UNUSABLE", f"the key vault's public key cannot be used: {exc}") from None
        return event if public is None else seal_to_public(event, public)

    def signed(event: Event, principal: str) -> Event:
        if event.envelope.signature is not None:
            return event   # the agency signed (and sealed) it itself: passed through; the router checks it
        if custody is None:
            raise GatewayError(422, "SIGNATURE_MISSING", "envelope.signature: the event is not signed and this gateway "
                               "holds no signing keys; sign it with the agency's Ed25519 key (docs/security.md) or "
                               "ask the operator to give the gateway custody of it (docs/gateway.md)",
                               field="envelope.signature", paragraph=None)
        try:
            key_id, key = custody.current(principal)
        except SigningKeyError as exc:
            raise GatewayError(422, "SIGNATURE_MISSING", f"envelope.signature: not signed, and {exc}",
                               field="envelope.signature") from None
        return sign(sealed(event), key_id, key)

    def encode(event: Event) -> bytes:
        try:
            value = runtime.codec.encode(event)
        except DecodeError as exc:   # a value in a field the declared envelope.schema_version lacks
            raise GatewayError(422, exc.code, str(exc), field=exc.field) from None
        except (ValueError, TypeError, OverflowError) as exc:   # fastavro: a value outside the Avro type's range
            raise GatewayError(422, "SCHEMA_INVALID", f"{type(event).__name__}: a value does not fit its Avro type "
                               f"({type(exc).__name__}; GET /v1/schemas/{type(event).__name__})",
                               field="(record)") from None
        if len(value) > runtime.settings.max_event_bytes:
            raise GatewayError(413, "OVERSIZED", f"the event is {len(value)} bytes encoded, over the bus's "
                               f"{runtime.settings.max_event_bytes} (REFERRAL_BUS_MAX_EVENT_BYTES)", field="(body)")
        return value

    @app.post("/v1/events", response_model=SubmissionAnswer, tags=["events"],
              responses={202: {"model": SubmissionAnswer, "description": "Sent; the receipt is not in yet"},
                         **responses(400, 401, 403, 413, 422, 503)},
              summary="Submit an event (JSON following its Avro contract); answered with the router's receipt")
    def submit(*, body: Annotated[dict[str, Any], Body(description=(
            "The event as its Avro record (GET /v1/schemas/{record}) in JSON: `envelope` with `event_type`, "
            "`event_id` (the idempotency key: send it again, same id, and the answer is DUPLICATE), `case_id`, "
            "`occurred_at` (ISO-8601 with offset), `producer` {`actor_id`, `actor_role`?} (`agency_id` defaults to "
            "the caller), optional `signature` (base64); then the record's own fields. Union values plain, times "
            "ISO-8601, bytes base64."), openapi_examples={"referral": {"summary": "A school's referral", "value": {
                "envelope": {"event_type": "ReferralMade", "event_id": "7f3c1c1e-2b7a-4c55-9a51-0c1d2e3f4a5b",
                             "case_id": "KZ-ALA-000123", "occurred_at": "2026-03-02T09:00:00+05:00",
                             "producer": {"actor_id": "teacher-1"}},
                "referral_kind": "CHILD_PROTECTION", "city": "ALMATY", "child_age_years": 7}}})],
               session: Caller) -> JSONResponse:
        event = signed(build(body, session.principal), session.principal)
        value = encode(event)
        topic = topics.ingress(session.principal)
        try:
            metadata = session.producer().send(topic, key=event.envelope.case_id.encode(), value=value).get(timeout=30)
        except KafkaError as exc:
            session.close()   # a fresh producer for the next send (the SDK's reset_producer)
            refused = refused_by_broker(exc, session.principal, f"WRITE on {topic}")
            if refused is None:
                raise GatewayError(503, "BROKERS_UNAVAILABLE", f"the brokers did not take the event "
                                   f"({type(exc).__name__}); send it again — same event id, answered once") from None
            raise refused from None
        key = f"{topic}:{metadata.partition}:{metadata.offset}"
        since = metadata.timestamp if metadata.timestamp and metadata.timestamp > 0 else None
        url = f"/v1/receipts/{quote(key)}" + (f"?since={since}" if since else "")
        log.info("gateway.submitted", principal=session.principal, event_id=str(event.envelope.event_id),
                 event_type=type(event).__name__, receipt_key=key)
        answer = {"receipt_key": key, "receipt_url": url, "event_id": str(event.envelope.event_id)}
        found = None if config.receipt_wait_seconds == 0 else find_receipt(   # 0: answer 202 at once
            session, topics.receipts(session.principal), topics.partitions("receipts"), key, since,
            config.receipt_wait_seconds)
        if found is None:
            return JSONResponse({**answer, "status": "PENDING", "receipt": None}, status_code=202,
                                headers={"Location": url})
        return receipt_response(found, answer)

    def receipt_response(found: Fetched, answer: dict[str, Any]) -> JSONResponse:
        receipt = runtime.codec.decode(found.value)
        if not isinstance(receipt, Receipt):
            raise GatewayError(502, "NOT_A_RECEIPT", f"{found.topic}:{found.partition}:{found.offset} is not a receipt")
        body = record_json(receipt)
        if receipt.status is ReceiptStatus.REJECTED:
            code = str(getattr(receipt.reason_code, "value", receipt.reason_code) or "REJECTED")
            return JSONResponse(Problem(code=code, message=receipt.reason or "refused by the router",
                                        field=receipt.field, paragraph=receipt.paragraph,
                                        receipt=body).model_dump(exclude_none=True), status_code=422)
        return JSONResponse({**answer, "status": receipt.status.value, "receipt": body}, status_code=200)

    limit_q = Query(default=100, ge=1, le=1000, description="At most this many items")
    wait_q = Query(default=0, ge=0, le=30, description="Long-poll: seconds to wait when nothing is there yet")
    cursor_q = Query(default=None, max_length=4096, description="From a previous answer; none: from the beginning")
    agency_q = Query(default=None, max_length=100, description="Whose inbox (default the caller's; the broker "
                                                               "refuses any other)")

    def sse(session: Session, topic: str, partitions: int, cursor: str | None, last_event_id: str | None,
            heartbeat: float) -> StreamingResponse:
        token, field = (last_event_id, "Last-Event-ID") if last_event_id else (cursor, "cursor")
        reader = TopicReader(session, topic, partitions, decode_cursor(token, topic, partitions, field))

        def events() -> Iterator[str]:
            yield f"retry: 3000\n: {session.principal}, {session.authentication}\n\n"
            for fetched in stream(reader, heartbeat):
                if fetched is None:
                    yield ": keep-alive\n\n"
                    continue
                cursor_now = reader.cursor()
                data = json.dumps(item(fetched, cursor_now), ensure_ascii=False, separators=(",", ":"))
                yield f"id: {cursor_now}\nevent: delivery\ndata: {data}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    stream_ok = {200: {"description": "Server-Sent Events: `event: delivery`, `id` = the cursor after it, `data` = "
                                      "the item as in GET /v1/inbox; comments as keep-alives",
                       "content": {"text/event-stream": {"schema": {"type": "string"}}}}}

    @app.get("/v1/receipts/stream", tags=["events"], response_class=StreamingResponse,
             responses={**stream_ok, **responses(401, 403, 404, 422, 503)},  # type: ignore[dict-item]
             summary="The caller's receipts as a live stream (SSE), resumable with Last-Event-ID")
    def receipts_stream(*, cursor: str | None = cursor_q, agency: str | None = agency_q,
                        last_event_id: str | None = Header(default=None, max_length=4096),
                        heartbeat: float = Query(default=15, ge=1, le=300),
                        session: Caller) -> StreamingResponse:
        return sse(session, receipts_of(session, agency), topics.partitions("receipts"), cursor, last_event_id,
                   heartbeat)

    @app.get("/v1/receipts/{key}", response_model=SubmissionAnswer, tags=["events"],
             responses=responses(401, 403, 404, 422, 503),
             summary="The receipt of one submission (the receipt_url of a 202)")
    def get_receipt(*, key: str = Path(description="<ingress topic>:<partition>:<offset>"),
                    since: int | None = Query(default=None, ge=0, le=2**62,
                                              description="When it was sent (ms since the epoch; from receipt_url)"),
                    wait: float = Query(default=0, ge=0, le=30, description="Seconds to wait for it"),
                    session: Caller) -> JSONResponse:
        match = RECEIPT_KEY.match(key)
        own = topics.ingress(session.principal)
        if match is None or match["topic"] != own:
            raise GatewayError(422, "BAD_RECEIPT_KEY", f"key: expected {own}:<partition>:<offset> (a submission of "
                               f"{session.principal}, as returned by POST /v1/events)", field="key")
        found = find_receipt(session, topics.receipts(session.principal), topics.partitions("receipts"), key, since,
                             wait)
        if found is None:
            raise GatewayError(404, "RECEIPT_NOT_FOUND", f"no receipt for {key} yet (the router answers every "
                               "submission; ask again, or with ?wait=)", field="key")
        return receipt_response(found, {"receipt_key": key, "receipt_url": f"/v1/receipts/{quote(key)}",
                                        "event_id": ""})

    # -- reading ----------------------------------------------------------------------------
    @app.get("/v1/inbox", response_model=Page, tags=["inbox"], responses=responses(401, 403, 404, 422, 503),
             summary="The caller's inbox from a cursor (deliveries with why they were sent and their delivery id)")
    def inbox(*, cursor: str | None = cursor_q, limit: int = limit_q, wait: float = wait_q,
              agency: str | None = agency_q, session: Caller) -> Page:
        return page(session, inbox_of(session, agency), topics.partitions("inbox"), cursor, limit, wait)

    @app.get("/v1/receipts", response_model=Page, tags=["events"], responses=responses(401, 403, 404, 422, 503),
             summary="The caller's receipts from a cursor")
    def receipts(*, cursor: str | None = cursor_q, limit: int = limit_q, wait: float = wait_q,
                 agency: str | None = agency_q, session: Caller) -> Page:
        return page(session, receipts_of(session, agency), topics.partitions("receipts"), cursor, limit, wait)

    @app.get("/v1/inbox/stream", tags=["inbox"], response_class=StreamingResponse,
             responses={**stream_ok, **responses(401, 403, 404, 422, 503)},  # type: ignore[dict-item]
             summary="The caller's inbox as a live stream (SSE), resumable with Last-Event-ID")
    def inbox_stream(*, cursor: str | None = cursor_q, agency: str | None = agency_q,
                     last_event_id: str | None = Header(default=None, max_length=4096),
                     heartbeat: float = Query(default=15, ge=1, le=300, description="Seconds between keep-alives"),
                     session: Caller) -> StreamingResponse:
        return sse(session, inbox_of(session, agency), topics.partitions("inbox"), cursor, last_event_id, heartbeat)

    key_service: list[Any] = []   # made on the first unwrap: it opens (and on first use makes) the vault

    @app.post("/v1/keys/unwrap", response_model=UnwrapAnswer, tags=["personal data"],
              responses=responses(400, 401, 403, 404, 410, 422, 503),
              summary="Unwrap the data key of an inbox copy sealed for the caller (an audited read)")
    def unwrap(request: UnwrapRequest, session: Caller) -> Any:
        from referral_bus.infra.read_audit import record_read
        from referral_bus.infra.vault import KeyService, KeyServiceRefusal, Vault
        try:
            wrapped = base64.b64decode(request.wrapped_key, validate=True)
        except (binascii.Error, ValueError):
            raise GatewayError(422, "BAD_WRAPPED_KEY", "wrapped_key: expected base64", field="wrapped_key") from None
        if not key_service:
            key_service.append(KeyService(Vault.open(runtime.settings),
                                          lambda **kw: record_read(runtime, **kw),
                                          allow_unauthenticated=not config.secured))
        try:
            data_key = key_service[0].unwrap(
                principal=session.principal, authenticated=session.authentication == "verified",
                case_id=request.case_id, event_id=request.event_id, recipient=request.recipient,
                wrapped_key=wrapped, purpose=request.purpose)
        except KeyServiceRefusal as exc:
            field = {"BAD_WRAPPED_KEY": "wrapped_key", "PURPOSE_REFUSED": "purpose", "NOT_ENTITLED": "recipient",
                     "UNKNOWN_CASE_KEY": "case_id", "CASE_ERASED": "case_id"}.get(exc.code)
            raise GatewayError(exc.http_status, exc.code, exc.message, field=field) from None
        return {"data_key": base64.b64encode(data_key).decode()}

    @app.get("/v1/whoami", tags=["inbox"], responses=responses(401, 503),
             summary="Who the gateway takes the caller to be, and whether that was checked")
    def whoami(session: Caller) -> dict[str, str]:
        return {"principal": session.principal, "authentication": session.authentication,
                "inbox": topics.inbox(session.principal), "ingress": topics.ingress(session.principal)}

    app.include_router(schema_routes(catalogue))
    app.include_router(registry_routes(catalogue))
    from referral_bus.gateway.console import mount_console  # the operations console (docs/console.md)
    mount_console(app, runtime, caller, config.kafka_ca_file)

    return app
