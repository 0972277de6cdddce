"""The gateway's Kafka side: every caller's own connection (the caller's principal, its password
checked by the broker's SCRAM handshake), opaque cursors over a topic's partition offsets, pages
and streams of an inbox or receipts topic, and finding the receipt of one submission.

The gateway holds no Kafka credentials of its own. On a secured bus it connects *as the caller*,
so the broker's ACLs decide what the caller may write and read, exactly as for a Kafka client; on
the plaintext development bus the caller's name is a claim (docs/gateway.md).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import structlog
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import (
    AuthorizationError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    SaslAuthenticationFailedError,
    TopicAuthorizationFailedError,
)

from referral_bus.gateway.errors import GatewayError
from referral_bus.infra.kafka.log_reader import partition_for_key
from referral_bus.infra.kafka.security import KafkaSecurity
from referral_bus.infra.runtime import Runtime

log = structlog.get_logger(__name__)
#: A verified password is trusted this long before the broker is asked again (a revoked or rotated
#: password stops working through the gateway within this time).
VERIFIED_FOR_SECONDS = 60.0
#: Callers whose connections are kept at once (least recently used ones are closed).
MAX_SESSIONS = 256
REALM = 'Basic realm="referral-bus", charset="UTF-8"'


def _unauthorized(message: str) -> GatewayError:
    return GatewayError(401, "UNAUTHENTICATED", message, field="Authorization",
                        headers={"WWW-Authenticate": REALM})


def refused_by_broker(exc: BaseException, principal: str, what: str) -> GatewayError | None:
    """The HTTP answer for a Kafka error raised while acting as ``principal``; None: not a refusal."""
    if isinstance(exc, TopicAuthorizationFailedError | AuthorizationError):
        return GatewayError(403, "NOT_AUTHORIZED", f"the brokers refused {principal} {what} "
                            "(their ACLs, generated from topics.yaml and agencies.yaml: docs/security.md)")
    if isinstance(exc, SaslAuthenticationFailedError):
        return _unauthorized(f"the brokers refused the credentials of {principal}")
    if isinstance(exc, KafkaTimeoutError | KafkaConnectionError):
        return GatewayError(503, "BROKERS_UNAVAILABLE", "the Kafka brokers did not answer; try again")
    return None


def raise_for_broker(exc: BaseException, principal: str, what: str) -> NoReturn:
    """Raise the HTTP answer a Kafka error means while acting as ``principal`` (``refused_by_broker``),
    or the error itself when it is no refusal."""
    refused = refused_by_broker(exc, principal, what)
    if refused is None:
        raise exc
    raise refused from None


@dataclass
class Session:
    """One caller's connection: its principal, how it authenticated and its Kafka settings."""

    principal: str
    #: ``verified``: the broker accepted the password; ``claimed``: a plaintext bus, nothing checked.
    authentication: str
    kafka: dict[str, Any]
    verified_at: float = field(default_factory=time.monotonic)
    _producer: KafkaProducer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                self._producer = KafkaProducer(**self.kafka, enable_idempotence=True, acks="all", linger_ms=2,
                                               client_id=f"gateway-{self.principal}")
            return self._producer

    def consumer(self, **extra: Any) -> KafkaConsumer:
        return KafkaConsumer(**self.kafka, group_id=None, enable_auto_commit=False,
                             client_id=f"gateway-{self.principal}", **extra)

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=5)
            except KafkaError:
                pass


class Sessions:
    """Authenticates callers and keeps their connections, keyed by principal and a salted hash of the
    password (the clear password is never kept as a key, nor logged)."""

    def __init__(self, runtime: Runtime, kafka_ca_file: Path | None) -> None:
        self.runtime = runtime
        self.ca_file = kafka_ca_file
        self._salt = secrets.token_bytes(16)
        self._sessions: OrderedDict[tuple[str, bytes], Session] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def secured(self) -> bool:
        return self.ca_file is not None

    def authenticate(self, username: str, password: str) -> Session:
        if self.runtime.directory.get(username) is None:
            refusal = _unauthorized(f"{username!r} is not an agency of the directory (agencies.yaml); the gateway "
                                    "serves agencies, each with its own Kafka principal")
            # on a secured bus held as long as a refused password (the plaintext bus has no secret)
            raise refuse_after(time.monotonic(), refusal) if self.secured else refusal
        key = (username, hashlib.sha256(self._salt + password.encode()).digest())
        with self._lock:
            known = self._sessions.get(key)
            if known is not None and time.monotonic() - known.verified_at < VERIFIED_FOR_SECONDS:
                self._sessions.move_to_end(key)
                return known
        if known is not None:
            # asked again; the session, whose producer may be mid-send for another request, is kept
            # while the password still holds, and closed when it no longer does
            if known.authentication == "verified":
                try:
                    verify_password(known.kafka, username)
                except GatewayError as exc:
                    if exc.status == 401:
                        self._drop(key)
                    raise
            known.verified_at = time.monotonic()
            return known
        session = self._connect(username, password)
        with self._lock:
            self._sessions[key] = session
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)[1].close()
        return session

    def _drop(self, key: tuple[str, bytes]) -> None:
        with self._lock:
            session = self._sessions.pop(key, None)
        if session is not None:
            session.close()

    def _connect(self, username: str, password: str) -> Session:
        servers = self.runtime.settings.bootstrap_servers
        if self.ca_file is None:
            return Session(username, "claimed", {"bootstrap_servers": servers})
        security = KafkaSecurity("sasl_ssl", username, password, self.ca_file)
        settings = {"bootstrap_servers": servers, **security.kafka_python()}
        verify_password(settings, username)
        log.info("gateway.authenticated", principal=username)
        return Session(username, "verified", settings)

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), OrderedDict()
        for session in sessions:
            session.close()


#: Every refused sign-in is answered this long after the check began (or as soon as the brokers
#: answered, if that took longer): a wrong password, a principal the brokers do not know and a name
#: the directory does not know all take the same time, so the timing of a 401 tells nothing its
#: body does not — and guessing passwords through the gateway costs a second a guess.
REFUSAL_SECONDS = 1.0
#: How long the check keeps trying brokers that do not answer (connection refused, TLS or SASL
#: exchange cut off) before it answers 503.
VERIFY_TIMEOUT_SECONDS = 5.0


def refuse_after(started: float, error: GatewayError) -> GatewayError:
    """``error`` once ``REFUSAL_SECONDS`` have passed since ``started`` (``time.monotonic``)."""
    time.sleep(max(0.0, started + REFUSAL_SECONDS - time.monotonic()))
    return error


def verify_password(settings: dict[str, Any], principal: str) -> None:
    """One SASL/SCRAM handshake with the brokers as ``principal`` (kafka-python ``settings``): returns
    when they accept it, 401 when they refuse it, 503 when none answers within the timeout.

    Why not a kafka-python client: its bootstrap takes a refused handshake for a broker not ready and
    retries with backoff until its timeout, so every wrong password waited the whole timeout (5 s)
    for its 401. aiokafka's connection (the library of the bus's own services) does exactly one
    handshake and raises the broker's answer, ``SaslAuthenticationFailed``; only a connection that
    ends without an answer is tried again. The refusal is then held to ``REFUSAL_SECONDS`` (no
    timing oracle, see there). The SCRAM exchange checks the broker too (its server signature),
    over TLS verified with the configured CA."""
    started = time.monotonic()
    try:
        accepted = asyncio.run(_scram_handshake(settings, started + VERIFY_TIMEOUT_SECONDS))
    except TimeoutError:
        raise GatewayError(503, "BROKERS_UNAVAILABLE", "the Kafka brokers did not answer; try again") from None
    if not accepted:
        raise refuse_after(started, _unauthorized(f"the brokers refused the credentials of {principal}"))


async def _scram_handshake(settings: dict[str, Any], deadline: float) -> bool:
    """True: a broker accepted the credentials; False: a broker refused them; ``TimeoutError``: no
    broker gave an answer before ``deadline`` (each bootstrap server tried in turn)."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaError as AioKafkaError
    from aiokafka.errors import SaslAuthenticationFailed
    servers = [s.strip() for s in str(settings["bootstrap_servers"]).split(",") if s.strip()]
    attempt = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        host, _, port = servers[attempt % len(servers)].rpartition(":")
        port_number = int(port)   # a malformed address is a configuration error, not a refused password
        attempt += 1
        try:
            connection = await asyncio.wait_for(create_conn(
                host.strip("[]"), port_number, client_id="gateway-auth", request_timeout_ms=int(remaining * 1000),
                ssl_context=settings.get("ssl_context"), security_protocol=settings["security_protocol"],
                sasl_mechanism=settings["sasl_mechanism"], sasl_plain_username=settings["sasl_plain_username"],
                sasl_plain_password=settings["sasl_plain_password"]), timeout=remaining)
        except SaslAuthenticationFailed:
            return False
        except (AioKafkaError, OSError, TimeoutError):   # no answer from this one (down, starting, cut off;
            await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))   # a TLS certificate refused)
            continue
        except ValueError:   # the SCRAM exchange did not verify (the server's signature): not accepted
            return False
        connection.close()
        return True


# -- cursors ----------------------------------------------------------------------------------
def encode_cursor(topic: str, offsets: dict[int, int]) -> str:
    """An opaque token: the topic and, per partition, the offset of the next record to read."""
    raw = json.dumps({"t": topic, "o": {str(p): o for p, o in sorted(offsets.items())}}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str | None, topic: str, partitions: int, field_name: str = "cursor") -> dict[int, int]:
    """Offsets from a cursor of ``topic``; ``{}`` (the beginning) without one; 422 naming the field
    for a token that is not one, or is another topic's."""
    if not token:
        return {}
    def bad(why: str) -> GatewayError:
        return GatewayError(422, "BAD_CURSOR", f"{field_name}: {why} (use the cursor of a previous answer, "
                                               "or none to start at the beginning)", field=field_name)
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad("not a cursor of this gateway") from None
    if not isinstance(data, dict) or not isinstance(data.get("o"), dict) or not isinstance(data.get("t"), str):
        raise bad("not a cursor of this gateway")
    if data["t"] != topic:
        raise bad(f"a cursor of another topic ({data['t']}), not of {topic}")
    offsets: dict[int, int] = {}
    for p, o in data["o"].items():
        if not (isinstance(p, str) and p.isdigit() and int(p) < partitions and isinstance(o, int) and o >= 0):
            raise bad(f"partition {p!r} or offset {o!r} is out of range")
        offsets[int(p)] = o
    return offsets


# -- reading ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fetched:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    timestamp_ms: int


class TopicReader:
    """Reads one topic's partitions from a cursor as ``session`` (a consumer without a group: the
    position is the caller's cursor, not a committed offset)."""

    def __init__(self, session: Session, topic: str, partitions: int, offsets: dict[int, int],
                 max_records: int = 500) -> None:
        self.session = session
        self.topic = topic
        self.tps = [TopicPartition(topic, p) for p in range(partitions)]
        self.offsets = dict(offsets)
        self.consumer = session.consumer(max_poll_records=max_records, auto_offset_reset="earliest")
        try:
            self.consumer.assign(self.tps)
            begin = self.consumer.beginning_offsets(self.tps)   # the broker's ACL decides here, before any read
            for tp in self.tps:
                start = max(self.offsets.get(tp.partition, 0), begin[tp])
                self.consumer.seek(tp, start)
                self.offsets[tp.partition] = start
        except KafkaError as exc:
            self.close()
            raise_for_broker(exc, session.principal, f"READ on {topic}")

    def cursor(self) -> str:
        return encode_cursor(self.topic, self.offsets)

    def ends(self) -> dict[int, int]:
        return {tp.partition: end for tp, end in self.consumer.end_offsets(self.tps).items()}

    def poll(self, timeout: float) -> list[Fetched]:
        out: list[Fetched] = []
        try:
            batch = self.consumer.poll(timeout_ms=int(timeout * 1000))
        except KafkaError as exc:
            raise_for_broker(exc, self.session.principal, f"READ on {self.topic}")
        for records in batch.values():
            for r in records:
                out.append(Fetched(r.topic, r.partition, r.offset, r.key, r.value,
                                   {k: v.decode(errors="replace") for k, v in (r.headers or [])}, r.timestamp))
        return out

    def page(self, limit: int, wait: float) -> list[Fetched]:
        """Up to ``limit`` records from the cursor: what is there now, or — when nothing is — what
        arrives within ``wait`` seconds (long-poll). The cursor moves past exactly what is returned."""
        deadline = time.monotonic() + wait
        give_up = deadline + 10.0   # a broker that stops serving must not hold the request for ever
        ends = self.ends()
        taken: list[Fetched] = []
        while len(taken) < limit and time.monotonic() < give_up:
            caught_up = all(self.consumer.position(tp) >= ends[tp.partition] for tp in self.tps)
            if caught_up and (taken or time.monotonic() >= deadline):
                break
            for record in self.poll(0.2 if not caught_up else min(1.0, max(0.05, deadline - time.monotonic()))):
                taken.append(record)
            if caught_up:
                ends = self.ends()
        taken.sort(key=lambda f: (f.partition, f.offset))
        kept: list[Fetched] = []
        for record in taken:   # per partition in order: keep a prefix of each, so the cursor is exact
            if len(kept) < limit:
                kept.append(record)
        for record in kept:
            self.offsets[record.partition] = record.offset + 1
        return kept

    def close(self) -> None:
        try:
            self.consumer.close(autocommit=False)
        except KafkaError:
            pass


def stream(reader: TopicReader, heartbeat: float = 15.0) -> Iterator[Fetched | None]:
    """Records as they arrive, in order per partition; ``None`` when ``heartbeat`` seconds passed
    without one (the caller sends a keep-alive). Ends when the consumer of the caller goes away."""
    idle_since = time.monotonic()
    try:
        while True:
            records = sorted(reader.poll(1.0), key=lambda f: (f.partition, f.offset))
            for record in records:
                reader.offsets[record.partition] = record.offset + 1
                yield record
            if records:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= heartbeat:
                idle_since = time.monotonic()
                yield None
    finally:
        reader.close()


def find_receipt(session: Session, topic: str, partitions: int, key: str, since_ms: int | None,
                 wait: float) -> Fetched | None:
    """The receipt keyed ``key`` (``<ingress topic>:<partition>:<offset>``, docs/contract.md) on the
    caller's receipts topic: its partition is the key's (murmur2), read from a little before
    ``since_ms`` (when the submission was sent; the router writes its receipt after), else from
    the beginning of that partition; None if it is not there within ``wait`` seconds."""
    tp = TopicPartition(topic, partition_for_key(key.encode(), partitions))
    consumer = session.consumer(auto_offset_reset="earliest")
    try:
        consumer.assign([tp])
        start = None
        if since_ms is not None:
            found = consumer.offsets_for_times({tp: max(0, since_ms - 120_000)})
            start = found[tp].offset if found.get(tp) is not None else consumer.end_offsets([tp])[tp]
        if start is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, start)
        deadline = time.monotonic() + wait
        while True:
            end = consumer.end_offsets([tp])[tp]
            for records in consumer.poll(timeout_ms=300).values():
                for r in records:
                    if r.key is not None and r.key.decode(errors="replace") == key:
                        return Fetched(r.topic, r.partition, r.offset, r.key, r.value,
                                       {k: v.decode(errors="replace") for k, v in (r.headers or [])}, r.timestamp)
            if consumer.position(tp) >= end and time.monotonic() >= deadline:
                return None
    except KafkaError as exc:
        raise_for_broker(exc, session.principal, f"READ on {topic}")
    finally:
        try:
            consumer.close(autocommit=False)
        except KafkaError:
            pass
