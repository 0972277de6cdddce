"""The agency SDK on kafka-python.

    client = AgencyClient("police-juvenile-almaty", actor_id="inspector-17")
    event = client.event(EmergencyRemoval, case_id="KZ-ALA-000123", city=City.ALMATY, ...)
    receipt = client.publish(event, wait_for_receipt=True)

Events are validated locally before they leave (schema, envelope, whether this agency may publish
the type), signed with the agency's current Ed25519 key (``REFERRAL_BUS_SIGNING_KEY_DIR``), sent
with an idempotent producer keyed by case id, and answered by the router with a
receipt on its own receipts topic (rb.receipts.<agency id>). ``inbox()`` yields what the bus
routed to this agency, through a consumer group, committing only what the caller has processed.

Personal data (issue 11, item 4; docs/security.md): when the key vault's public key is found
(``REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE``), an event's personal data and personal free text are sealed
to it before signing (``domain/sealing.py``) and leave this machine only as ciphertext. An inbox copy
sealed for this agency is opened with ``open_personal_data(item, purpose=...)``: the gateway's key
service unwraps the copy's data key (an audited read) and the SDK decrypts here.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError
from pydantic import ValidationError

from referral_bus.contracts.base import (
    Envelope,
    Event,
    Producer,
    Record,
    submitted_envelope,
)
from referral_bus.contracts.bus_records import Receipt
from referral_bus.domain.authorization import authorize
from referral_bus.domain.rejections import Rejection
from referral_bus.domain.sealing import SealingError, open_sealed, seal_to_public
from referral_bus.domain.signatures import sign
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.codec.framing import validation_error_to_decode_error
from referral_bus.infra.kafka.security import KafkaSecurity
from referral_bus.infra.runtime import Runtime, load_runtime
from referral_bus.infra.settings import Settings
from referral_bus.infra.signing_keys import SigningKeyError, SigningKeyStore
from referral_bus.infra.vault import KeyServiceRefusal, load_public_key

log = structlog.get_logger(__name__)
E = TypeVar("E", bound=Event)
#: How many recent delivery ids an inbox session remembers to drop repeats.
SEEN_DELIVERIES = 100_000


class PublishError(Exception):
    """The event was refused before it left, or its receipt did not arrive in time."""


class PersonalDataUnavailable(Exception):
    """An inbox copy's personal data could not be opened: ``code`` is the key service's
    (NOT_ENTITLED, CASE_ERASED, UNKNOWN_CASE_KEY, BAD_WRAPPED_KEY, AUDIT_UNAVAILABLE, …) or
    NOT_SEALED_FOR_US / SEALED_DATA_INVALID / GATEWAY_UNREACHABLE from the SDK itself."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


#: Unwraps a copy's data key: (case_id, event_id, recipient, wrapped_key, purpose) → data key, or
#: ``PersonalDataUnavailable``. Default: the gateway's ``POST /v1/keys/unwrap``.
Unwrap = Callable[..., bytes]
#: Where the gateway is, for the default unwrap (docs/gateway.md).
GATEWAY_URL_ENV = "REFERRAL_BUS_GATEWAY_URL"


@dataclass(frozen=True)
class InboxItem:
    record: Record
    delivery_id: str | None
    paragraph: str | None
    purpose: str | None
    redacted: bool
    topic: str
    partition: int
    offset: int
    #: Advice the bus attaches and never applies, e.g. the NGO admission criteria (5.9, 5.12, 5.13)
    advice: tuple[str, ...] = ()


class AgencyClient:
    def __init__(self, agency_id: str, actor_id: str, *, actor_role: str | None = None,
                 bootstrap_servers: str | None = None, security: KafkaSecurity | None = None,
                 runtime: Runtime | None = None, unwrap: Unwrap | None = None,
                 gateway_url: str | None = None) -> None:
        """``security``: this agency's credentials (default: from the environment,
        REFERRAL_BUS_KAFKA_SECURITY …, see docs/security.md); ignored when ``runtime`` is given.
        ``unwrap``: how sealed inbox copies get their data key (default: the gateway at
        ``gateway_url`` or $REFERRAL_BUS_GATEWAY_URL, as this agency)."""
        overrides: dict[str, Any] = {}
        if bootstrap_servers:
            overrides["bootstrap_servers"] = bootstrap_servers
        if security is not None:
            overrides["kafka_security"] = security
        settings = Settings(**overrides) if overrides else None
        self.runtime = runtime or load_runtime(settings)
        self.servers = self.runtime.settings.bootstrap_servers
        agency = self.runtime.directory.get(agency_id)
        if agency is None:
            raise ValueError(f"agency {agency_id!r} is not in the agency directory (agencies.yaml)")
        self.agency = agency
        self.producer_info = Producer(agency_id=agency_id, actor_id=actor_id, actor_role=actor_role)
        self._producer: KafkaProducer | None = None
        self._receipts: KafkaConsumer | None = None
        self._inbox: KafkaConsumer | None = None
        self._keys = SigningKeyStore(self.runtime.settings.signing_keys)
        self._unwrap = unwrap or self._unwrap_at_gateway
        self.gateway_url = gateway_url or os.environ.get(GATEWAY_URL_ENV) or None
        #: (mtime, raw key) of the vault's public key file, re-read when it changes
        self._vault_key: tuple[int, bytes | None] | None = None
        #: (topic, partition, offset, reason code) of the most recent records that did not decode, skipped
        self.unreadable: deque[tuple[str, int, int, str]] = deque(maxlen=1000)
        #: Delivery ids already handed to the caller in this session (the most recent ones).
        self._seen: OrderedDict[str, None] = OrderedDict()

    # -- building events ----------------------------------------------------------------------
    def event(self, event_type: type[E], *, case_id: str, occurred_at: datetime | None = None,
              correlation_id: uuid.UUID | None = None, causation_id: uuid.UUID | None = None,
              event_id: uuid.UUID | None = None, **fields: Any) -> E:
        """Build an event with a complete envelope; raises ``PublishError`` naming the field."""
        try:
            envelope = Envelope.model_validate(submitted_envelope(
                event_id=event_id or uuid.uuid4(), event_type=event_type.__name__,
                schema_version=self.runtime.schema_store.version_of(event_type.__name__), case_id=case_id,
                occurred_at=occurred_at or datetime.now(UTC), producer=self.producer_info.model_dump(),
                correlation_id=correlation_id, causation_id=causation_id))
            return event_type(envelope=envelope, **fields)
        except ValidationError as exc:
            raise PublishError(str(validation_error_to_decode_error(event_type.__name__, exc))) from None

    # -- publishing ---------------------------------------------------------------------------
    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(**self.runtime.settings.kafka_python(), enable_idempotence=True, acks="all",
                                           linger_ms=5, client_id=f"sdk-{self.agency.id}")
        return self._producer

    def reset_producer(self) -> None:
        """Drop the producer and whatever it has not sent; a fresh one connects on the next send.
        After a whole cluster restarted, kafka-python 3.0's producer was seen never to reconnect
        (tests/system/test_broker_faults.py); events sent again keep their ids, so each is
        appended and answered once."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.close(timeout=0)
        except KafkaTimeoutError:
            # kafka-python 3.0's close() flushes first and raises at the timeout before it would
            # force-close its sender thread; stop that thread, or it retries the lost sends forever
            sender = getattr(producer, "_sender", None)
            if sender is not None:
                sender.force_close()

    def validate(self, event: Event) -> bytes:
        """Local validation (schema and the agency's right to publish the type), then the agency's
        signature (its current key from the signing-key store); returns the bytes to send."""
        try:
            type(event).model_validate(event.model_dump())
            authorize(event, self.runtime.directory, self.agency.id)
        except ValidationError as exc:
            raise PublishError(str(validation_error_to_decode_error(type(event).__name__, exc))) from None
        except Rejection as rejection:
            raise PublishError(str(rejection)) from None
        return self.runtime.codec.encode(self.sign(self.seal(event)))

    def vault_public_key(self) -> bytes | None:
        """The key vault's ingress public key (REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE), None when absent."""
        path = self.runtime.settings.vault_public_key_file
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        if self._vault_key is None or self._vault_key[0] != mtime:
            try:
                self._vault_key = (mtime, load_public_key(path))
            except ValueError as exc:
                raise PublishError(str(exc)) from None
        return self._vault_key[1]

    def seal(self, event: E) -> E:
        """``event`` with its personal part sealed to the key vault, when its public key is known
        (as it is: nothing personal, or no vault key — the router decides whether clear is allowed)."""
        if event.sealed is not None:
            return event
        public = self.vault_public_key()
        return event if public is None else seal_to_public(event, public)

    # -- sealed personal data of inbox copies ---------------------------------------------------
    def open_personal_data(self, item: InboxItem | Event, *, purpose: str) -> Event:
        """The inbox copy with its personal data opened: the key service unwraps the copy's data key
        (recorded as an audited read, with ``purpose``), then it is decrypted here. A copy that
        carries nothing sealed is returned as it is."""
        event = item.record if isinstance(item, InboxItem) else item
        if not isinstance(event, Event):
            raise PersonalDataUnavailable("NOT_SEALED_FOR_US", f"{type(event).__name__} is not a case event")
        sealed = event.sealed
        if sealed is None:
            return event
        if sealed.recipient != self.agency.id:
            raise PersonalDataUnavailable("NOT_SEALED_FOR_US", f"this copy is sealed for {sealed.recipient}, not "
                                          f"for {self.agency.id}")
        env = event.envelope
        try:
            data_key = self._unwrap(case_id=env.case_id, event_id=str(env.event_id), recipient=sealed.recipient,
                                    wrapped_key=sealed.wrapped_key, purpose=purpose)
        except KeyServiceRefusal as exc:     # an in-process key service (infra/vault.py), e.g. in the gateway
            raise PersonalDataUnavailable(exc.code, exc.message) from None
        try:
            return open_sealed(event, data_key)
        except SealingError as exc:
            raise PersonalDataUnavailable("SEALED_DATA_INVALID", str(exc)) from None

    def _unwrap_at_gateway(self, *, case_id: str, event_id: str, recipient: str, wrapped_key: bytes,
                           purpose: str) -> bytes:
        """``POST {gateway}/v1/keys/unwrap`` as this agency (HTTP Basic: its Kafka user name and password)."""
        if not self.gateway_url:
            raise PersonalDataUnavailable("GATEWAY_UNREACHABLE", f"no gateway to unwrap with: set {GATEWAY_URL_ENV}")
        body = json.dumps({"case_id": case_id, "event_id": event_id, "recipient": recipient,
                           "wrapped_key": base64.b64encode(wrapped_key).decode(), "purpose": purpose}).encode()
        security = self.runtime.settings.kafka_security
        user = security.username or self.agency.id
        token = base64.b64encode(f"{user}:{security.password or ''}".encode()).decode()
        request = urllib.request.Request(self.gateway_url.rstrip("/") + "/v1/keys/unwrap", data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Basic {token}"})
        context = ssl.create_default_context(cafile=str(security.ca_file)) if security.ca_file else None
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as response:
                return base64.b64decode(json.loads(response.read())["data_key"], validate=True)
        except urllib.error.HTTPError as exc:
            try:
                problem = json.loads(exc.read())
                code, message = str(problem["code"]), str(problem.get("message", ""))
            except (ValueError, KeyError, TypeError):
                code, message = f"HTTP_{exc.code}", "the gateway refused"
            raise PersonalDataUnavailable(code, message) from None
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            raise PersonalDataUnavailable("GATEWAY_UNREACHABLE", f"{self.gateway_url}: {type(exc).__name__}") from None

    def sign(self, event: Event) -> Event:
        """``event`` signed by this agency (domain/signatures.py); ``PublishError`` without a key."""
        try:
            key_id, key = self._keys.current(self.agency.id)
        except SigningKeyError as exc:
            raise PublishError(str(exc)) from None
        # Signed as the router will decode it (timestamps in UTC, every field of the current schema
        # present): an event built with Almaty's +05:00 offset would otherwise sign other bytes than
        # the router checks (docs/contract.md, "Signing bytes"; decision 64).
        decoded = self.runtime.codec.decode(self.runtime.codec.encode(event))
        assert isinstance(decoded, Event)
        return sign(decoded, key_id, key)

    def publish(self, event: Event, *, wait_for_receipt: bool = False, timeout: float = 30.0) -> Receipt | None:
        value = self.validate(event)
        return self.publish_raw(event.envelope.case_id.encode(), value, receipt_key=str(event.envelope.event_id)
                                if wait_for_receipt else None, timeout=timeout)

    def publish_raw(self, key: bytes | None, value: bytes, *, receipt_key: str | None = None,
                    timeout: float = 30.0) -> Receipt | None:
        """Send bytes as they are to this agency's ingress topic (used for tests and tools)."""
        topic = self.runtime.catalogue.ingress(self.agency.id)
        if receipt_key is not None:
            self._position_receipts(receipt_key)
        try:
            metadata = self.producer.send(topic, key=key, value=value).get(timeout=timeout)
        except KafkaTimeoutError:
            self.reset_producer()
            raise PublishError(f"the broker did not acknowledge the event within {timeout}s; send it again (same "
                               "event id: the bus answers it once) — the client reconnects for the next send") from None
        if receipt_key is None:
            return None
        return self.wait_for_receipt(lambda r: str(r.event_id) == receipt_key or (
            r.source_topic == topic and r.source_partition == metadata.partition
            and r.source_offset == metadata.offset), timeout)

    def _position_receipts(self, receipt_key: str) -> None:
        topic = self.runtime.catalogue.receipts(self.agency.id)
        partitions = self.runtime.catalogue.partitions("receipts")
        if self._receipts is None:
            self._receipts = KafkaConsumer(**self.runtime.settings.kafka_python(), group_id=None,
                                           enable_auto_commit=False)
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            self._receipts.assign(tps)
            self._receipts.seek_to_end(*tps)
            for tp in tps:
                self._receipts.position(tp)

    def wait_for_receipt(self, match: Any, timeout: float) -> Receipt:
        assert self._receipts is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in self._receipts.poll(timeout_ms=200).values():
                for record in records:
                    try:
                        receipt = self.runtime.codec.decode(record.value)
                    except DecodeError as exc:
                        self._unreadable(record, exc)
                        continue
                    if isinstance(receipt, Receipt) and match(receipt):
                        return receipt
        raise PublishError(f"no receipt within {timeout}s (the router may be down; the event is safely on the "
                           "ingress topic and will be processed when it is back)")

    # -- the inbox ----------------------------------------------------------------------------
    def inbox(self, *, group_id: str | None = None, poll_timeout: float = 1.0,
              idle_timeout: float | None = None) -> Iterator[InboxItem]:
        """Yield deliveries to this agency. Offsets of a poll's items are committed once the caller
        asks for the item after them; ``idle_timeout`` ends the iteration after that many seconds
        without deliveries (counted from when the group assignment arrived)."""
        consumer = self._inbox_consumer(group_id)
        idle_since = time.monotonic()
        while True:
            batch = consumer.poll(timeout_ms=int(poll_timeout * 1000))
            if not batch:
                if not consumer.assignment():  # still joining the group: not idle yet
                    idle_since = time.monotonic()
                elif idle_timeout is not None and time.monotonic() - idle_since > idle_timeout:
                    return
                continue
            idle_since = time.monotonic()
            for records in batch.values():
                for record in records:
                    headers = {k: v.decode() for k, v in (record.headers or [])}
                    if self._already_seen(headers.get("rb-delivery-id")):
                        continue
                    try:
                        delivered = self.runtime.codec.decode(record.value)
                    except DecodeError as exc:   # a poison record: set aside, the inbox goes on
                        self._unreadable(record, exc)
                        continue
                    yield InboxItem(delivered, headers.get("rb-delivery-id"),
                                    headers.get("rb-paragraph"), headers.get("rb-purpose"),
                                    headers.get("rb-redacted") == "true", record.topic, record.partition,
                                    record.offset, tuple(json.loads(headers.get("rb-advice") or "[]")))
            consumer.commit()

    def _unreadable(self, record: Any, exc: DecodeError) -> None:
        """Keep the coordinates of a record that does not decode (``unreadable``) and log them —
        never its bytes — so that the agency's operators can report it; the consumer goes on."""
        self.unreadable.append((record.topic, record.partition, record.offset, exc.code))
        log.error("sdk.unreadable_record", agency=self.agency.id, topic=record.topic, partition=record.partition,
                  offset=record.offset, reason_code=exc.code)

    def _already_seen(self, delivery_id: str | None) -> bool:
        """A delivery re-sent after a crash of the router or SLA processor carries the same
        ``rb-delivery-id`` (at-least-once delivery, docs/decisions.md): the repeat is dropped here.
        Systems that keep inbox items across sessions dedupe by the same id."""
        if delivery_id is None:
            return False
        if delivery_id in self._seen:
            return True
        self._seen[delivery_id] = None
        while len(self._seen) > SEEN_DELIVERIES:
            self._seen.popitem(last=False)
        return False

    def _inbox_consumer(self, group_id: str | None) -> KafkaConsumer:
        if self._inbox is None:
            settings = self.runtime.settings
            self._inbox = KafkaConsumer(
                self.runtime.catalogue.inbox(self.agency.id), **settings.kafka_python(),
                group_id=group_id or f"{self.agency.id}-inbox", enable_auto_commit=False,
                auto_offset_reset="earliest",
                # kafka-python uses max_poll_interval as the rebalance timeout (REFERRAL_BUS_REBALANCE_TIMEOUT)
                max_poll_interval_ms=int(settings.rebalance_timeout_seconds * 1000),
                session_timeout_ms=int(settings.session_timeout_seconds * 1000),
                heartbeat_interval_ms=int(settings.heartbeat_interval_seconds * 1000))
        return self._inbox

    def close(self) -> None:
        for closable in (self._producer, self._receipts, self._inbox):
            if closable is not None:
                closable.close()
        self._producer = self._receipts = self._inbox = None

    def __enter__(self) -> AgencyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
