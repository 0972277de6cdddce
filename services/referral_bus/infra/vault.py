"""The key vault (issue 11, item 4): the keys that open sealed personal data, kept apart from the
log, the archives and the read models — so that destroying one case's key (``referral-bus erase``)
leaves that case's personal data as ciphertext nobody can open, wherever copies of it went.

One SQLite file (``<data dir>/secrets/vault/vault.db``, directory 0700, file 0600, ``secure_delete``
on, so a deleted key's bytes are overwritten in the file, and ``VACUUM`` after an erase) holds:

- the vault's X25519 *ingress* key pairs: producers wrap each event's data key to the newest one's
  public half, published as a PEM file (``REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE``) the SDK re-reads
  when it changes. ``rotate_ingress`` adds a key; ``retire_ingress`` destroys a superseded one once
  every copy wrapped to it has expired from Kafka (ingress 7 days, dead letters 30 days), which is
  also what bounds how long an erased case's ingress copies and dead letters stay openable;
- one random 256-bit key per case, made when the router first needs it, under which the router
  re-wraps each event's data key for the case log and for each entitled inbox copy;
- a tombstone per erased case: when and by whom (the reason goes on the read-audit trail).

``KeyService`` is what an entitled recipient asks (through the HTTP gateway) to unwrap its copy's
data key: every unwrap is first recorded as an audited read (``CaseRead``, tool ``unwrap``) on
``rb.read-audit``, fail closed.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from referral_bus.domain.read_audit import PurposeRefused
from referral_bus.domain.sealing import (
    CASE_LOG,
    KEY_BYTES,
    SealingError,
    key_ref_for_public,
    public_bytes,
    unwrap_with_key,
)
from referral_bus.infra.runtime import Runtime
from referral_bus.infra.settings import Settings

log = structlog.get_logger(__name__)
VAULT_FILE = "vault.db"
#: The auditor's principal may have the case log's copy unwrapped (docs/security.md).
AUDITOR = "rb-auditor"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ingress_keys (key_ref TEXT PRIMARY KEY, private_key BLOB NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS case_keys (case_id TEXT PRIMARY KEY, key_ref TEXT NOT NULL, key BLOB NOT NULL,
                                      created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS erased_cases (case_id TEXT PRIMARY KEY, key_ref TEXT, erased_at TEXT NOT NULL,
                                         erased_by TEXT NOT NULL);
"""


class CaseErased(Exception):
    """The case's key was destroyed (``referral-bus erase``): its personal data is gone for good."""

    def __init__(self, case_id: str, erased_at: str) -> None:
        super().__init__(f"case {case_id} was erased at {erased_at}: its personal data can no longer be opened")
        self.case_id = case_id
        self.erased_at = erased_at


@dataclass(frozen=True)
class Erasure:
    case_id: str
    erased_at: str
    erased_by: str
    #: False: the case was already erased (or never had a key) before this call
    destroyed_now: bool


@dataclass(frozen=True)
class IngressKey:
    key_ref: str
    created_at: datetime
    #: when a newer ingress key was made (None: this is the current one)
    superseded_at: datetime | None


class Vault:
    """The vault file, shared by separate processes (the router, the gateway, ``erase``): one
    connection per instance in autocommit mode, so every statement sees what another process
    committed — an erase is seen by the next lookup. Thread-safe (one lock)."""

    def __init__(self, directory: Path, public_key_file: Path) -> None:
        self.directory = directory
        self.path = directory / VAULT_FILE
        self.public_key_file = public_key_file
        self._lock = threading.RLock()
        #: inside ``batch()``: new case keys join its one transaction instead of committing each
        self._batch_open = False
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def open(cls, settings: Settings) -> Vault:
        """The vault of these settings, made on first use (with its ingress key and public key file)."""
        vault = cls(settings.vault_dir, settings.vault_public_key_file)
        vault.ensure()
        return vault

    # -- the file -----------------------------------------------------------------------------
    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA secure_delete=ON")   # deleted rows are overwritten with zeros
                self._conn = conn
            yield self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def ensure(self) -> None:
        """Make the directory (0700), the file (0600), the tables and the ingress key; write the
        public key file. Idempotent."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        os.chmod(self.path, 0o600)
        with self._db() as conn:
            conn.executescript(_SCHEMA)
            if conn.execute("SELECT 1 FROM ingress_keys LIMIT 1").fetchone() is None:
                self._new_ingress_key(conn)
        self._publish_current()

    # -- ingress keys -----------------------------------------------------------------------------
    @staticmethod
    def _new_ingress_key(conn: sqlite3.Connection, now: datetime | None = None) -> str:
        private = X25519PrivateKey.generate()
        raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
        ref = key_ref_for_public(public_bytes(private.public_key()))
        conn.execute("INSERT INTO ingress_keys VALUES (?, ?, ?)", (ref, raw, (now or datetime.now(UTC)).isoformat()))
        return ref

    def _publish_current(self) -> None:
        """Write the newest ingress key's public half to the public key file (atomically), if it differs."""
        with self._db() as conn:
            row = conn.execute("SELECT private_key FROM ingress_keys ORDER BY created_at DESC LIMIT 1").fetchone()
        pem = X25519PrivateKey.from_private_bytes(row[0]).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        if not self.public_key_file.is_file() or self.public_key_file.read_bytes() != pem:
            self.public_key_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.public_key_file.with_suffix(".tmp")
            tmp.write_bytes(pem)
            tmp.replace(self.public_key_file)

    def ingress_keys(self) -> dict[str, X25519PrivateKey]:
        """key ref → private key of every ingress key not yet retired (the newest and those it superseded)."""
        with self._db() as conn:
            rows = conn.execute("SELECT key_ref, private_key FROM ingress_keys").fetchall()
        return {ref: X25519PrivateKey.from_private_bytes(raw) for ref, raw in rows}

    def ingress_key_ages(self) -> list[IngressKey]:
        """Every ingress key still held, oldest first, with when a newer key superseded it."""
        with self._db() as conn:
            rows = conn.execute("SELECT key_ref, created_at FROM ingress_keys ORDER BY created_at").fetchall()
        made = [(ref, datetime.fromisoformat(at)) for ref, at in rows]
        return [IngressKey(ref, at, made[i + 1][1] if i + 1 < len(made) else None) for i, (ref, at) in enumerate(made)]

    def rotate_ingress(self, now: datetime | None = None) -> str:
        """Make a new ingress key and publish its public half; the superseded keys still open what
        was wrapped to them until ``retire_ingress``. Returns the new key's ref."""
        with self._db() as conn:
            ref = self._new_ingress_key(conn, now)
        self._publish_current()
        log.info("vault.ingress_key_rotated", key_ref=ref)
        return ref

    def retire_ingress(self, keep_for: timedelta, now: datetime | None = None) -> list[str]:
        """Destroy every ingress key superseded more than ``keep_for`` ago — by then every copy
        wrapped to it (ingress, dead letters) has expired from Kafka, so nothing is lost and
        nothing of an erased case opens any more. The newest key is never retired. Returns the refs."""
        now = now or datetime.now(UTC)
        due = [k.key_ref for k in self.ingress_key_ages()
               if k.superseded_at is not None and k.superseded_at + keep_for <= now]
        if due:
            with self._db() as conn:
                conn.executemany("DELETE FROM ingress_keys WHERE key_ref = ?", [(ref,) for ref in due])
                conn.execute("VACUUM")
            log.info("vault.ingress_keys_retired", key_refs=due)
        return due

    # -- case keys ------------------------------------------------------------------------------
    def erased(self, case_id: str) -> str | None:
        """When ``case_id`` was erased, or None."""
        with self._db() as conn:
            row = conn.execute("SELECT erased_at FROM erased_cases WHERE case_id = ?", (case_id,)).fetchone()
        return row[0] if row else None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for the case keys made while it is open (the router's batch): a key made
        is committed — on disk, one sync for the whole batch instead of one per new case — when the
        block ends, before the router writes any copy sealed under it; nothing is committed if the
        block raises. Another process's erase or key waits for it (the file's write lock)."""
        with self._db() as conn:
            if self._batch_open:      # nested: the outer batch commits
                yield
                return
            conn.execute("BEGIN IMMEDIATE")
            self._batch_open = True
            try:
                yield
            except BaseException:
                self._batch_open = False
                conn.execute("ROLLBACK")
                raise
            self._batch_open = False
            conn.execute("COMMIT")

    def case_key(self, case_id: str, *, create: bool = False) -> tuple[str, bytes] | None:
        """(key ref, key) of ``case_id``; made when ``create`` and there is none. ``CaseErased`` once
        the case was erased — a key is never made again for an erased case."""
        with self._db() as conn:
            row = self._case_row(conn, case_id)
            if row is None and create and self._batch_open:   # committed with the batch
                row = (f"case:{os.urandom(8).hex()}", os.urandom(KEY_BYTES))
                conn.execute("INSERT INTO case_keys VALUES (?, ?, ?, ?)", (case_id, row[0], row[1], _now()))
            elif row is None and create:
                conn.execute("BEGIN IMMEDIATE")   # made once, even with two routers racing
                try:
                    row = self._case_row(conn, case_id)
                    if row is None:
                        row = (f"case:{os.urandom(8).hex()}", os.urandom(KEY_BYTES))
                        conn.execute("INSERT INTO case_keys VALUES (?, ?, ?, ?)", (case_id, row[0], row[1], _now()))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        return (row[0], bytes(row[1])) if row else None

    @staticmethod
    def _case_row(conn: sqlite3.Connection, case_id: str) -> tuple[str, bytes] | None:
        gone = conn.execute("SELECT erased_at FROM erased_cases WHERE case_id = ?", (case_id,)).fetchone()
        if gone is not None:
            raise CaseErased(case_id, gone[0])
        row = conn.execute("SELECT key_ref, key FROM case_keys WHERE case_id = ?", (case_id,)).fetchone()
        return (row[0], bytes(row[1])) if row else None

    def erase(self, case_id: str, *, by: str) -> Erasure:
        """Destroy ``case_id``'s key (crypto-shredding) and leave a tombstone; idempotent. The row is
        deleted with ``secure_delete`` and the file vacuumed, so the key's bytes are in no page."""
        with self._db() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                gone = conn.execute("SELECT erased_at, erased_by FROM erased_cases WHERE case_id = ?",
                                    (case_id,)).fetchone()
                if gone is not None:
                    conn.execute("ROLLBACK")
                    return Erasure(case_id, gone[0], gone[1], destroyed_now=False)
                row = conn.execute("SELECT key_ref FROM case_keys WHERE case_id = ?", (case_id,)).fetchone()
                when = _now()
                conn.execute("DELETE FROM case_keys WHERE case_id = ?", (case_id,))
                conn.execute("INSERT INTO erased_cases VALUES (?, ?, ?, ?)",
                             (case_id, row[0] if row else None, when, by))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("VACUUM")
        log.info("vault.case_erased", case_id=case_id, had_key=row is not None)
        return Erasure(case_id, when, by, destroyed_now=row is not None)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def load_public_key(path: Path) -> bytes | None:
    """The raw X25519 ingress public key from its PEM file, or None when there is no file."""
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return None
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, X25519PublicKey):
        raise ValueError(f"{path}: not an X25519 public key (REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE)")
    return public_bytes(key)


# -- the key service ----------------------------------------------------------------------------------
class KeyServiceRefusal(Exception):
    """Why a data key was not unwrapped: a stable code (and the HTTP status the gateway answers)."""

    STATUS = {"NOT_ENTITLED": 403, "CASE_ERASED": 410, "UNKNOWN_CASE_KEY": 404, "BAD_WRAPPED_KEY": 422,
              "AUDIT_UNAVAILABLE": 503, "PURPOSE_REFUSED": 400}

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return self.STATUS[self.code]


#: Records one audited read: (case id, tool, purpose, query, reader) → raises when it cannot.
RecordRead = Callable[..., Any]


class KeyService:
    """Unwraps an entitled recipient's copy of a data key, after recording the read.

    Entitled: the agency the copy was wrapped for (``principal == recipient``), or the auditor for
    the case log's copy. ``authenticated``: whether the caller proved ``principal`` (TLS/SASL at the
    gateway); an unauthenticated claim is accepted only when ``allow_unauthenticated`` (the plaintext
    development bus, as for audited reads)."""

    def __init__(self, vault: Vault, record_read: RecordRead, *, allow_unauthenticated: bool = False) -> None:
        self.vault = vault
        self.record_read = record_read
        self.allow_unauthenticated = allow_unauthenticated

    @classmethod
    def from_runtime(cls, runtime: Runtime) -> KeyService:
        from referral_bus.infra.read_audit import record_read

        def record(**kwargs: Any) -> Any:
            return record_read(runtime, **kwargs)
        return cls(Vault.open(runtime.settings), record,
                   allow_unauthenticated=runtime.settings.kafka_security.mode == "plaintext")

    def unwrap(self, *, principal: str, authenticated: bool, case_id: str, event_id: str, recipient: str,
               wrapped_key: bytes, purpose: str) -> bytes:
        """The data key of ``recipient``'s copy of event ``event_id``; ``KeyServiceRefusal`` otherwise."""
        if not authenticated and not self.allow_unauthenticated:
            raise KeyServiceRefusal("NOT_ENTITLED", "the caller is not authenticated")
        if not (principal == recipient or (principal == AUDITOR and recipient == CASE_LOG)):
            log.warning("vault.unwrap_refused", case_id=case_id, principal=principal, recipient=recipient)
            raise KeyServiceRefusal("NOT_ENTITLED", f"{principal} may not unwrap a copy wrapped for {recipient}")
        try:
            found = self.vault.case_key(case_id)
        except CaseErased as exc:
            raise KeyServiceRefusal("CASE_ERASED", str(exc)) from None
        if found is None:
            raise KeyServiceRefusal("UNKNOWN_CASE_KEY", f"the vault holds no key for case {case_id}")
        key_ref, key = found
        try:
            self.record_read(case_id=case_id, tool="unwrap", purpose=purpose,
                             query=f"event {event_id} copy for {recipient}", reader=principal)
        except PurposeRefused as exc:
            raise KeyServiceRefusal("PURPOSE_REFUSED", str(exc)) from None
        except Exception as exc:   # fail closed: no record, no key
            log.error("vault.audit_unavailable", case_id=case_id, error=type(exc).__name__)
            raise KeyServiceRefusal("AUDIT_UNAVAILABLE", "the read could not be recorded on the read-audit "
                                    "trail; nothing was unwrapped") from None
        try:
            return unwrap_with_key(wrapped_key, key, case_id=case_id, event_id=event_id, recipient=recipient,
                                   key_ref=key_ref)
        except SealingError as exc:
            raise KeyServiceRefusal("BAD_WRAPPED_KEY", str(exc)) from None
